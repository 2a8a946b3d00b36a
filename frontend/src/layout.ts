// Auto-layout: left-to-right layers with dagre. Retry loops are left out so they do not bend
// the main direction of the flow.
import dagre from "@dagrejs/dagre";
import { NODE_WIDTH, retryEdgeIds, type FlowEdge, type FlowNode } from "./graph";

export function autoLayout(nodes: FlowNode[], edges: FlowEdge[]): FlowNode[] {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 96, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    g.setNode(node.id, { width: node.measured?.width ?? NODE_WIDTH, height: node.measured?.height ?? 96 });
  }
  const retry = retryEdgeIds(nodes, edges);
  for (const edge of edges) {
    if (!retry.has(edge.id) && g.hasNode(edge.source) && g.hasNode(edge.target)) g.setEdge(edge.source, edge.target);
  }
  dagre.layout(g);
  return nodes.map((node) => {
    const placed = g.node(node.id);
    if (!placed) return node;
    const x = placed.x - placed.width / 2;
    const y = placed.y - placed.height / 2;
    return { ...node, position: { x: Math.round(x / 8) * 8, y: Math.round(y / 8) * 8 } };
  });
}
