// The selected node's settings: its label and a form generated from its type's config schema.
import { Icon } from "../icons";
import { outputPorts, type Catalogue, type FlowEdge, type FlowNode } from "../graph";
import type { GraphProblem, JsonObject } from "../types";
import { SchemaForm } from "./SchemaForm";

export function Inspector({ node, edge, selectedCount, selectedNodeCount, catalogue, problems, readOnly, onLabel, onConfig, onDelete, onDuplicate, labelOf }: {
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
          <div key={i} className="sb-field-problem" role="alert">
            {p.message}
          </div>
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
          Later nodes read its result as <code>{`{{ nodes.${node.id}.output }}`}</code>
        </p>
      )}
      {general.length > 0 && (
        <div className="sb-callout sb-callout-danger" role="alert">
          {general.map((p, i) => (
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
      {info?.dynamic_outputs && (
        <p className="sb-field-hint">
          Output ports: {outputPorts(info, node.data.config).map((p) => p.name).join(", ")}. Each route needs a connection.
        </p>
      )}
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
}
