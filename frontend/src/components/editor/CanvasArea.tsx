// The editor's canvas: the draft being edited (or a past version or diff, read-only), drops
// from the palette, and the empty state.
import { useCallback, type DragEvent } from "react";
import { NODE_WIDTH, type Catalogue } from "../../graph";
import type { FlowGraph } from "../../hooks/useFlowGraph";
import type { View } from "../../hooks/useVersions";
import { Icon } from "../../icons";
import { FlowCanvas } from "../Canvas";
import { DRAG_TYPE } from "../Palette";
import { ViewBanner, ViewCanvas } from "./ViewBanner";

export function CanvasArea({ g, view, catalogue, readOnly, showMinimap, snap, onRestore, onBack }: {
  g: FlowGraph;
  view: View;
  catalogue: Catalogue;
  readOnly: boolean;
  showMinimap: boolean;
  snap: boolean;
  onRestore: (n: number) => void;
  onBack: () => void;
}) {
  const { flowApi, addNode, nodes, edges } = g;
  const viewing = view.kind !== "draft" ? view : null;
  const onDrop = useCallback(
    (event: DragEvent) => {
      const type = event.dataTransfer.getData(DRAG_TYPE);
      if (!type) return;
      event.preventDefault();
      const p = flowApi.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addNode(type, { x: p.x - NODE_WIDTH / 2, y: p.y - 28 });
    },
    [addNode, flowApi],
  );
  return (
    <div className="sb-canvas-wrap" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-view={view.kind}>
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
          categoryOf={(k) => catalogue[k]?.category ?? ""}
          extra={{
            onConnect: g.onConnect,
            onNodeDragStart: () => g.snapshot(),
            onBeforeDelete: async () => {
              g.snapshot();
              return true;
            },
          }}
        />
      )}
      {!viewing && !nodes.length && (
        <div className="sb-canvas-empty">
          <h2>Start with an Input</h2>
          <p>Drag node types from the palette on the left, then connect an output port to an input port.</p>
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
