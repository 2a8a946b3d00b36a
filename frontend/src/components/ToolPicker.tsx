// Pick a registered tool (with its description), fill its arguments from the tool's own
// argument schema (every field can use templates), and pick the tools a model may call.
import { useContext } from "react";
import type { ToolInfo } from "../catalogs";
import { InspectorContext } from "../context";
import { typeName } from "../shapes";
import type { Json, JsonObject, JsonSchema } from "../types";
import { TemplateField } from "./TemplateField";

export function ToolPicker({ id, value, onChange, readOnly }: { id: string; value: string; onChange: (value: string) => void; readOnly: boolean }) {
  const { tools } = useContext(InspectorContext).catalogs;
  if (!tools) {
    return <input id={id} className="sb-input sb-code" value={value} readOnly={readOnly} placeholder="The tool's name" onChange={(e) => onChange(e.target.value)} />;
  }
  const current = tools.find((t) => t.name === value);
  return (
    <div className="sb-tool-picker">
      <select id={id} className="sb-input" value={value} disabled={readOnly} onChange={(e) => onChange(e.target.value)}>
        <option value="">Choose a tool…</option>
        {value && !current && <option value={value}>{value} (not available)</option>}
        {tools.map((t) => (
          <option key={t.name} value={t.name}>
            {t.name.replace(/_/g, " ")}
          </option>
        ))}
      </select>
      {current && <p className="sb-field-hint" data-tool-description>{current.description}</p>}
    </div>
  );
}

/** A literal a person typed into a number or yes/no argument, kept as text when it is a template. */
function literal(text: string, schema: JsonSchema): Json {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if ((type === "number" || type === "integer") && text.trim() !== "" && !Number.isNaN(Number(text))) return Number(text);
  if (type === "boolean" && (text === "true" || text === "false")) return text === "true";
  return text;
}

export function ArgumentsForm({ tool, value, onChange, readOnly, nodeId, json, asText = false }: {
  tool: ToolInfo | undefined;
  /** Keep every value as text (a sub-flow's inputs are templates, rendered when the step runs). */
  asText?: boolean;
  value: JsonObject;
  onChange: (value: JsonObject) => void;
  readOnly: boolean;
  nodeId: string;
  json: () => JSX.Element;
}) {
  const props = tool?.arguments_schema?.properties;
  if (!tool && !Object.keys(value).length) return <p className="sb-muted sb-small">Choose a tool to fill in its arguments.</p>;
  if (!tool || !props) return json();
  const required = new Set(tool.arguments_schema.required ?? []);
  const extra = Object.keys(value).filter((k) => !(k in props));
  return (
    <div className="sb-arguments" data-arguments-for={tool.name}>
      {Object.entries(props).map(([name, schema]) => {
        const current = value[name];
        const text = current === undefined || current === null ? "" : typeof current === "string" ? current : JSON.stringify(current);
        const fieldId = `sb-arg-${nodeId}-${name}`;
        return (
          <div key={name} className="sb-field is-wide" data-argument={name}>
            <label className="sb-field-label" htmlFor={fieldId}>
              {schema.title ?? name.replace(/_/g, " ")}
              {required.has(name) && <span className="sb-required" aria-hidden="true">*</span>}
              <span className="sb-var-type">{typeName(schema)}</span>
            </label>
            <TemplateField
              id={fieldId}
              value={text}
              multiline={false}
              placeholder={schema.enum ? `One of: ${schema.enum.join(", ")}` : "A value, or insert a variable"}
              onChange={(t) => {
                const next = { ...value };
                if (t === "") delete next[name];
                else next[name] = asText ? t : literal(t, schema);
                onChange(next);
              }}
              readOnly={readOnly}
              nodeId={nodeId}
              label={schema.title ?? name}
            />
            {schema.description && <div className="sb-field-hint">{schema.description}</div>}
          </div>
        );
      })}
      {extra.length > 0 && <p className="sb-field-problem">Not arguments of {tool.name}: {extra.join(", ")}. Edit as JSON to remove them.</p>}
    </div>
  );
}

export function ToolsChecklist({ value, onChange, readOnly, fallback }: { value: string[]; onChange: (v: string[]) => void; readOnly: boolean; fallback: () => JSX.Element }) {
  const { tools } = useContext(InspectorContext).catalogs;
  if (!tools) return fallback();
  return (
    <div className="sb-checklist">
      {tools.map((t) => (
        <label key={t.name} className="sb-check" title={t.description}>
          <input
            type="checkbox"
            checked={value.includes(t.name)}
            disabled={readOnly}
            onChange={(e) => onChange(e.target.checked ? [...value, t.name] : value.filter((x) => x !== t.name))}
          />
          {t.name.replace(/_/g, " ")}
        </label>
      ))}
    </div>
  );
}
