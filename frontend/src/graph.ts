// The graph document ⇄ React Flow nodes and edges, ports, retry edges and upstream lookups.
import type { Edge, Node } from "@xyflow/react";
import type { Graph, GraphEdge, GraphNode, Json, JsonObject, JsonSchema, NodeTypeInfo, Port } from "./types";

export interface NodeData extends Record<string, unknown> {
  kind: string;
  label: string;
  config: JsonObject;
  key?: string;
}

export type FlowNode = Node<NodeData, "sb">;
export type FlowEdge = Edge<Record<string, unknown>, "sb">;
export type Catalogue = Record<string, NodeTypeInfo>;

export const NODE_WIDTH = 232;

export function toFlow(graph: Graph): { nodes: FlowNode[]; edges: FlowEdge[] } {
  const ids = new Set((graph.nodes ?? []).map((n) => n.id));
  const nodes: FlowNode[] = (graph.nodes ?? []).map((n) => ({
    id: n.id,
    type: "sb",
    position: { x: n.position?.x ?? 0, y: n.position?.y ?? 0 },
    // A node inside a map is React Flow's child of it (its position relative to the map's).
    ...(n.parent && ids.has(n.parent) && n.parent !== n.id ? { parentId: n.parent } : {}),
    data: { kind: n.type, label: n.label ?? "", config: n.config ?? {}, ...(n.key ? { key: n.key } : {}) },
  }));
  return {
    nodes: parentsFirst(nodes),
    edges: (graph.edges ?? []).map((e) => ({
      id: e.id,
      type: "sb",
      source: e.source,
      sourceHandle: e.source_port,
      target: e.target,
      targetHandle: e.target_port,
    })),
  };
}

export function toGraph(nodes: FlowNode[], edges: FlowEdge[]): Graph {
  return {
    schema_version: 1,
    nodes: nodes.map(
      (n): GraphNode => ({
        id: n.id,
        type: n.data.kind,
        label: n.data.label,
        ...(n.data.key ? { key: n.data.key } : {}),
        ...(n.parentId ? { parent: n.parentId } : {}),
        position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
        config: n.data.config,
      }),
    ),
    edges: edges.map(
      (e): GraphEdge => ({
        id: e.id,
        source: e.source,
        source_port: e.sourceHandle ?? "out",
        target: e.target,
        target_port: e.targetHandle ?? "in",
      }),
    ),
  };
}

/** The nodes with every parent before its children, as React Flow draws them (stable otherwise). */
export function parentsFirst(nodes: FlowNode[]): FlowNode[] {
  if (!nodes.some((n) => n.parentId)) return nodes;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const placed = new Set<string>();
  const out: FlowNode[] = [];
  const place = (n: FlowNode, seen: Set<string>) => {
    if (placed.has(n.id)) return;
    const parent = n.parentId ? byId.get(n.parentId) : undefined;
    if (parent && !seen.has(parent.id)) place(parent, new Set([...seen, n.id]));
    placed.add(n.id);
    // A parent loop (never written by the canvas) is cut where it closes.
    out.push(parent && seen.has(parent.id) ? { ...n, parentId: undefined } : n);
  };
  for (const n of nodes) place(n, new Set([n.id]));
  return out;
}

export function outputPorts(info: NodeTypeInfo | undefined, config: JsonObject): Port[] {
  if (!info) return [];
  return [...successPorts(info, config), ...errorPorts(info, config)];
}

/** The error port, when the node's type can fail with this configuration (e.g. LLM mode). */
function errorPorts(info: NodeTypeInfo, config: JsonObject): Port[] {
  if (!info.error_port) return [];
  const when = Object.entries(info.error_port_when ?? {});
  const defaults = info.config_schema.properties ?? {};
  const holds = when.every(([field, value]) => (config[field] ?? defaults[field]?.default) === value);
  return holds ? [info.error_port] : [];
}

function successPorts(info: NodeTypeInfo, config: JsonObject): Port[] {
  if (!info.dynamic_outputs) return info.outputs;
  const routes = Array.isArray(config.routes) ? config.routes : [];
  const ports: Port[] = [];
  for (const route of routes) {
    const name = route && typeof route === "object" && !Array.isArray(route) ? route.name : null;
    if (typeof name === "string" && name && !ports.some((p) => p.name === name)) {
      ports.push({ name, label: name, required: true });
    }
  }
  ports.push({ name: "otherwise", label: "otherwise", required: false });
  return ports;
}

