// A visual JSON-schema builder for the Input node's fields and a prompt's structured output:
// fields with a name, a kind (text, numbers, yes/no, choice, list, nested object), required,
// a label or description, and choices. Raw JSON stays one click away ("Edit as JSON"), and a
// schema this builder cannot express opens there.
import { useState } from "react";
import { Icon } from "../icons";
import type { Json, JsonObject } from "../types";

type Kind = "string" | "number" | "integer" | "boolean" | "choice" | "list" | "object";

const KINDS: { id: Kind; label: string }[] = [
  { id: "string", label: "Text" },
  { id: "number", label: "Number" },
  { id: "integer", label: "Whole number" },
  { id: "boolean", label: "Yes / no" },
  { id: "choice", label: "Choice" },
  { id: "list", label: "List" },
  { id: "object", label: "Group of fields" },
];
const KEEP = ["title", "description"];
const MAX_DEPTH = 4;

function isObj(v: unknown): v is JsonObject {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

function kindOf(prop: JsonObject): Kind | null {
  if (prop.type === "string") return Array.isArray(prop.enum) ? "choice" : "string";
  if (prop.type === "array") return isObj(prop.items) || prop.items === undefined ? "list" : null;
  if (prop.type === "object") return "object";
  return ["number", "integer", "boolean"].includes(String(prop.type)) ? (prop.type as Kind) : null;
}

function schemaFor(kind: Kind, keep: JsonObject): JsonObject {
  const base: Record<Kind, JsonObject> = {
    string: { type: "string" },
    number: { type: "number" },
    integer: { type: "integer" },
    boolean: { type: "boolean" },
    choice: { type: "string", enum: [] },
    list: { type: "array", items: { type: "string" } },
    object: { type: "object", properties: {}, required: [] },
  };
  const out: JsonObject = structuredClone(base[kind]);
  for (const key of KEEP) if (keep[key] !== undefined) out[key] = keep[key];
  return out;
}

/** Whether the builder can show this schema (else it opens as JSON). */
export function buildable(schema: Json | undefined, depth = 0): boolean {
  if (!isObj(schema) || depth > MAX_DEPTH) return false;
  if (schema.type !== undefined && schema.type !== "object") return false;
  const props = schema.properties;
  if (props === undefined) return true;
  if (!isObj(props)) return false;
  return Object.values(props).every((p) => {
    if (!isObj(p)) return false;
    const kind = kindOf(p);
    if (kind === "object") return buildable(p, depth + 1);
    if (kind === "list") {
      const items = isObj(p.items) ? p.items : { type: "string" };
      const itemKind = kindOf(items);
      return itemKind !== null && itemKind !== "list" && (itemKind !== "object" || buildable(items, depth + 1));
    }
    return kind !== null;
  });
}

function Choices({ label, value, readOnly, onChange }: { label: string; value: Json[]; readOnly: boolean; onChange: (v: string[]) => void }) {
  return (
    <input
      className="sb-input"
      aria-label={label}
      placeholder="Choices, separated by commas"
      defaultValue={value.map(String).join(", ")}
      readOnly={readOnly}
      onBlur={(e) => onChange(e.target.value.split(",").map((s) => s.trim()).filter(Boolean))}
    />
  );
}

function Fields({ value, onChange, readOnly, mode, prefix, depth }: {
  value: JsonObject;
  onChange: (v: JsonObject) => void;
  readOnly: boolean;
  mode: "input" | "output";
  prefix: string;
  depth: number;
}) {
  const props = (isObj(value.properties) ? value.properties : {}) as Record<string, JsonObject>;
  const required = new Set(Array.isArray(value.required) ? (value.required as string[]) : []);
  const entries = Object.entries(props);
  const commit = (next: [string, JsonObject][], req: Set<string>) => {
    const names = new Set(next.map(([n]) => n));
    onChange({ ...value, type: "object", properties: Object.fromEntries(next), required: [...req].filter((n) => names.has(n)) });
  };
  const update = (index: number, name: string, prop: JsonObject, isRequired: boolean) => {
    const next = entries.map((e, i): [string, JsonObject] => (i === index ? [name, prop] : e));
    const req = new Set(required);
    req.delete(entries[index][0]);
    if (isRequired) req.add(name);
    commit(next, req);
  };
  return (
    <div className={`sb-input-fields${depth ? " is-nested" : ""}`}>
      {entries.map(([name, prop], index) => {
        const kind = kindOf(prop) ?? "string";
        const at = `${prefix}Field ${index + 1}`;
        const items = isObj(prop.items) ? prop.items : { type: "string" };
        const itemKind = kindOf(items) ?? "string";
        const isRequired = required.has(name);
        return (
          <div key={index} className="sb-input-field" data-input-field={name} data-schema-field={`${prefix}${name}`}>
            <div className="sb-input-field-row">
              <input
                className="sb-input sb-code"
                aria-label={`${at} name`}
                value={name}
                readOnly={readOnly}
                onChange={(e) => update(index, e.target.value.replace(/[^A-Za-z0-9_]/g, "_"), prop, isRequired)}
              />
              <select
                className="sb-input"
                aria-label={`${at} kind`}
                value={kind}
                disabled={readOnly}
                onChange={(e) => update(index, name, schemaFor(e.target.value as Kind, prop), isRequired)}
              >
                {KINDS.filter((k) => depth < MAX_DEPTH || k.id !== "object").map((k) => (
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
                aria-label={`${at} ${mode === "input" ? "label" : "description"}`}
                placeholder={mode === "input" ? "Label shown in the run form" : "What it holds (the model reads this)"}
                value={String((mode === "input" ? prop.title : prop.description) ?? "")}
                readOnly={readOnly}
                onChange={(e) => update(index, name, { ...prop, [mode === "input" ? "title" : "description"]: e.target.value }, isRequired)}
              />
              <label className="sb-check">
                <input type="checkbox" aria-label={`${at} required`} checked={isRequired} disabled={readOnly} onChange={(e) => update(index, name, prop, e.target.checked)} />
                Required
              </label>
            </div>
            {kind === "choice" && (
              <Choices label={`${at} choices`} value={(prop.enum as Json[]) ?? []} readOnly={readOnly} onChange={(enumValues) => update(index, name, { ...prop, enum: enumValues }, isRequired)} />
            )}
            {kind === "list" && (
              <div className="sb-input-field-row sb-list-of">
                <span className="sb-muted sb-small">List of</span>
                <select
                  className="sb-input"
                  aria-label={`${at} list of`}
                  value={itemKind}
                  disabled={readOnly}
                  onChange={(e) => update(index, name, { ...prop, items: schemaFor(e.target.value as Kind, {}) }, isRequired)}
                >
                  {KINDS.filter((k) => k.id !== "list" && (depth < MAX_DEPTH || k.id !== "object")).map((k) => (
                    <option key={k.id} value={k.id}>
                      {k.label}
                    </option>
                  ))}
                </select>
              </div>
            )}
            {kind === "list" && itemKind === "choice" && (
              <Choices label={`${at} item choices`} value={(items.enum as Json[]) ?? []} readOnly={readOnly} onChange={(enumValues) => update(index, name, { ...prop, items: { ...items, enum: enumValues } }, isRequired)} />
            )}
            {kind === "list" && itemKind === "object" && (
              <Fields value={items} onChange={(v) => update(index, name, { ...prop, items: v }, isRequired)} readOnly={readOnly} mode={mode} prefix={`${name} item `} depth={depth + 1} />
            )}
            {kind === "object" && <Fields value={prop} onChange={(v) => update(index, name, v, isRequired)} readOnly={readOnly} mode={mode} prefix={`${name} `} depth={depth + 1} />}
          </div>
        );
      })}
      {!readOnly && (
        <button
          type="button"
          className="sb-btn sb-btn-sm sb-btn-dashed"
          aria-label={`Add field${prefix ? ` to ${prefix.trim()}` : ""}`}
          onClick={() => {
            let n = entries.length + 1;
            while (props[`field_${n}`]) n += 1;
            const fresh: JsonObject = mode === "input" ? { type: "string", title: `Field ${n}` } : { type: "string" };
            commit([...entries, [`field_${n}`, fresh]], required);
          }}
        >
          <Icon name="plus" size={12} /> Add field
        </button>
      )}
    </div>
  );
}

export function SchemaBuilder({ value, onChange, readOnly, mode, json }: {
  value: JsonObject | null;
  onChange: (value: Json) => void;
  readOnly: boolean;
  mode: "input" | "output";
  /** The raw JSON editor, for the advanced toggle and for schemas the builder cannot show. */
  json: () => JSX.Element;
}) {
  const [asJson, setAsJson] = useState(value !== null && !buildable(value));
  if (asJson || (value !== null && !buildable(value))) {
    return (
      <div className="sb-schema-builder is-json">
        {json()}
        {buildable(value ?? {}) ? (
          <button type="button" className="sb-link-btn" onClick={() => setAsJson(false)}>
            Edit as a field list
          </button>
        ) : (
          <p className="sb-muted sb-small">This schema uses features the field list cannot show, so it is edited as JSON.</p>
        )}
      </div>
    );
  }
  if (value === null) {
    return (
      <div className="sb-schema-builder is-empty">
        <p className="sb-muted sb-small">No fields described: the model may return any JSON object.</p>
        {!readOnly && (
          <button type="button" className="sb-btn sb-btn-sm sb-btn-dashed" onClick={() => onChange({ type: "object", properties: { field_1: { type: "string" } }, required: ["field_1"] })}>
            <Icon name="plus" size={12} /> Describe the fields
          </button>
        )}
      </div>
    );
  }
  return (
    <div className="sb-schema-builder" data-schema-builder={mode}>
      <Fields value={value} onChange={onChange} readOnly={readOnly} mode={mode} prefix="" depth={0} />
      {!readOnly && (
        <button type="button" className="sb-link-btn" onClick={() => setAsJson(true)}>
          Edit as JSON schema
        </button>
      )}
    </div>
  );
}
