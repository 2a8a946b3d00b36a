// The Input node's fields, edited as a list (name, label, kind, required) instead of raw JSON
// schema. Schemas this editor cannot express (nested objects, lists of objects) stay in JSON.
import { useState } from "react";
import { Icon } from "../icons";
import type { Json, JsonObject } from "../types";

const KINDS: { id: string; label: string; schema: JsonObject }[] = [
  { id: "string", label: "Text", schema: { type: "string" } },
  { id: "number", label: "Number", schema: { type: "number" } },
  { id: "integer", label: "Whole number", schema: { type: "integer" } },
  { id: "boolean", label: "Yes / no", schema: { type: "boolean" } },
  { id: "choice", label: "Choice", schema: { type: "string", enum: [] } },
  { id: "list", label: "List of text", schema: { type: "array", items: { type: "string" } } },
];

function kindOf(prop: JsonObject): string | null {
  if (prop.type === "string") return Array.isArray(prop.enum) ? "choice" : "string";
  if (prop.type === "array") {
    const items = prop.items as JsonObject | undefined;
    return items?.type === "string" && !items.enum ? "list" : null;
  }
  return ["number", "integer", "boolean"].includes(String(prop.type)) ? String(prop.type) : null;
}

export function editable(schema: Json | undefined): boolean {
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) return false;
  const props = (schema as JsonObject).properties;
  if (props === undefined) return true;
  if (!props || typeof props !== "object" || Array.isArray(props)) return false;
  return Object.values(props).every((p) => p && typeof p === "object" && !Array.isArray(p) && kindOf(p as JsonObject));
}

export function InputSchemaField({ value, onChange, readOnly, fallback }: {
  value: JsonObject;
  onChange: (value: Json) => void;
  readOnly: boolean;
  fallback: (toggle: () => void) => JSX.Element;
}) {
  const [asJson, setAsJson] = useState(!editable(value));
  if (asJson || !editable(value)) {
    return (
      <div>
        {fallback(() => setAsJson(false))}
        {editable(value) && (
          <button type="button" className="sb-link-btn" onClick={() => setAsJson(false)}>
            Edit as a field list
          </button>
        )}
      </div>
    );
  }
  const props = ((value.properties as JsonObject) ?? {}) as Record<string, JsonObject>;
  const required = new Set(Array.isArray(value.required) ? (value.required as string[]) : []);
  const entries = Object.entries(props);
  const commit = (next: [string, JsonObject][], req: Set<string>) => {
    const names = new Set(next.map(([n]) => n));
    onChange({
      ...value,
      type: "object",
      properties: Object.fromEntries(next),
      required: [...req].filter((n) => names.has(n)),
    });
  };
  const update = (index: number, name: string, prop: JsonObject, isRequired: boolean) => {
    const next = entries.map((e, i): [string, JsonObject] => (i === index ? [name, prop] : e));
    const req = new Set(required);
    req.delete(entries[index][0]);
    if (isRequired) req.add(name);
    commit(next, req);
  };
  return (
    <div className="sb-input-fields">
      {entries.map(([name, prop], index) => {
        const kind = kindOf(prop) ?? "string";
        return (
          <div key={index} className="sb-input-field" data-input-field={name}>
            <div className="sb-input-field-row">
              <input
                className="sb-input sb-code"
                aria-label={`Field ${index + 1} name`}
                value={name}
                readOnly={readOnly}
                pattern="[A-Za-z_][A-Za-z0-9_]*"
                onChange={(e) => update(index, e.target.value.replace(/[^A-Za-z0-9_]/g, "_"), prop, required.has(name))}
              />
              <select
                className="sb-input"
                aria-label={`Field ${index + 1} kind`}
                value={kind}
                disabled={readOnly}
                onChange={(e) => {
                  const base = KINDS.find((k) => k.id === e.target.value)?.schema ?? {};
                  const keep: JsonObject = {};
                  for (const key of ["title", "description"]) if (prop[key] !== undefined) keep[key] = prop[key];
                  update(index, name, { ...structuredClone(base), ...keep }, required.has(name));
                }}
              >
                {KINDS.map((k) => (
                  <option key={k.id} value={k.id}>
                    {k.label}
                  </option>
                ))}
              </select>
              {!readOnly && (
                <button type="button" className="sb-icon-btn" aria-label={`Remove field ${name}`} onClick={() => commit(entries.filter((_, i) => i !== index), required)}>
                  <Icon name="trash" size={14} />
                </button>
              )}
            </div>
            <div className="sb-input-field-row">
              <input
                className="sb-input"
                aria-label={`Field ${index + 1} label`}
                placeholder="Label shown in the run form"
                value={typeof prop.title === "string" ? prop.title : ""}
                readOnly={readOnly}
                onChange={(e) => update(index, name, { ...prop, title: e.target.value }, required.has(name))}
              />
              <label className="sb-check">
                <input type="checkbox" checked={required.has(name)} disabled={readOnly} onChange={(e) => update(index, name, prop, e.target.checked)} />
                Required
              </label>
            </div>
            {kind === "choice" && (
              <input
                className="sb-input"
                aria-label={`Field ${index + 1} choices`}
                placeholder="Choices, separated by commas"
                defaultValue={((prop.enum as string[]) ?? []).join(", ")}
                readOnly={readOnly}
                onBlur={(e) =>
                  update(index, name, { ...prop, enum: e.target.value.split(",").map((s) => s.trim()).filter(Boolean) }, required.has(name))
                }
              />
            )}
          </div>
        );
      })}
      {!readOnly && (
        <div className="sb-input-fields-actions">
          <button
            type="button"
            className="sb-btn sb-btn-sm sb-btn-dashed"
            onClick={() => {
              let n = entries.length + 1;
              while (props[`field_${n}`]) n += 1;
              commit([...entries, [`field_${n}`, { type: "string", title: `Field ${n}` }]], required);
            }}
          >
            <Icon name="plus" size={12} /> Add field
          </button>
          <button type="button" className="sb-link-btn" onClick={() => setAsJson(true)}>
            Edit as JSON schema
          </button>
        </div>
      )}
    </div>
  );
}
