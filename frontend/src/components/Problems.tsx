// Every problem the validator found, each linked to the node or edge it is about: the errors
// (they block publishing), then the warnings (what will fail when the flow runs).
import { isWarning } from "../context";
import { Icon } from "../icons";
import type { GraphProblem } from "../types";

export function Problems({ problems, labelOf, onPick }: {
  problems: GraphProblem[];
  labelOf: (nodeId: string) => string;
  onPick: (problem: GraphProblem) => void;
}) {
  const errors = problems.filter((p) => !isWarning(p));
  if (!problems.length) {
    return (
      <div className="sb-panel-empty">
        <span className="sb-ok-mark">
          <Icon name="check" size={18} />
        </span>
        <p>
          <strong>No problems.</strong>
          <br />
          The flow is ready to publish.
        </p>
      </div>
    );
  }
  return (
    <>
      {!errors.length && (
        <p className="sb-problems-note" data-warnings-only>
          <strong>No errors: the flow can be published.</strong> These warnings say what will fail when it runs.
        </p>
      )}
      <ul className="sb-problems" aria-label="Problems">
        {problems.map((p, i) => (
          <li key={i}>
            <button
              type="button"
              className={`sb-problem${isWarning(p) ? " is-warning" : ""}`}
              data-problem-code={p.code}
              data-severity={isWarning(p) ? "warning" : "error"}
              onClick={() => onPick(p)}
              disabled={!p.node_id && !p.edge_id}
            >
              <span className="sb-problem-icon">
                <Icon name="alert" size={14} />
              </span>
              <span className="sb-problem-text">
                <span className="sb-problem-where">
                  {p.node_id ? labelOf(p.node_id) : p.edge_id ? "Connection" : "Flow"}
                  {isWarning(p) && <span className="sb-problem-level">Warning</span>}
                  <span className="sb-problem-code">{p.code}</span>
                </span>
                <span className="sb-problem-message">{p.message}</span>
              </span>
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}
