// One form generator for every node type, driven by the type's config JSON schema. Field kinds
// come from the schema (enum, number, boolean, list, object, template strings); the only
// per-field knowledge is WIDGETS, which picks richer pickers for a few named fields.
import { useId } from "react";
import { defaultValue, resolveRef } from "../graph";
import { Icon } from "../icons";
import type { GraphProblem, Json, JsonObject, JsonSchema } from "../types";
import { AnyValue, Field, JsonEditor, pretty, ProblemNote, TagList, type Change } from "./form/inputs";
import { FORMAT_WIDGETS, WIDGETS, WidgetField } from "./form/widgets";
import { buildable } from "./SchemaBuilder";
import { TemplateField } from "./TemplateField";

export interface FormContext {
  kind: string;
  root: JsonSchema;
  readOnly: boolean;
  problems: GraphProblem[];
  nodeId: string;
}

function typeOf(schema: JsonSchema): string | undefined {
  if (schema.anyOf) {
    const real = schema.anyOf.find((s) => s.type !== "null");
    return real ? typeOf(real) : undefined;
  }
  return Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
}

function nonNull(schema: JsonSchema): JsonSchema {
  if (!schema.anyOf) return schema;
  const real = schema.anyOf.find((s) => s.type !== "null") ?? {};
  return { ...real, title: schema.title, description: schema.description, default: schema.default };
}

function fieldProblems(ctx: FormContext, path: string): GraphProblem[] {
  return ctx.problems.filter((p) => {
    if (!p.field) return false;
    const normal = p.field.replace(/\[(\d+)\]/g, ".$1");
    return normal === path || (p.code === "graph.E012" && path === "routes");
  });
}

function singular(title: string): string {
  const word = title.replace(/\s*\(.*\)$/, "");
  return word.endsWith("s") ? word.slice(0, -1).toLowerCase() : word.toLowerCase();
}

function ObjectList({ schema, value, onChange, ctx, path }: {
  schema: JsonSchema;
  value: Json[];
  onChange: Change;
  ctx: FormContext;
  path: string;
}) {
  const item = resolveRef(schema.items ?? {}, ctx.root);
  const noun = singular(schema.title ?? "item");
  const canAdd = !ctx.readOnly && (schema.maxItems === undefined || value.length < schema.maxItems);
  const move = (from: number, to: number) => {
    const next = [...value];
    const [moved] = next.splice(from, 1);
    next.splice(to, 0, moved);
    onChange(next);
  };
  return (
    <div className="sb-object-list">
      {value.map((entry, index) => (
        <fieldset key={index} className="sb-object-item">
          <legend>
            {noun} {index + 1}
            {typeof (entry as JsonObject)?.name === "string" && (entry as JsonObject).name ? ` · ${(entry as JsonObject).name}` : ""}
          </legend>
          {!ctx.readOnly && (
            <div className="sb-object-item-actions">
              <button type="button" className="sb-icon-btn" aria-label={`Move ${noun} ${index + 1} up`} disabled={index === 0} onClick={() => move(index, index - 1)}>
                <Icon name="up" size={12} />
              </button>
              <button type="button" className="sb-icon-btn" aria-label={`Move ${noun} ${index + 1} down`} disabled={index === value.length - 1} onClick={() => move(index, index + 1)}>
                <Icon name="down" size={12} />
              </button>
              <button
                type="button"
                className="sb-icon-btn"
                aria-label={`Remove ${noun} ${index + 1}`}
                disabled={schema.minItems !== undefined && value.length <= schema.minItems}
                onClick={() => onChange(value.filter((_, i) => i !== index))}
              >
                <Icon name="trash" size={12} />
              </button>
            </div>
          )}
          <ObjectFields
            schema={item}
            value={(entry ?? {}) as JsonObject}
            onChange={(v) => onChange(value.map((e, i) => (i === index ? (v as Json) : e)))}
            ctx={ctx}
            path={`${path}.${index}`}
          />
        </fieldset>
      ))}
      {canAdd && (
        <button
          type="button"
          className="sb-btn sb-btn-sm sb-btn-dashed"
          onClick={() => {
            const fresh = (defaultValue(item, ctx.root) ?? {}) as JsonObject;
            if (item.properties?.name && !fresh.name) fresh.name = `${noun.split(" ")[0]}_${value.length + 1}`.replace(/\W/g, "_");
            onChange([...value, fresh]);
          }}
        >
          <Icon name="plus" size={12} /> Add {noun}
        </button>
      )}
    </div>
  );
}

