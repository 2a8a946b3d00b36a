// Map regions on the canvas: a map that calls no flow draws as a box, and the nodes dropped
// inside it are its region (React Flow children, `parent` in the graph), run once per item.
import type { InternalNode } from "@xyflow/react";
import { NODE_WIDTH, parentsFirst, type Catalogue, type FlowNode } from "./graph";

/** Room around the region's nodes, and above them for the map's own header and ports. */
export const REGION_PAD = 24;
export const REGION_TOP = 136;
export const REGION_MIN = { width: 320, height: 300 };
const NODE_HEIGHT = 110;

/** Whether a node draws as a region: its type may hold one and it calls no flow. */
export function isRegion(node: Pick<FlowNode, "data">, catalogue: Catalogue): boolean {
  const flow = node.data.config.flow;
  return Boolean(catalogue[node.data.kind]?.holds_region) && (flow === undefined || flow === null || flow === "");
}

/** The region box's size: big enough for the nodes inside it (positions relative to it). */
export function regionSize(children: { position: { x: number; y: number }; measured?: { width?: number; height?: number } }[]): { width: number; height: number } {
  let width = REGION_MIN.width;
  let height = REGION_MIN.height;
  for (const child of children) {
    width = Math.max(width, child.position.x + (child.measured?.width ?? NODE_WIDTH) + REGION_PAD);
    height = Math.max(height, child.position.y + (child.measured?.height ?? NODE_HEIGHT) + REGION_PAD);
  }
  return { width: Math.round(width), height: Math.round(height) };
}

type Box = { id: string; x: number; y: number; width: number; height: number };

/** The region whose box holds a point (the innermost when boxes overlap), if any. */
export function regionAt(point: { x: number; y: number }, boxes: Box[]): Box | undefined {
  const holding = boxes.filter((b) => point.x >= b.x && point.x <= b.x + b.width && point.y >= b.y && point.y <= b.y + b.height);
  return holding.sort((a, b) => a.width * a.height - b.width * b.height)[0];
}

/** The canvas's region boxes in flow coordinates, from React Flow's internal nodes. */
export function regionBoxes(nodes: FlowNode[], catalogue: Catalogue, internal: (id: string) => InternalNode<FlowNode> | undefined): Box[] {
  const boxes: Box[] = [];
  for (const n of nodes) {
    if (!isRegion(n, catalogue)) continue;
    const found = internal(n.id);
    if (!found) continue;
    const { x, y } = found.internals.positionAbsolute;
    boxes.push({ id: n.id, x, y, width: found.measured.width ?? REGION_MIN.width, height: found.measured.height ?? REGION_MIN.height });
  }
  return boxes;
}

/**
 * Put each moved node in the region its middle is over (or take it out onto the canvas), keeping
 * where it is on screen. `moved` gives each node's absolute top-left and size. A map never goes
 * inside itself or a region inside it; an unchanged node is returned as it was.
 */
export function placeInRegions(nodes: FlowNode[], moved: Map<string, { x: number; y: number; width: number; height: number }>, boxes: Box[]): FlowNode[] {
  const parentOf = new Map(nodes.map((n) => [n.id, n.parentId]));
  const inside = (id: string, ancestor: string): boolean => {
    for (let at: string | undefined = id; at; at = parentOf.get(at)) if (at === ancestor) return true;
    return false;
  };
  let changed = false;
  const next = nodes.map((n) => {
    const at = moved.get(n.id);
    if (!at) return n;
    const middle = { x: at.x + at.width / 2, y: at.y + Math.min(at.height / 2, 40) };
    const target = regionAt(
      middle,
      boxes.filter((b) => !inside(b.id, n.id)),
    );
    if ((target?.id ?? undefined) === n.parentId) return n;
    changed = true;
    const position = target ? { x: Math.max(REGION_PAD, at.x - target.x), y: Math.max(REGION_TOP, at.y - target.y) } : { x: at.x, y: at.y };
    return { ...n, parentId: target?.id, position };
  });
  return changed ? parentsFirst(next.map((n) => (n.parentId === undefined && "parentId" in n ? withoutParent(n) : n))) : nodes;
}

function withoutParent(node: FlowNode): FlowNode {
  const { parentId: _parentId, ...rest } = node;
  return rest;
}

/** A node and every node inside it, at any depth. */
export function withChildren(ids: Set<string>, nodes: FlowNode[]): Set<string> {
  const all = new Set(ids);
  let grew = true;
  while (grew) {
    grew = false;
    for (const n of nodes) {
      if (n.parentId && all.has(n.parentId) && !all.has(n.id)) {
        all.add(n.id);
        grew = true;
      }
    }
  }
  return all;
}
