// Nodes as far as their content goes (id, type, label, config, the map they are in), ignoring
// position, size and selection: stays the same array while a node is dragged, so what reads
// only content (template variables, the inspector, retry loops, the test run) does not
// recompute on every frame.
import { useRef } from "react";
import type { FlowEdge, FlowNode } from "../graph";

export function useContentNodes(nodes: FlowNode[]): FlowNode[] {
  const previous = useRef<FlowNode[]>(nodes);
  const prev = previous.current;
  const same = prev.length === nodes.length && nodes.every((n, i) => prev[i].id === n.id && prev[i].data === n.data && prev[i].parentId === n.parentId);
  if (!same) previous.current = nodes;
  return previous.current;
}

/** Edges as far as their ends go (ignoring selection), stable while nothing is reconnected. */
export function useContentEdges(edges: FlowEdge[]): FlowEdge[] {
  const previous = useRef<FlowEdge[]>(edges);
  const prev = previous.current;
  const same =
    prev.length === edges.length &&
    edges.every((e, i) => {
      const p = prev[i];
      return p.id === e.id && p.source === e.source && p.target === e.target && p.sourceHandle === e.sourceHandle && p.targetHandle === e.targetHandle;
    });
  if (!same) previous.current = edges;
  return previous.current;
}

/** The value last seen while no node was being dragged: a drag saves once, when it ends. */
export function useSettled<T>(value: T, dragging: boolean): T {
  const settled = useRef(value);
  if (!dragging) settled.current = value;
  return settled.current;
}
