// A structural diff between two graphs: nodes added, removed or changed (with the config
// fields that changed), and edges added or removed.
import type { Graph, GraphEdge, GraphNode, Json } from "./types";

export type NodeChange = "added" | "removed" | "changed" | "moved" | "same";

export interface FieldChange {
  path: string;
  before: Json | undefined;
  after: Json | undefined;
}

export interface GraphDiff {
  nodes: Map<string, NodeChange>;
  fields: Map<string, FieldChange[]>;
  edges: Map<string, "added" | "removed" | "same">;
  merged: Graph;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function fieldChanges(before: Json | undefined, after: Json | undefined, path: string, out: FieldChange[]) {
  if (same(before, after)) return;
  const isObj = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const a = before as Record<string, Json>;
    const b = after as Record<string, Json>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      fieldChanges(a[key], b[key], path ? `${path}.${key}` : key, out);
    }
    return;
  }
  out.push({ path, before, after });
}

function edgeKey(e: GraphEdge): string {
  return `${e.source}:${e.source_port}→${e.target}:${e.target_port}`;
}

/** Compare `before` with `after`; `merged` holds every node and edge of both, for drawing. */
export function diffGraphs(before: Graph, after: Graph): GraphDiff {
  const old = new Map(before.nodes.map((n) => [n.id, n]));
  const now = new Map(after.nodes.map((n) => [n.id, n]));
  const nodes = new Map<string, NodeChange>();
  const fields = new Map<string, FieldChange[]>();
  const merged: GraphNode[] = [];
  for (const node of after.nodes) {
    const prev = old.get(node.id);
    if (!prev) {
      nodes.set(node.id, "added");
    } else {
      const changes: FieldChange[] = [];
      if (prev.type !== node.type) changes.push({ path: "type", before: prev.type, after: node.type });
      if (prev.label !== node.label) changes.push({ path: "label", before: prev.label, after: node.label });
      // Moved into or out of a map: it now runs per item, or no longer does.
      if ((prev.parent ?? "") !== (node.parent ?? "")) changes.push({ path: "inside map", before: prev.parent ?? "", after: node.parent ?? "" });
      fieldChanges(prev.config, node.config, "", changes);
      if (changes.length) fields.set(node.id, changes);
      const moved = !same(prev.position, node.position);
      nodes.set(node.id, changes.length ? "changed" : moved ? "moved" : "same");
    }
    merged.push(node);
  }
  for (const node of before.nodes) {
    if (!now.has(node.id)) {
      nodes.set(node.id, "removed");
      merged.push(node);
    }
  }
  const oldEdges = new Set(before.edges.map(edgeKey));
  const newEdges = new Set(after.edges.map(edgeKey));
  const edges = new Map<string, "added" | "removed" | "same">();
  const mergedEdges: GraphEdge[] = [];
  for (const e of after.edges) {
    edges.set(e.id, oldEdges.has(edgeKey(e)) ? "same" : "added");
    mergedEdges.push(e);
  }
  for (const e of before.edges) {
    if (!newEdges.has(edgeKey(e))) {
      const id = edges.has(e.id) ? `removed:${e.id}` : e.id;
      edges.set(id, "removed");
      mergedEdges.push({ ...e, id });
    }
  }
  return { nodes, fields, edges, merged: { schema_version: 1, nodes: merged, edges: mergedEdges } };
}