/** Edges an evaluator's fail port sends back upstream: the bounded retry loops. */
export function retryEdgeIds(nodes: FlowNode[], edges: FlowEdge[]): Set<string> {
  const kinds = new Map(nodes.map((n) => [n.id, n.data.kind]));
  const isFail = (e: FlowEdge) => kinds.get(e.source) === "evaluator" && e.sourceHandle === "fail";
  const upstream = ancestorsOf(edges.filter((e) => !isFail(e)));
  const retry = new Set<string>();
  for (const edge of edges) {
    if (isFail(edge) && (edge.target === edge.source || upstream(edge.source).has(edge.target))) {
      retry.add(edge.id);
    }
  }
  return retry;
}

/** Return a function giving every node upstream of a node (memoised per call). */
export function ancestorsOf(edges: { source: string; target: string }[]): (id: string) => Set<string> {
  const predecessors = new Map<string, string[]>();
  for (const e of edges) {
    const list = predecessors.get(e.target) ?? [];
    list.push(e.source);
    predecessors.set(e.target, list);
  }
  const memo = new Map<string, Set<string>>();
  return (start) => {
    const cached = memo.get(start);
    if (cached) return cached;
    const seen = new Set<string>();
    const stack = [...(predecessors.get(start) ?? [])];
    while (stack.length) {
      const id = stack.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      stack.push(...(predecessors.get(id) ?? []));
    }
    memo.set(start, seen);
    return seen;
  };
}

/** Nodes whose output a node may read: upstream through forward edges (not retry loops). */
export function upstreamNodes(nodeId: string, nodes: FlowNode[], edges: FlowEdge[]): FlowNode[] {
  const kinds = new Map(nodes.map((n) => [n.id, n.data.kind]));
  const forward = edges.filter((e) => !(kinds.get(e.source) === "evaluator" && e.sourceHandle === "fail"));
  const ids = ancestorsOf(forward)(nodeId);
  return nodes.filter((n) => ids.has(n.id));
}

export function uniqueNodeId(kind: string, taken: Set<string>): string {
  const base = kind.replace(/[^A-Za-z0-9_]/g, "_").replace(/^[^A-Za-z_]/, "n") || "node";
  for (let i = 1; ; i++) {
    const id = `${base}_${i}`;
    if (!taken.has(id)) return id;
  }
}

export function newEdgeId(): string {
  return `e_${Math.random().toString(36).slice(2, 10)}`;
}

export function resolveRef(schema: JsonSchema, root: JsonSchema): JsonSchema {
  if (schema.$ref?.startsWith("#/$defs/")) {
    const name = schema.$ref.slice("#/$defs/".length);
    return { ...(root.$defs?.[name] ?? {}), ...schema, $ref: undefined };
  }
  return schema;
}

// Starting configs that validate at once for types whose schema has required lists; anything
// else starts from the schema's defaults, so a new node type needs no entry here.
const STARTERS: Record<string, JsonObject> = {
  input: {
    schema: { type: "object", properties: { question: { type: "string", title: "Question" } }, required: ["question"] },
    sample: {},
  },
  router: { mode: "rules", routes: [{ name: "route_1", description: "", match: "all", conditions: [] }] },
  evaluator: { mode: "rules", rules: [{ kind: "min_length", value: 1, message: "The output is empty." }] },
};

export function defaultValue(schema: JsonSchema, root: JsonSchema): Json | undefined {
  const s = resolveRef(schema, root);
  if (s.default !== undefined) return structuredClone(s.default);
  if (s.type === "object" && s.properties) {
    const out: JsonObject = {};
    for (const [key, prop] of Object.entries(s.properties)) {
      const value = defaultValue(prop, root);
      if (value !== undefined && (s.required?.includes(key) || resolveRef(prop, root).default !== undefined)) {
        out[key] = value;
      }
    }
    return out;
  }
  if (s.type === "string") return s.enum ? (s.enum[0] as string) : "";
  if (s.type === "array") return [];
  if (s.type === "object") return {};
  if (s.type === "boolean") return false;
  if (s.type === "integer" || s.type === "number") return s.minimum ?? 0;
  return undefined;
}

export function starterConfig(info: NodeTypeInfo): JsonObject {
  const base = (defaultValue(info.config_schema, info.config_schema) ?? {}) as JsonObject;
  return { ...base, ...structuredClone(STARTERS[info.type] ?? {}) };
}
