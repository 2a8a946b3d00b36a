// The list of what a template may read at a node: the run's inputs, each upstream node by its
// label with its known output fields, and the loop variables. Picking one inserts the reference.
import { useState } from "react";
import type { Variable } from "../templates";

export function VariablePicker({ variables, label, readOnly, onPick, onClose }: {
  variables: Variable[];
  label: string;
  readOnly: boolean;
  onPick: (path: string) => void;
  onClose: () => void;
}) {
  const [query, setQuery] = useState("");
  const q = query.trim().toLowerCase();
  const shown = variables.filter((v) => !q || `${v.label} ${v.path} ${v.nodeLabel ?? ""}`.toLowerCase().includes(q));
  const inputs = shown.filter((v) => v.group === "Inputs");
  const loop = shown.filter((v) => v.group === "Loop");
  const nodes = new Map<string, Variable[]>();
  for (const v of shown) if (v.group === "Upstream nodes" && v.nodeId) nodes.set(v.nodeId, [...(nodes.get(v.nodeId) ?? []), v]);
  const item = (v: Variable, text: string) => (
    <button key={v.path} type="button" className="sb-var" disabled={readOnly} onClick={() => onPick(v.path)} title={`Insert {{ ${v.path} }}`} data-var-path={v.path}>
      <span className="sb-var-name">{text}</span>
      {v.type && <span className="sb-var-type">{v.type}</span>}
    </button>
  );
  return (
    <div
      className="sb-vars"
      role="group"
      aria-label={`Variables available in ${label}`}
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          onClose();
        }
      }}
    >
      {variables.length > 6 && (
        <input className="sb-input sb-vars-search" type="search" placeholder="Find a field" aria-label={`Find a variable for ${label}`} value={query} onChange={(e) => setQuery(e.target.value)} />
      )}
      {inputs.length > 0 && (
        <div className="sb-vars-group">
          <div className="sb-vars-title">{inputs[0].nodeLabel ?? "Inputs"} · run inputs</div>
          {inputs.map((v) => (
            <button key={v.path} type="button" className="sb-var" disabled={readOnly} onClick={() => onPick(v.path)} title={`Insert {{ ${v.path} }}`} data-var-path={v.path}>
              <code>{v.path}</code>
              <span>{v.label}</span>
              {v.type && <span className="sb-var-type">{v.type}</span>}
            </button>
          ))}
        </div>
      )}
      {[...nodes.values()].map((items) => (
        <div key={items[0].nodeId} className="sb-vars-group" data-var-node={items[0].nodeId}>
          <div className="sb-vars-title">{items[0].nodeLabel}</div>
          {items.map((v) => item(v, v.field ? v.field : "the whole output"))}
        </div>
      ))}
      {loop.length > 0 && (
        <div className="sb-vars-group">
          <div className="sb-vars-title">Loop</div>
          {loop.map((v) => (
            <button key={v.path} type="button" className="sb-var" disabled={readOnly} onClick={() => onPick(v.path)} title={`Insert {{ ${v.path} }}`} data-var-path={v.path}>
              <code>{v.path}</code>
              <span>{v.label}</span>
            </button>
          ))}
        </div>
      )}
      {!variables.some((v) => v.group === "Upstream nodes") && <p className="sb-muted sb-small">Connect nodes upstream of this one to use their output.</p>}
      {q && !shown.length && <p className="sb-muted sb-small">Nothing matches “{query}”.</p>}
    </div>
  );
}
