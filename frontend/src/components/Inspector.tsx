// The selected node's settings: its label and a form generated from its type's config schema.
// Memoised: it re-renders when the selection or its content changes, not when nodes move.
import { memo } from "react";
import { Icon } from "../icons";
import { outputPorts, type Catalogue, type FlowEdge, type FlowNode } from "../graph";
import type { GraphProblem, JsonObject } from "../types";
import { isWarning } from "../context";
import { ProblemNote } from "./form/inputs";
import { SchemaForm } from "./SchemaForm";

/** Connections from each output port, editable without dragging (keyboard users, precise edits). */
function Connections({ node, nodes, edges, catalogue, readOnly, labelOf, onConnect, onDisconnect }: {
  node: FlowNode;
  nodes: FlowNode[];
  edges: FlowEdge[];
  catalogue: Catalogue;
  readOnly: boolean;
  labelOf: (id: string) => string;
  onConnect: (source: string, port: string, target: string, targetPort: string) => void;
  onDisconnect: (edgeId: string) => void;
}) {
  const ports = outputPorts(catalogue[node.data.kind], node.data.config);
  if (!ports.length) return null;
  const targets = nodes
    .filter((n) => n.id !== node.id)
    .flatMap((n) => (catalogue[n.data.kind]?.inputs ?? []).map((p) => ({ node: n, port: p })));
  return (
    <section className="sb-connections" aria-label="Connections">
      <h3 className="sb-section-title">Connections</h3>
      {ports.map((port) => {
        const out = edges.filter((e) => e.source === node.id && e.sourceHandle === port.name);
        const free = targets.filter((t) => !out.some((e) => e.target === t.node.id && e.targetHandle === t.port.name));
        return (
          <div key={port.name} className="sb-connection-row">
            <span className={`sb-connection-port port-${port.name}`}>{port.label}</span>
            <div className="sb-connection-targets">
              {out.map((e) => (
                <span key={e.id} className="sb-tag">
                  → {labelOf(e.target)}
                  {!readOnly && (
                    <button type="button" aria-label={`Disconnect ${port.label} from ${labelOf(e.target)}`} onClick={() => onDisconnect(e.id)}>
                      <Icon name="close" size={10} />
                    </button>
                  )}
                </span>
              ))}
              {!readOnly && free.length > 0 && (
                <select
                  className="sb-input sb-connection-add"
                  aria-label={`Connect ${port.label} to`}
                  value=""
                  onChange={(e) => {
                    const pick = free[Number(e.target.value)];
                    if (pick) onConnect(node.id, port.name, pick.node.id, pick.port.name);
                  }}
                >
                  <option value="">{out.length ? "Add…" : "Connect to…"}</option>
                  {free.map((t, i) => (
                    <option key={`${t.node.id}:${t.port.name}`} value={i}>
                      {labelOf(t.node.id)}
                      {(catalogue[t.node.data.kind]?.inputs.length ?? 0) > 1 ? ` · ${t.port.label}` : ""}
                    </option>
                  ))}
                </select>
              )}
              {readOnly && !out.length && <span className="sb-muted sb-small">Not connected</span>}
            </div>
          </div>
        );
      })}
    </section>
  );
}

