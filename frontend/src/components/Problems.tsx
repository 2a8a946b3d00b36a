// Every problem the validator found, each linked to the node or edge it is about.
import { Icon } from "../icons";
import type { GraphProblem } from "../types";

export function Problems({ problems, labelOf, onPick }: {
  problems: GraphProblem[];
  labelOf: (nodeId: string) => string;
  onPick: (problem: GraphProblem) => void;
}) {
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
    <ul className="sb-problems" aria-label="Problems">
      {problems.map((p, i) => (
        <li key={i}>
          <button type="button" className="sb-problem" data-problem-code={p.code} onClick={() => onPick(p)} disabled={!p.node_id && !p.edge_id}>
            <span className="sb-problem-icon">
              <Icon name="alert" size={14} />
            </span>
            <span className="sb-problem-text">
              <span className="sb-problem-where">
                {p.node_id ? labelOf(p.node_id) : p.edge_id ? "Connection" : "Flow"}
                <span className="sb-problem-code">{p.code}</span>
              </span>
              <span className="sb-problem-message">{p.message}</span>
            </span>
          </button>
        </li>
      ))}
    </ul>
  );
}
