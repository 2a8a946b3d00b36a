// Auto-layout: left-to-right layers with dagre, then the layers wrapped into rows so a long
// flow reads like lines of text instead of one strip (the number of rows is the one that lets
// the whole flow fit the canvas at the largest zoom). Retry loops are left out so they do not
// bend the main direction of the flow.
import dagre from "@dagrejs/dagre";
import { NODE_WIDTH, retryEdgeIds, type FlowEdge, type FlowNode } from "./graph";

const NODE_GAP = 32;
const LAYER_GAP = 72;
const ROW_GAP = 96;
const GRID = 8;
/** The canvas's width : height when it is not known (a laptop editor's canvas is about this). */
const DEFAULT_ASPECT = 1.3;

export interface LayoutOptions {
  /** The canvas box to fit, in pixels; the rows are chosen for its aspect ratio. */
  viewport?: { width: number; height: number };
}

export function autoLayout(all: FlowNode[], edges: FlowEdge[], options: LayoutOptions = {}): FlowNode[] {
  // The nodes inside a map keep their places in it: the map moves as one box.
  const nodes = all.filter((n) => !n.parentId);
  if (nodes.length < all.length) {
    const placed = new Map(autoLayout(nodes, edges, options).map((n) => [n.id, n]));
    return all.map((n) => placed.get(n.id) ?? n);
  }
  if (!nodes.length) return nodes;
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: NODE_GAP, ranksep: LAYER_GAP, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    g.setNode(node.id, { width: node.measured?.width ?? NODE_WIDTH, height: node.measured?.height ?? 96 });
  }
  const retry = retryEdgeIds(nodes, edges);
  for (const edge of edges) {
    if (!retry.has(edge.id) && g.hasNode(edge.source) && g.hasNode(edge.target)) g.setEdge(edge.source, edge.target);
  }
  dagre.layout(g);

  // Layers: dagre puts every node of a rank at the same x.
  const placed = nodes.map((node) => ({ node, box: g.node(node.id) }));
  const xs = [...new Set(placed.map((p) => Math.round(p.box.x - p.box.width / 2)))].sort((a, b) => a - b);
  const layerOf = new Map(xs.map((x, i) => [x, i]));
  let top = Infinity;
  let bottom = -Infinity;
  for (const { box } of placed) {
    top = Math.min(top, box.y - box.height / 2);
    bottom = Math.max(bottom, box.y + box.height / 2);
  }
  const rowHeight = bottom - top;
  const layerWidth = NODE_WIDTH + LAYER_GAP;
  const aspect = options.viewport && options.viewport.height > 0 ? options.viewport.width / options.viewport.height : DEFAULT_ASPECT;
  const perRow = layersPerRow(xs.length, layerWidth, rowHeight, aspect);

  return placed.map(({ node, box }) => {
    const layer = layerOf.get(Math.round(box.x - box.width / 2)) ?? 0;
    const row = Math.floor(layer / perRow);
    const x = (layer % perRow) * layerWidth;
    const y = box.y - box.height / 2 - top + row * (rowHeight + ROW_GAP);
    return { ...node, position: { x: Math.round(x / GRID) * GRID, y: Math.round(y / GRID) * GRID } };
  });
}

/** How many layers go in a row: the count that lets the wrapped flow fit the box at the largest zoom. */
export function layersPerRow(layers: number, layerWidth: number, rowHeight: number, aspect: number): number {
  let best = layers;
  let bestScale = 0;
  for (let rows = 1; rows <= layers; rows++) {
    const perRow = Math.ceil(layers / rows);
    if (rows > 1 && Math.ceil(layers / (rows - 1)) === perRow) continue;
    const width = perRow * layerWidth;
    const height = rows * rowHeight + (rows - 1) * ROW_GAP;
    // The zoom that fits a box of this aspect (height 1): limited by width or by height.
    const scale = Math.min(aspect / width, 1 / height);
    if (scale > bestScale * 1.02) {
      bestScale = scale;
      best = perRow;
    }
  }
  return Math.max(1, best);
}
