// What a prompt template may read at a node, and which of its references are unknown.
// The server's validation is the authority; this gives the same answer while you type.
import type { ToolInfo } from "./catalogs";
import { upstreamNodes, type FlowEdge, type FlowNode } from "./graph";
import { outputSchema, schemaFields, typeName } from "./shapes";

export interface Variable {
  path: string;
  label: string;
  group: "Inputs" | "Upstream nodes" | "Loop";
  /** For node outputs: the node's id and label, and the field below its output ("" = all of it). */
  nodeId?: string;
  nodeLabel?: string;
  field?: string;
  type?: string;
}

export interface TemplateIssue {
  text: string;
  message: string;
}

const KEYWORDS = new Set(
  "if else elif endif for endfor in not and or is true false none True False None loop set endset with endwith defined undefined raw endraw range length".split(
    " ",
  ),
);

export function inputFields(nodes: FlowNode[]): string[] {
  const input = nodes.find((n) => n.data.kind === "input");
  const schema = input?.data.config.schema;
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) return [];
  const props = (schema as Record<string, unknown>).properties;
  return props && typeof props === "object" ? Object.keys(props) : [];
}

function inputSchemaFields(nodes: FlowNode[]): { name: string; title: string; type: string }[] {
  const input = nodes.find((n) => n.data.kind === "input");
  const props = (input?.data.config.schema as { properties?: Record<string, { title?: string }> } | undefined)?.properties;
  if (!props || typeof props !== "object") return [];
  return Object.entries(props).map(([name, prop]) => ({ name, title: (prop && typeof prop.title === "string" && prop.title) || name, type: typeName(prop ?? {}) }));
}

/** Inside a map's region, the inputs each item's run adds: the item and the map's other inputs. */
function regionInputs(nodeId: string, nodes: FlowNode[]): { name: string; title: string; type: string; from?: string }[] {
  const parentId = nodes.find((n) => n.id === nodeId)?.parentId;
  const map = parentId ? nodes.find((n) => n.id === parentId) : undefined;
  if (!map) return [];
  const config = map.data.config;
  const item = (typeof config.item_input === "string" && config.item_input) || "item";
  const others = config.inputs && typeof config.inputs === "object" && !Array.isArray(config.inputs) ? Object.keys(config.inputs) : [];
  const label = map.data.label || map.id;
  return [{ name: item, title: `each item of ${label}`, type: "", from: label }, ...others.map((name) => ({ name, title: `${name} (from ${label})`, type: "", from: label }))];
}

/** The name a template uses for a node: its key when it has one, else its id. */
export function refName(node: FlowNode): string {
  return node.data.key || node.id;
}

/** Nodes by every name a template may use for them (ids and keys). */
function byName(nodes: FlowNode[]): Map<string, FlowNode> {
  const map = new Map<string, FlowNode>();
  for (const n of nodes) map.set(n.id, n);
  for (const n of nodes) if (n.data.key && !map.has(n.data.key)) map.set(n.data.key, n);
  return map;
}

export function availableVariables(nodeId: string, nodes: FlowNode[], edges: FlowEdge[], tools: ToolInfo[] | null = null): Variable[] {
  const inputLabel = nodes.find((n) => n.data.kind === "input")?.data.label || "Input";
  const fields: { name: string; title: string; type: string; from?: string }[] = [...regionInputs(nodeId, nodes), ...inputSchemaFields(nodes)];
  const vars: Variable[] = fields.map((f) => ({
    path: `inputs.${f.name}`,
    label: f.title,
    group: "Inputs",
    nodeLabel: f.from ?? inputLabel,
    field: f.name,
    type: f.type,
  }));
  for (const node of upstreamNodes(nodeId, nodes, edges)) {
    if (node.data.kind === "input") continue;
    const nodeLabel = node.data.label || node.id;
    const schema = outputSchema(node, tools);
    const base = { group: "Upstream nodes" as const, nodeId: node.id, nodeLabel };
    const name = refName(node);
    vars.push({ ...base, path: `nodes.${name}.output`, label: nodeLabel, field: "", type: schema ? typeName(schema) : undefined });
    for (const f of schemaFields(schema)) {
      vars.push({ ...base, path: `nodes.${name}.output.${f.path}`, label: `${nodeLabel} › ${f.path}`, field: f.path, type: f.type });
    }
  }
  vars.push({ path: "feedback", label: "evaluator feedback on a retry", group: "Loop" });
  vars.push({ path: "iteration", label: "attempt number", group: "Loop" });
  return vars;
}

