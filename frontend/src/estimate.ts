// Opening a large flow quickly. React Flow renders only the nodes in view of a large flow, but
// it first renders every node once to measure it, unless the node arrives with a size and its
// handles' positions. So a large flow's nodes arrive with an estimate, from the node's shape (its
// ports and how many lines its summary takes) and the node styles in canvas.css; React Flow
// measures each node for real as it renders (it observes every node it mounts), and
// `withoutEstimate` drops a measured node's estimated handles so the real ones stay.
import { Position, type NodeChange } from "@xyflow/react";
import { summary } from "./components/FlowNodeView";
import { outputPorts, NODE_WIDTH, type Catalogue, type FlowNode } from "./graph";

/** Over this many nodes the canvas renders only what is in view (Canvas.tsx). */
export const LARGE_FLOW = 250;

// From the measured node styles (.sb-node, .sb-node-summary, .sb-port-row in canvas.css).
const WIDTH = NODE_WIDTH + 2;
const ONE_LINE_HEIGHT = 82;
const SUMMARY_LINE = 17.5;
const SUMMARY_CHARS_PER_LINE = 30;
const PORTS_TOP = 5;
const PORT_ROW = 22;
const PORTS_PADDING = 9;
const HANDLE = 11;
const FIRST_HANDLE_TOP = 26;
const INPUT_STEP = 20;

export function estimateNode(node: FlowNode, catalogue: Catalogue): FlowNode {
  const info = catalogue[node.data.kind];
  const inputs = info?.inputs ?? [{ name: "in", label: "Input", required: true }];
  const outputs = outputPorts(info, node.data.config);
  const text = summary(node.data.kind, node.data.config);
  const lines = text.length > SUMMARY_CHARS_PER_LINE ? 2 : 1;
  const body = ONE_LINE_HEIGHT + (lines - 1) * SUMMARY_LINE;
  const single = outputs.length === 1 && outputs[0].name === "out";
  const height = single || !outputs.length ? body : body + PORTS_PADDING + outputs.length * PORT_ROW;
  const handle = (id: string, type: "source" | "target", x: number, centre: number) => ({
    id,
    type,
    position: type === "source" ? Position.Right : Position.Left,
    x: x - HANDLE / 2,
    y: centre - HANDLE / 2,
    width: HANDLE,
    height: HANDLE,
  });
  const handles = [
    ...inputs.map((p, i) => handle(p.name, "target", 0, FIRST_HANDLE_TOP + i * INPUT_STEP)),
    ...(single
      ? [handle("out", "source", WIDTH, FIRST_HANDLE_TOP)]
      : outputs.map((p, i) => handle(p.name, "source", WIDTH, body + PORTS_TOP + i * PORT_ROW + PORT_ROW / 2))),
  ];
  return { ...node, measured: { width: WIDTH, height }, handles };
}

/** A large flow's nodes with estimated sizes (a smaller flow is measured as it renders). */
export function withEstimates(nodes: FlowNode[], catalogue: Catalogue): FlowNode[] {
  return nodes.length > LARGE_FLOW ? nodes.map((n) => estimateNode(n, catalogue)) : nodes;
}

/** Drop the estimated handles of nodes React Flow has just measured (it keeps the real ones). */
export function withoutEstimate(changes: NodeChange<FlowNode>[], nodes: FlowNode[]): FlowNode[] {
  const measured = new Set<string>();
  for (const c of changes) if (c.type === "dimensions") measured.add(c.id);
  if (!measured.size) return nodes;
  return nodes.map((n) => {
    if (!n.handles || !measured.has(n.id)) return n;
    const { handles: _estimated, ...rest } = n;
    return rest;
  });
}
