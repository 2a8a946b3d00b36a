// The node types, grouped by category with their help text. Drag one onto the canvas, or
// press Enter on it to add it in the middle of the view.
import { memo, useState } from "react";
import { Icon } from "../icons";
import type { NodeTypeInfo } from "../types";

export const DRAG_TYPE = "application/x-switchboard-node";

// Words people search by that a type's label and help may not contain.
const SYNONYMS: Record<string, string> = {
  prompt: "llm model ai gpt chat generate write ask summarise summarize classify extract agent completion",
  tool: "api http request function call fetch webhook integration action pantry calculator",
  router: "branch if else switch condition route decide split rule",
  evaluator: "judge check score grade test quality retry loop review guard validate",
  approval: "human person review approve manual sign off inbox wait people",
  input: "start trigger form begin fields parameters",
  output: "end result return finish answer",
  retrieve: "rag search knowledge base documents lookup find vector embedding context sources chunks",
  memory: "conversation history chat remember context past turns recall session",
  flow: "sub-flow subflow call another flow nested reuse module workflow",
  map: "loop for each foreach iterate batch list every item parallel",
  agent: "autonomous tools react goal plan reason loop assistant",
};

/** Whether a node type matches a palette search (label, help, category or a synonym). */
export function matchesType(t: NodeTypeInfo, query: string): boolean {
  const words = query.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const text = `${t.type} ${t.label} ${t.help ?? ""} ${t.category ?? ""} ${SYNONYMS[t.type] ?? ""}`.toLowerCase();
  return words.every((w) => text.includes(w));
}

// A type the server added after this bundle was built may come without a category or help.
function categoryOf(t: NodeTypeInfo): string {
  return t.category || "Other";
}

export function categoryClass(t: NodeTypeInfo): string {
  return `sb-cat-${categoryOf(t).toLowerCase().replace(/\W+/g, "-")}`;
}

export const Palette = memo(function Palette({ types, onAdd, open, onToggle }: {
  types: NodeTypeInfo[];
  onAdd: (type: string) => void;
  open: boolean;
  onToggle: () => void;
}) {
  const [query, setQuery] = useState("");
  if (!open) {
    return (
      <aside className="sb-palette is-collapsed" aria-label="Node palette">
        <button type="button" className="sb-icon-btn" aria-label="Show the node palette" title="Show the node palette" onClick={onToggle}>
          <Icon name="plus" />
        </button>
        {types.map((t) => (
          <button
            key={t.type}
            type="button"
            className={`sb-palette-mini ${categoryClass(t)}`}
            draggable
            data-node-type={t.type}
            aria-label={`Add a ${t.label} node`}
            title={`${t.label}: ${t.help}`}
            onDragStart={(e) => {
              e.dataTransfer.setData(DRAG_TYPE, t.type);
              e.dataTransfer.effectAllowed = "copy";
            }}
            onClick={() => onAdd(t.type)}
          >
            <span className="sb-node-icon">
              <Icon name={t.type} size={14} />
            </span>
          </button>
        ))}
      </aside>
    );
  }
  const q = query.trim().toLowerCase();
  const shown = types.filter((t) => !q || matchesType(t, q));
  const categories = [...new Set(shown.map(categoryOf))];
  return (
    <aside className="sb-palette" aria-label="Node palette">
      <div className="sb-panel-head">
        <h2>Add nodes</h2>
        <button type="button" className="sb-icon-btn" aria-label="Hide the node palette" title="Hide the node palette" onClick={onToggle}>
          <Icon name="back" size={14} />
        </button>
      </div>
      <div className="sb-palette-search">
        <Icon name="search" size={14} />
        <input type="search" placeholder="Search node types" aria-label="Search node types" value={query} onChange={(e) => setQuery(e.target.value)} />
      </div>
      <div className="sb-palette-list">
        {categories.map((category) => (
          <section key={category} className="sb-palette-group" aria-label={category}>
            <h3>{category}</h3>
            {shown
              .filter((t) => categoryOf(t) === category)
              .map((t) => (
                <button
                  key={t.type}
                  type="button"
                  className={`sb-palette-item ${categoryClass(t)}`}
                  draggable
                  data-node-type={t.type}
                  title={`Drag onto the canvas, or press Enter to add a ${t.label} node`}
                  onDragStart={(e) => {
                    e.dataTransfer.setData(DRAG_TYPE, t.type);
                    e.dataTransfer.setData("text/plain", t.type);
                    e.dataTransfer.effectAllowed = "copy";
                  }}
                  onClick={() => onAdd(t.type)}
                >
                  <span className="sb-node-icon">
                    <Icon name={t.type} size={14} />
                  </span>
                  <span className="sb-palette-text">
                    <span className="sb-palette-label">{t.label}</span>
                    <span className="sb-palette-help">{t.help}</span>
                  </span>
                </button>
              ))}
          </section>
        ))}
        {!shown.length && <p className="sb-muted sb-small sb-pad">No node type matches “{query}”.</p>}
      </div>
      <div className="sb-palette-foot sb-small sb-muted">
        Drag a node onto the canvas. Connect an output port (right) to an input port (left).
      </div>
    </aside>
  );
});
