// Pick a data path a router rule tests (an input, an upstream node's output or one of its
// fields), by node label; "Other path…" keeps free typing for anything the shapes do not know.
import { useContext, useState } from "react";
import { InspectorContext } from "../context";
import type { Variable } from "../templates";

const OTHER = "__other__";

export function FieldPicker({ id, value, onChange, readOnly, nodeId }: { id: string; value: string; onChange: (v: string) => void; readOnly: boolean; nodeId: string }) {
  const scope = useContext(InspectorContext);
  const options = scope.variables(nodeId).filter((v) => v.group !== "Loop");
  const known = options.some((v) => v.path === value);
  const [typing, setTyping] = useState(!!value && !known);
  if (typing || !options.length) {
    return (
      <div className="sb-field-picker">
        <input id={id} className="sb-input sb-code" value={value} readOnly={readOnly} placeholder="e.g. inputs.topic" onChange={(e) => onChange(e.target.value)} />
        {options.length > 0 && !readOnly && (
          <button type="button" className="sb-link-btn" onClick={() => setTyping(false)}>
            Choose a field
          </button>
        )}
      </div>
    );
  }
  return (
    <select
      id={id}
      className="sb-input"
      value={value}
      disabled={readOnly}
      onChange={(e) => (e.target.value === OTHER ? setTyping(true) : onChange(e.target.value))}
    >
      <option value="">Choose a field…</option>
      <FieldOptions options={options} />
      <option value={OTHER}>Other path…</option>
    </select>
  );
}

/** The data paths a node can read, as <optgroup>s by node label. */
export function FieldOptions({ options }: { options: Variable[] }) {
  const groups = new Map<string, Variable[]>();
  for (const v of options) groups.set(v.nodeLabel ?? v.group, [...(groups.get(v.nodeLabel ?? v.group) ?? []), v]);
  return (
    <>
      {[...groups.entries()].map(([group, items]) => (
        <optgroup key={group} label={group}>
          {items.map((v) => (
            <option key={v.path} value={v.path}>
              {fieldText(v)}
            </option>
          ))}
        </optgroup>
      ))}
    </>
  );
}

export function fieldText(v: Variable): string {
  const name = v.group === "Inputs" ? v.label : v.field ? v.field : "the whole output";
  return v.type ? `${name} (${v.type})` : name;
}