export const Inspector = memo(function Inspector({ node, edge, nodes, edges, selectedCount, selectedNodeCount, catalogue, problems, readOnly, onLabel, onConfig, onDelete, onDuplicate, onConnect, onDisconnect, labelOf }: {
  nodes: FlowNode[];
  edges: FlowEdge[];
  onConnect: (source: string, port: string, target: string, targetPort: string) => void;
  onDisconnect: (edgeId: string) => void;
  node: FlowNode | null;
  edge: FlowEdge | null;
  selectedCount: number;
  selectedNodeCount: number;
  catalogue: Catalogue;
  problems: GraphProblem[];
  readOnly: boolean;
  onLabel: (id: string, label: string) => void;
  onConfig: (id: string, config: JsonObject) => void;
  onDelete: () => void;
  onDuplicate: () => void;
  labelOf: (id: string) => string;
}) {
  if (selectedCount > 1) {
    return (
      <div className="sb-panel-empty">
        <p>
          <strong>
            {selectedNodeCount} node{selectedNodeCount === 1 ? "" : "s"} selected
          </strong>
          {selectedCount > selectedNodeCount && (
            <>
              <br />
              and {selectedCount - selectedNodeCount} connection{selectedCount - selectedNodeCount === 1 ? "" : "s"}
            </>
          )}
        </p>
        {!readOnly && (
          <div className="sb-inline-actions">
            <button type="button" className="sb-btn sb-btn-sm" onClick={onDuplicate}>
              <Icon name="copy" size={14} /> Duplicate
            </button>
            <button type="button" className="sb-btn sb-btn-sm sb-btn-danger-text" onClick={onDelete}>
              <Icon name="trash" size={14} /> Delete
            </button>
          </div>
        )}
      </div>
    );
  }
  if (edge) {
    const own = problems.filter((p) => p.edge_id === edge.id);
    return (
      <div className="sb-inspector">
        <div className="sb-inspector-head">
          <div className="sb-inspector-title">Connection</div>
        </div>
        <p className="sb-edge-route">
          <strong>{labelOf(edge.source)}</strong> <code>{edge.sourceHandle}</code> → <strong>{labelOf(edge.target)}</strong> <code>{edge.targetHandle}</code>
        </p>
        {own.map((p, i) => (
          <ProblemNote key={i} problem={p} />
        ))}
        {!readOnly && (
          <button type="button" className="sb-btn sb-btn-sm sb-btn-danger-text" onClick={onDelete}>
            <Icon name="trash" size={14} /> Delete connection
          </button>
        )}
      </div>
    );
  }
  if (!node) {
    return (
      <div className="sb-panel-empty">
        <p>
          <strong>Nothing selected</strong>
          <br />
          Select a node to configure it.
        </p>
        <ul className="sb-tips">
          <li>
            <kbd>Drag</kbd> on the canvas to select several nodes
          </li>
          <li>
            <kbd>Space</kbd> + drag, or scroll, to pan; <kbd>Ctrl</kbd> + scroll to zoom
          </li>
          <li>
            <kbd>Ctrl</kbd> <kbd>C</kbd> / <kbd>V</kbd> copy and paste, <kbd>Ctrl</kbd> <kbd>Z</kbd> undo
          </li>
        </ul>
      </div>
    );
  }
  const info = catalogue[node.data.kind];
  const own = problems.filter((p) => p.node_id === node.id && !p.edge_id);
  const general = own.filter((p) => !p.field || !p.field.replace(/[[\].]/g, "") || ["graph.E010", "graph.E013", "graph.E019", "graph.E002"].includes(p.code));
  const fieldProblems = own.filter((p) => !general.includes(p));
  const category = (info?.category ?? "unknown").toLowerCase().replace(/\W+/g, "-");
  return (
    <div className="sb-inspector" data-inspector-node={node.id}>
      <div className={`sb-inspector-head sb-cat-${category}`}>
        <span className="sb-node-icon">
          <Icon name={node.data.kind} size={16} />
        </span>
        <div>
          <div className="sb-inspector-title">{info?.label ?? node.data.kind}</div>
          <div className="sb-muted sb-small">
            <code className="sb-mono">{node.id}</code>
          </div>
        </div>
      </div>
      {info?.help && <p className="sb-inspector-help">{info.help}</p>}
      {info && info.outputs.length + (info.dynamic_outputs ? 1 : 0) > 0 && (
        <p className="sb-inspector-ref">
          Later nodes read its result as <code>{`{{ nodes.${node.data.key || node.id}.output }}`}</code>
        </p>
      )}
      {general.some((p) => !isWarning(p)) && (
        <div className="sb-callout sb-callout-danger" role="alert">
          {general.filter((p) => !isWarning(p)).map((p, i) => (
            <div key={i}>{p.message}</div>
          ))}
        </div>
      )}
      {general.some(isWarning) && (
        <div className="sb-callout sb-callout-warning" role="status">
          {general.filter(isWarning).map((p, i) => (
            <div key={i}>{p.message}</div>
          ))}
        </div>
      )}
      <div className="sb-fields">
        <div className="sb-field">
          <label className="sb-field-label" htmlFor="sb-node-label">
            Label
          </label>
          <input
            id="sb-node-label"
            className="sb-input"
            value={node.data.label}
            placeholder={info?.label}
            maxLength={200}
            readOnly={readOnly}
            onChange={(e) => onLabel(node.id, e.target.value)}
          />
        </div>
      </div>
      {info ? (
        <SchemaForm
          key={node.id}
          schema={info.config_schema}
          value={node.data.config}
          onChange={(config) => onConfig(node.id, config)}
          ctx={{ kind: node.data.kind, root: info.config_schema, readOnly, problems: fieldProblems, nodeId: node.id }}
        />
      ) : (
        <p className="sb-muted">This node type is not known to the server; its settings cannot be edited.</p>
      )}
      <Connections
        node={node}
        nodes={nodes}
        edges={edges}
        catalogue={catalogue}
        readOnly={readOnly}
        labelOf={labelOf}
        onConnect={onConnect}
        onDisconnect={onDisconnect}
      />
      {!readOnly && (
        <div className="sb-inspector-foot">
          <button type="button" className="sb-btn sb-btn-sm" onClick={onDuplicate}>
            <Icon name="copy" size={14} /> Duplicate
          </button>
          <button type="button" className="sb-btn sb-btn-sm sb-btn-danger-text" onClick={onDelete}>
            <Icon name="trash" size={14} /> Delete node
          </button>
        </div>
      )}
    </div>
  );
});
