// What a prompt template may read at a node, and which of its references are unknown.
// The server's validation is the authority; this gives the same answer while you type.
import { upstreamNodes, type FlowEdge, type FlowNode } from "./graph";

export interface Variable {
  path: string;
  label: string;
  group: "Inputs" | "Upstream nodes" | "Loop";
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

export function availableVariables(nodeId: string, nodes: FlowNode[], edges: FlowEdge[]): Variable[] {
  const vars: Variable[] = inputFields(nodes).map((f) => ({ path: `inputs.${f}`, label: f, group: "Inputs" }));
  for (const node of upstreamNodes(nodeId, nodes, edges)) {
    if (node.data.kind === "input") continue;
    vars.push({ path: `nodes.${node.id}.output`, label: node.data.label || node.id, group: "Upstream nodes" });
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

export function templateIssues(text: string, nodeId: string, nodes: FlowNode[], edges: FlowEdge[]): TemplateIssue[] {
  if (!text.includes("{")) return [];
  const issues: TemplateIssue[] = [];
  const opens = (text.match(/\{\{/g) ?? []).length;
  const closes = (text.match(/\}\}/g) ?? []).length;
  if (opens !== closes) issues.push({ text: "{{ }}", message: "An expression is not closed with }}." });
  const fields = new Set(inputFields(nodes));
  const upstream = new Set(upstreamNodes(nodeId, nodes, edges).map((n) => n.id));
  const all = new Set(nodes.map((n) => n.id));
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
        if (!all.has(key)) flag(`nodes.${key}`, `There is no node “${key}”.`);
        else if (!upstream.has(key)) flag(`nodes.${key}`, `Node “${key}” does not run before this one.`);
      } else if (root !== "feedback" && root !== "iteration") {
        flag(root, `“${root}” is not available. Use inputs.<name>, nodes.<id>.output, feedback or iteration.`);
      }
    }
  }
  return issues;
}
