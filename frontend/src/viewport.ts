// Fitting the view so a flow is readable: the whole flow when it fits at 60 % zoom or more;
// otherwise 60 % from its start for up to READABLE_UP_TO nodes. A bigger flow opens on its
// start at no less than OVERVIEW_ZOOM (its shape still shows; the minimap has the rest): at
// 10 % no label reads, and rendering only what is in view keeps a 500-node flow quick.
import { getNodesBounds, type ReactFlowInstance } from "@xyflow/react";
import type { FlowEdge, FlowNode } from "./graph";

export const READABLE_ZOOM = 0.6;
export const READABLE_UP_TO = 30;
export const OVERVIEW_ZOOM = 0.35;
const PADDING = 32;

export function fitReadable(flow: ReactFlowInstance<FlowNode, FlowEdge>, box: { width: number; height: number } | null, duration = 0): void {
  const nodes = flow.getNodes();
  if (!nodes.length || !box || !box.width || !box.height) {
    void flow.fitView({ padding: 0.15, maxZoom: 1, duration });
    return;
  }
  const bounds = getNodesBounds(nodes);
  const fits = Math.min((box.width - 2 * PADDING) / bounds.width, (box.height - 2 * PADDING) / bounds.height, 1);
  const floor = nodes.length <= READABLE_UP_TO ? READABLE_ZOOM : OVERVIEW_ZOOM;
  const zoom = Math.max(fits, floor);
  // Centred when it fits; otherwise anchored at the flow's start (top left), where it begins.
  const x = bounds.width * zoom <= box.width - 2 * PADDING ? (box.width - bounds.width * zoom) / 2 - bounds.x * zoom : PADDING - bounds.x * zoom;
  const y = bounds.height * zoom <= box.height - 2 * PADDING ? (box.height - bounds.height * zoom) / 2 - bounds.y * zoom : PADDING - bounds.y * zoom;
  void flow.setViewport({ x, y, zoom }, { duration });
}

/** The size of the canvas React Flow renders into, from its store (`useStoreApi()`). */
export function canvasBox(store: { getState: () => { width: number; height: number } }): { width: number; height: number } {
  const { width, height } = store.getState();
  return { width, height };
}