function SchemaField({ name, schema, value, onChange, ctx, path, required, siblings }: {
  name: string;
  siblings: JsonObject;
  schema: JsonSchema;
  value: Json | undefined;
  onChange: Change;
  ctx: FormContext;
  path: string;
  required: boolean;
}) {
  const id = useId();
  const resolved = nonNull(resolveRef(schema, ctx.root));
  const nullable = !!schema.anyOf?.some((s) => s.type === "null");
  const type = typeOf(resolveRef(schema, ctx.root));
  const label = resolved.title ?? name;
  const problems = fieldProblems(ctx, path);
  const common = { label, hint: resolved.description, required, htmlFor: id, problems };
  const widget =
    WIDGETS[`${ctx.kind}.${path.replace(/\.\d+(?=\.|$)/g, "[]")}`] ?? FORMAT_WIDGETS[String(resolved.format ?? "")];
  const json = () => <JsonEditor id={id} value={value} onChange={onChange} readOnly={ctx.readOnly} nullable={nullable} />;

  const picked = widget && widget !== "sample" ? <WidgetField widget={widget} id={id} value={value} onChange={onChange} ctx={ctx} siblings={siblings} common={common} description={resolved.description} json={json} /> : null;
  if (picked) return picked;
  if (widget === "sample") {
    const inputSchema = siblings.schema as JsonSchema | undefined;
    if (inputSchema && buildable(inputSchema as Json) && Object.keys(inputSchema.properties ?? {}).length) {
      return (
        <fieldset className="sb-object-item">
          <legend>{label}</legend>
          {resolved.description && <div className="sb-field-hint sb-legend-hint">{resolved.description}</div>}
          <ObjectFields
            schema={{ ...inputSchema, required: [] }}
            value={(value as JsonObject) ?? {}}
            onChange={onChange}
            ctx={{ ...ctx, kind: "sample", root: inputSchema, problems: [] }}
            path={path}
          />
        </fieldset>
      );
    }
  }
  if (resolved.enum) {
    const options = resolved.enum.map(String);
    const current = value === undefined ? String(resolved.default ?? "") : String(value);
    if (options.length <= 3) {
      return (
        <Field {...common} htmlFor={undefined}>
          <div className="sb-segmented" role="radiogroup" aria-label={label}>
            {options.map((o) => (
              <button key={o} type="button" role="radio" aria-checked={current === o} disabled={ctx.readOnly} onClick={() => onChange(o)}>
                {pretty(o)}
              </button>
            ))}
          </div>
        </Field>
      );
    }
    return (
      <Field {...common}>
        <select id={id} className="sb-input" value={current} disabled={ctx.readOnly} onChange={(e) => onChange(e.target.value)}>
          {options.map((o) => (
            <option key={o} value={o}>
              {pretty(o)}
            </option>
          ))}
        </select>
      </Field>
    );
  }
  if (type === "string" && resolved.format === "template") {
    return (
      <Field {...common} wide>
        <TemplateField id={id} value={(value as string) ?? ""} onChange={onChange} readOnly={ctx.readOnly} nodeId={ctx.nodeId} label={label} />
      </Field>
    );
  }
  if (type === "string") {
    const long = (resolved.maxLength ?? 0) > 1000;
    const props = {
      id,
      className: "sb-input",
      value: (value as string) ?? "",
      readOnly: ctx.readOnly,
      maxLength: resolved.maxLength,
      onChange: (e: { target: { value: string } }) => onChange(e.target.value),
    };
    return <Field {...common}>{long ? <textarea rows={3} {...props} /> : <input {...props} />}</Field>;
  }
  if (type === "number" || type === "integer") {
    return (
      <Field {...common}>
        <input
          id={id}
          type="number"
          className="sb-input"
          value={value === undefined || value === null ? "" : String(value)}
          placeholder={resolved.default !== undefined && resolved.default !== null ? String(resolved.default) : nullable ? "none" : ""}
          min={resolved.minimum ?? resolved.exclusiveMinimum}
          max={resolved.maximum}
          step={type === "integer" ? 1 : "any"}
          readOnly={ctx.readOnly}
          onChange={(e) => {
            if (e.target.value === "") return onChange(nullable ? null : undefined);
            const n = Number(e.target.value);
            onChange(Number.isNaN(n) ? e.target.value : n);
          }}
        />
      </Field>
    );
  }
  if (type === "boolean") {
    const checked = value === undefined ? !!resolved.default : !!value;
    return (
      <div className="sb-field sb-field-switch">
        <label className="sb-switch">
          <input type="checkbox" checked={checked} disabled={ctx.readOnly} onChange={(e) => onChange(e.target.checked)} />
          <span className="sb-switch-track" aria-hidden="true" />
          <span>{label}</span>
        </label>
        {problems.map((p, i) => (
          <ProblemNote key={i} problem={p} />
        ))}
      </div>
    );
  }
  if (type === "array") {
    const items = resolveRef(resolved.items ?? {}, ctx.root);
    if (items.type === "object") {
      return (
        <Field {...common} htmlFor={undefined} wide>
          <ObjectList schema={resolved} value={(value as Json[]) ?? []} onChange={onChange} ctx={ctx} path={path} />
        </Field>
      );
    }
    return (
      <Field {...common}>
        <TagList id={id} value={((value as Json[]) ?? []).map(String)} onChange={onChange} readOnly={ctx.readOnly} />
      </Field>
    );
  }
  if (type === "object" && resolved.properties) {
    return (
      <fieldset className="sb-object-item">
        <legend>{label}</legend>
        <ObjectFields schema={resolved} value={(value as JsonObject) ?? {}} onChange={onChange} ctx={ctx} path={path} />
      </fieldset>
    );
  }
  if (type === "object") {
    return (
      <Field {...common} hint={`${resolved.description ?? ""} JSON.`.trim()} wide>
        <JsonEditor id={id} value={value} onChange={onChange} readOnly={ctx.readOnly} nullable={nullable} />
      </Field>
    );
  }
  return (
    <Field {...common}>
      <AnyValue id={id} value={value} onChange={onChange} readOnly={ctx.readOnly} />
    </Field>
  );
}

function ObjectFields({ schema, value, onChange, ctx, path }: {
  schema: JsonSchema;
  value: JsonObject;
  onChange: Change;
  ctx: FormContext;
  path: string;
}) {
  const props = Object.entries(schema.properties ?? {});
  return (
    <div className="sb-fields">
      {props.map(([key, prop]) => (
        <SchemaField
          key={key}
          name={key}
          schema={prop}
          value={value[key]}
          required={!!schema.required?.includes(key)}
          ctx={ctx}
          siblings={value}
          path={path ? `${path}.${key}` : key}
          onChange={(v) => {
            const next = { ...value };
            if (v === undefined) delete next[key];
            else next[key] = v;
            onChange(next);
          }}
        />
      ))}
    </div>
  );
}

export function SchemaForm({ schema, value, onChange, ctx }: {
  schema: JsonSchema;
  value: JsonObject;
  onChange: (value: JsonObject) => void;
  ctx: FormContext;
}) {
  return <ObjectFields schema={schema} value={value} onChange={(v) => onChange(v as JsonObject)} ctx={ctx} path="" />;
}