/** Expressions inside {{ }} and {% %} blocks, with string literals blanked out. */
function expressions(text: string): string[] {
  const out: string[] = [];
  const re = /\{\{([\s\S]*?)\}\}|\{%([\s\S]*?)%\}/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push((m[1] ?? m[2] ?? "").replace(/(["'])(?:\\.|(?!\1).)*\1/g, '""'));
  return out;
}

/** The references to inputs and node outputs in a template, with the labels to show them by. */
export function templateReferences(text: string, nodes: FlowNode[]): { path: string; nodeLabel: string; field: string }[] {
  const out: { path: string; nodeLabel: string; field: string }[] = [];
  const seen = new Set<string>();
  const byId = byName(nodes);
  const inputLabel = nodes.find((n) => n.data.kind === "input")?.data.label || "Input";
  for (const expr of expressions(text)) {
    for (const m of expr.matchAll(/\b(inputs|nodes)((?:\s*\.\s*[A-Za-z_]\w*)+)/g)) {
      const parts = m[2].split(".").map((p) => p.trim()).filter(Boolean);
      const path = [m[1], ...parts].join(".");
      if (seen.has(path)) continue;
      seen.add(path);
      if (m[1] === "inputs") out.push({ path, nodeLabel: inputLabel, field: parts.join(".") });
      else {
        const node = byId.get(parts[0]);
        if (!node) continue;
        out.push({ path, nodeLabel: node.data.label || node.id, field: parts.slice(parts[1] === "output" ? 2 : 1).join(".") });
      }
    }
  }
  return out;
}

export function templateIssues(text: string, nodeId: string, nodes: FlowNode[], edges: FlowEdge[], tools: ToolInfo[] | null = null): TemplateIssue[] {
  if (!text.includes("{")) return [];
  const issues: TemplateIssue[] = [];
  const opens = (text.match(/\{\{/g) ?? []).length;
  const closes = (text.match(/\}\}/g) ?? []).length;
  if (opens !== closes) issues.push({ text: "{{ }}", message: "An expression is not closed with }}." });
  const fields = new Set([...inputFields(nodes), ...regionInputs(nodeId, nodes).map((f) => f.name)]);
  const upstream = new Set(upstreamNodes(nodeId, nodes, edges).map((n) => n.id));
  const names = byName(nodes);
  const loopVars = new Set<string>();
  for (const expr of expressions(text)) {
    const forVar = expr.match(/^\s*for\s+([A-Za-z_]\w*)(?:\s*,\s*([A-Za-z_]\w*))?\s+in\b/);
    if (forVar) forVar.slice(1).forEach((v) => v && loopVars.add(v));
    const setVar = expr.match(/^\s*set\s+([A-Za-z_]\w*)/);
    if (setVar) loopVars.add(setVar[1]);
  }
  const seen = new Set<string>();
  const flag = (text: string, message: string) => {
    if (seen.has(text)) return;
    seen.add(text);
    issues.push({ text, message });
  };
  for (const expr of expressions(text)) {
    const re = /(\.|\|\s*|\bis\s+(?:not\s+)?)?\b([A-Za-z_]\w*)((?:\s*(?:\.\s*[A-Za-z_]\w*|\[\s*""\s*\]))*)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(expr))) {
      const [, prefix, root, rest] = m;
      if (prefix || KEYWORDS.has(root) || loopVars.has(root) || /^\d/.test(root)) continue;
      if (expr.slice(m.index + m[0].length).trimStart().startsWith("(")) continue;
      const key = rest.match(/^\s*\.\s*([A-Za-z_]\w*)/)?.[1];
      if (root === "inputs") {
        if (key && fields.size && !fields.has(key)) flag(`inputs.${key}`, `The Input node has no field “${key}”.`);
      } else if (root === "nodes") {
        if (!key) continue;
        const named = names.get(key);
        if (!named) flag(`nodes.${key}`, `There is no node “${key}”.`);
        else if (!upstream.has(named.id)) flag(`nodes.${key}`, `“${named.data.label || key}” does not run before this one.`);
        else {
          const field = rest.match(/^\s*\.\s*[A-Za-z_]\w*\s*\.\s*output\s*\.\s*([A-Za-z_]\w*)/)?.[1];
          const node = named;
          const schema = field ? outputSchema(node, tools) : null;
          const label = node.data.label || key;
          if (field && schema?.type === "string") flag(`nodes.${key}.output.${field}`, `“${label}” returns text, which has no field “${field}”.`);
          else if (field && schema?.properties && !(field in schema.properties)) flag(`nodes.${key}.output.${field}`, `“${label}” has no output field “${field}”.`);
        }
      } else if (root !== "feedback" && root !== "iteration") {
        flag(root, `“${root}” is not available. Use inputs.<name>, nodes.<id>.output, feedback or iteration.`);
      }
    }
  }
  return issues;
}
