// The known shape of each node's output, for the variable and field pickers: a prompt's JSON
// schema, a tool's result schema, an Input node's fields. Unknown shapes give no fields (the
// whole output can still be read).
import type { ToolInfo } from "./catalogs";
import type { FlowNode } from "./graph";
import type { JsonObject, JsonSchema } from "./types";

export interface OutputField {
  /** Dotted path below the output, e.g. "ingredients" or "items.name" (no list indices). */
  path: string;
  type: string;
}

const MAX_DEPTH = 3;

function asSchema(value: unknown): JsonSchema | null {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as JsonSchema) : null;
}

export function typeName(schema: JsonSchema): string {
  const t = Array.isArray(schema.type) ? schema.type.find((x) => x !== "null") : schema.type;
  if (t === "array") return `list of ${schema.items ? typeName(schema.items) : "values"}`;
  if (schema.enum) return "choice";
  return ({ string: "text", integer: "whole number", number: "number", boolean: "yes/no", object: "object" } as Record<string, string>)[t ?? ""] ?? "value";
}

export function outputSchema(node: FlowNode, tools: ToolInfo[] | null): JsonSchema | null {
  const config = node.data.config as JsonObject;
  switch (node.data.kind) {
    case "prompt":
      if (config.output_format !== "json") return { type: "string" };
      return asSchema(config.json_schema);
    case "input":
      return asSchema(config.schema);
    case "tool":
      return tools?.find((t) => t.name === config.tool)?.result_schema ?? null;
    default:
      return null;
  }
}

/** Fields of an object schema, depth-first, including nested objects' fields. */
export function schemaFields(schema: JsonSchema | null, prefix = "", depth = 0): OutputField[] {
  if (!schema || depth >= MAX_DEPTH || !schema.properties) return [];
  const out: OutputField[] = [];
  for (const [name, prop] of Object.entries(schema.properties)) {
    const path = prefix ? `${prefix}.${name}` : name;
    out.push({ path, type: typeName(prop) });
    if (prop.type === "object") out.push(...schemaFields(prop, path, depth + 1));
  }
  return out;
}
