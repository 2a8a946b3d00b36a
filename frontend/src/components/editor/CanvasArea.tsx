// The editor's canvas: the draft being edited (or a past version or diff, read-only), drops
// from the palette, and the empty state.
import { useCallback, useMemo, useState, type DragEvent, type MouseEvent } from "react";
import { NODE_WIDTH, type Catalogue } from "../../graph";
import type { FlowGraph } from "../../hooks/useFlowGraph";
import type { View } from "../../hooks/useVersions";
import { Icon } from "../../icons";
import type { NodeTypeInfo } from "../../types";
import { FlowCanvas } from "../Canvas";
import { DRAG_TYPE } from "../Palette";
import { QuickAdd } from "./QuickAdd";
import { ViewBanner, ViewCanvas } from "./ViewBanner";

/** The edge under a point on the screen, if any (React Flow draws a wide hit path on each). */
function edgeAt(x: number, y: number): string | null {
  for (const el of document.elementsFromPoint(x, y)) {
    const edge = el.closest(".react-flow__edge");
    if (edge) return edge.getAttribute("data-id");
  }
  return null;
}

export function CanvasArea({ g, types, view, catalogue, readOnly, showMinimap, snap, onRestore, onBack }: {
  g: FlowGraph;
  types: NodeTypeInfo[];
  view: View;
  catalogue: Catalogue;
  readOnly: boolean;
  showMinimap: boolean;
  snap: boolean;
  onRestore: (n: number) => void;
  onBack: () => void;
}) {
  const { flowApi, addNode, insertOnEdge, nodes, edges } = g;
  const viewing = view.kind !== "draft" ? view : null;
  const [quickAdd, setQuickAdd] = useState<{ left: number; top: number; flow: { x: number; y: number } } | null>(null);
  const onDrop = useCallback(
    (event: DragEvent) => {
      const type = event.dataTransfer.getData(DRAG_TYPE);
      if (!type) return;
      event.preventDefault();
      const p = flowApi.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      const at = { x: p.x - NODE_WIDTH / 2, y: p.y - 28 };
      const edge = edgeAt(event.clientX, event.clientY);
      if (edge) insertOnEdge(type, at, edge);
      else addNode(type, at);
    },
    [addNode, insertOnEdge, flowApi],
  );
  const onDoubleClick = useCallback(
    (event: MouseEvent) => {
      if (readOnly || viewing || !(event.target as Element).classList?.contains("react-flow__pane")) return;
      const box = (event.currentTarget as HTMLElement).getBoundingClientRect();
      const flow = flowApi.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      setQuickAdd({ left: event.clientX - box.left, top: event.clientY - box.top, flow });
    },
    [readOnly, viewing, flowApi],
  );
  const categoryOf = useCallback((k: string) => catalogue[k]?.category ?? "", [catalogue]);
  const { snapshot, onConnect, placeMoved } = g;
  const extra = useMemo(
    () => ({
      zoomOnDoubleClick: false,
      onConnect,
      onNodeDragStart: () => snapshot(),
      onNodeDragStop: (_event: unknown, _node: unknown, moved: { id: string }[]) => placeMoved(moved.map((n) => n.id)),
      onBeforeDelete: async () => {
        snapshot();
        return true;
      },
    }),
    [onConnect, snapshot, placeMoved],
  );
  return (
    <div className="sb-canvas-wrap" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} onDoubleClick={onDoubleClick} data-view={view.kind}>
      {viewing && <ViewBanner viewing={viewing} readOnly={readOnly} onRestore={onRestore} onBack={onBack} />}
      {viewing ? (
        <ViewCanvas key={`${viewing.kind}-${viewing.kind === "version" ? viewing.number : viewing.title}`} nodes={viewing.nodes} edges={viewing.edges} catalogue={catalogue} />
      ) : (
        <FlowCanvas
          nodes={nodes}
          edges={edges}
          readOnly={readOnly}
          onNodesChange={g.onNodesChange}
          onEdgesChange={g.onEdgesChange}
          showMinimap={showMinimap}
          snap={snap}
          categoryOf={categoryOf}
          extra={extra}
        />
      )}
      {quickAdd && (
        <QuickAdd
          types={types}
          at={quickAdd}
          onClose={() => setQuickAdd(null)}
          onAdd={(type) => {
            addNode(type, { x: quickAdd.flow.x - NODE_WIDTH / 2, y: quickAdd.flow.y - 28 });
            setQuickAdd(null);
          }}
        />
      )}
      {!viewing && !nodes.length && (
        <div className="sb-canvas-empty">
          <h2>Start with an Input</h2>
          <p>Drag node types from the palette on the left (or double-click the canvas), then connect an output port to an input port.</p>
          {!readOnly && catalogue.input && (
            <button type="button" className="sb-btn sb-btn-primary" onClick={() => addNode("input")}>
              <Icon name="plus" size={14} /> Add an Input node
            </button>
          )}
        </div>
      )}
    </div>
  );
}
