// The React Flow surface shared by the editor, past versions, diffs and (later) run pages.
import {
  Background,
  BackgroundVariant,
  ControlButton,
  Controls,
  MiniMap,
  ReactFlow,
  SelectionMode,
  type Connection,
  type Edge,
  type OnEdgesChange,
  type OnNodesChange,
  type ReactFlowProps,
  useNodesInitialized,
  useReactFlow,
  useStore as useFlowStore,
  useStoreApi,
} from "@xyflow/react";
import { Icon } from "../icons";
import { canvasBox, fitReadable } from "../viewport";
import { useEffect, useRef, useState } from "react";
import type { FlowEdge, FlowNode } from "../graph";
import { LARGE_FLOW } from "../estimate";
import FlowEdgeView from "./FlowEdgeView";
import FlowNodeView from "./FlowNodeView";

const nodeTypes = { sb: FlowNodeView };
const edgeTypes = { sb: FlowEdgeView };

const colourCache = new Map<string, string>();

/** A category's colour from the design tokens (--sb-cat-<category>), for the minimap. */
function categoryColour(category: string): string {
  const key = category.toLowerCase().replace(/\W+/g, "-");
  let colour = colourCache.get(key);
  if (colour === undefined) {
    const style = getComputedStyle(document.documentElement);
    colour = style.getPropertyValue(`--sb-cat-${key}`).trim() || style.getPropertyValue("--sb-subtle").trim() || "gray";
    colourCache.set(key, colour);
  }
  return colour;
}

/** Fit the view once every node has its size (React Flow's own fitView can fire earlier). */
function FitOnce() {
  const initialised = useNodesInitialized();
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const store = useStoreApi<FlowNode, FlowEdge>();
  const done = useRef(false);
  useEffect(() => {
    if (initialised && !done.current) {
      done.current = true;
      fitReadable(flow, canvasBox(store));
      // Browser tests and the bench wait for this: the first view is in place.
      store.getState().domNode?.setAttribute("data-fitted", "true");
    }
  }, [initialised, flow, store]);
  return null;
}

/** Zoom in and out, the zoom level, and fit (readable: see viewport.ts), on the canvas itself. */
function ZoomControls() {
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const store = useStoreApi<FlowNode, FlowEdge>();
  const zoom = useFlowStore((s) => Math.round(s.transform[2] * 100));
  return (
    <Controls position="bottom-left" showInteractive={false} showFitView={false} aria-label="Zoom controls" className="sb-zoom-controls">
      <ControlButton onClick={() => fitReadable(flow, canvasBox(store), 200)} title="Fit view" aria-label="Fit the flow in view">
        <Icon name="fit" size={12} />
      </ControlButton>
      <span className="sb-zoom-level" data-zoom={zoom} aria-live="off">
        {zoom}%
      </span>
    </Controls>
  );
}

export interface CanvasProps {
  nodes: FlowNode[];
  edges: FlowEdge[];
  readOnly: boolean;
  onNodesChange?: OnNodesChange<FlowNode>;
  onEdgesChange?: OnEdgesChange<FlowEdge>;
  showMinimap?: boolean;
  snap?: boolean;
  categoryOf?: (kind: string) => string;
  extra?: Partial<ReactFlowProps<FlowNode, FlowEdge>>;
  label?: string;
}

export function FlowCanvas({ nodes, edges, readOnly, onNodesChange, onEdgesChange, showMinimap = true, snap = true, categoryOf, extra, label }: CanvasProps) {
  const large = nodes.length > LARGE_FLOW;
  // Fit the first view only to a graph that exists: fitting when the first node is dropped
  // would jump the canvas under the user's pointer.
  const [fitOnOpen] = useState(nodes.length > 0);
  return (
    <ReactFlow<FlowNode, FlowEdge>
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      edgeTypes={edgeTypes}
      onNodesChange={onNodesChange}
      onEdgesChange={onEdgesChange}
      nodesDraggable={!readOnly}
      nodesConnectable={!readOnly}
      edgesFocusable
      elementsSelectable
      deleteKeyCode={readOnly ? null : ["Backspace", "Delete"]}
      multiSelectionKeyCode={["Meta", "Control", "Shift"]}
      selectionKeyCode={null}
      selectionOnDrag
      selectionMode={SelectionMode.Partial}
      panOnDrag={[1, 2]}
      panOnScroll
      panActivationKeyCode="Space"
      zoomOnPinch
      zoomActivationKeyCode={["Meta", "Control"]}
      snapToGrid={snap}
      snapGrid={[16, 16]}
      minZoom={0.1}
      maxZoom={2}
      onlyRenderVisibleElements={large}
      proOptions={{ hideAttribution: true }}
      isValidConnection={(c: Connection | Edge) =>
        c.source !== c.target &&
        !edges.some((e) => e.source === c.source && e.target === c.target && e.sourceHandle === c.sourceHandle && e.targetHandle === c.targetHandle)
      }
      aria-label={label ?? "Flow canvas"}
      {...extra}
    >
      {fitOnOpen && <FitOnce />}
      <ZoomControls />
      <Background variant={BackgroundVariant.Dots} gap={16} size={1.2} color="var(--sb-border-strong)" />
      {showMinimap && nodes.length > 0 && (
        <MiniMap
          style={{ width: 176, height: 120 }}
          pannable
          zoomable
          ariaLabel="Minimap"
          nodeBorderRadius={6}
          nodeColor={(n) => categoryColour(categoryOf?.((n as FlowNode).data.kind) ?? "")}
          maskColor="color-mix(in srgb, var(--sb-bg) 70%, transparent)"
        />
      )}
    </ReactFlow>
  );
}
