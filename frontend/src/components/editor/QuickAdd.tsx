// Add a node where the canvas was double-clicked: a small searchable list of node types.
import { useEffect, useRef, useState } from "react";
import { Icon } from "../../icons";
import type { NodeTypeInfo } from "../../types";
import { categoryClass, matchesType } from "../Palette";

export function QuickAdd({ types, at, onAdd, onClose }: {
  types: NodeTypeInfo[];
  /** Where to show it, relative to the canvas box. */
  at: { left: number; top: number };
  onAdd: (type: string) => void;
  onClose: () => void;
}) {
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const shown = types.filter((t) => !query.trim() || matchesType(t, query));
  useEffect(() => input.current?.focus(), []);
  return (
    <div className="sb-quick-add" style={{ left: at.left, top: at.top }} role="dialog" aria-label="Add a node here">
      <div className="sb-palette-search">
        <Icon name="search" size={14} />
        <input
          ref={input}
          type="search"
          placeholder="Add a node…"
          aria-label="Search node types to add"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setActive(0);
          }}
          onBlur={(e) => {
            if (!e.currentTarget.closest(".sb-quick-add")?.contains(e.relatedTarget as Node)) onClose();
          }}
          onKeyDown={(e) => {
            if (e.key === "Escape") onClose();
            else if (e.key === "ArrowDown") setActive((i) => Math.min(i + 1, shown.length - 1));
            else if (e.key === "ArrowUp") setActive((i) => Math.max(i - 1, 0));
            else if (e.key === "Enter" && shown[active]) onAdd(shown[active].type);
            else return;
            e.preventDefault();
            e.stopPropagation();
          }}
        />
      </div>
      <div className="sb-quick-add-list" role="listbox" aria-label="Node types">
        {shown.map((t, i) => (
          <button
            key={t.type}
            type="button"
            role="option"
            aria-selected={i === active}
            className={`sb-quick-add-item ${categoryClass(t)}${i === active ? " is-active" : ""}`}
            data-node-type={t.type}
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => onAdd(t.type)}
          >
            <span className="sb-node-icon">
              <Icon name={t.type} size={12} />
            </span>
            {t.label}
            <span className="sb-muted sb-small">{t.category}</span>
          </button>
        ))}
        {!shown.length && <p className="sb-muted sb-small sb-pad">No node type matches “{query}”.</p>}
      </div>
    </div>
  );
}
