// Entry point of the canvas island. Pages mount it on an element with `data-sb-canvas` holding
// a JSON config; other pages (the run view) call `SwitchboardCanvas.mount` themselves.
//
//   const canvas = SwitchboardCanvas.mount(el, { mode: "readonly", graph });
//   canvas.setRunStates({ draft: "running", check: "queued" });
import "@xyflow/react/dist/base.css";
import "./canvas.css";
import { applyNodeChanges, ReactFlowProvider } from "@xyflow/react";
import { StrictMode, useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import { api } from "./api";
import { FlowCanvas } from "./components/Canvas";
import { Editor, type EditorConfig } from "./components/Editor";
import { CanvasContext, emptyCanvasState, indexProblems, type CanvasState } from "./context";
import { retryEdgeIds, toFlow, type FlowNode } from "./graph";
import { createStore, type Store } from "./store";
import type { Graph, GraphProblem, NodeTypeInfo, RunState } from "./types";

export interface MountOptions extends Partial<EditorConfig> {
  mode: "edit" | "readonly";
  /** A graph to show read-only (the run page); without it, the flow `flowId` is loaded. */
  graph?: Graph;
  onReady?: () => void;
}

export interface CanvasHandle {
  setRunStates(states: Record<string, RunState>): void;
  setRunState(nodeId: string, state: RunState | null): void;
  setProblems(problems: GraphProblem[]): void;
  setGraph(graph: Graph): void;
  unmount(): void;
}

let nodeTypesPromise: Promise<NodeTypeInfo[]> | null = null;
function nodeTypes(): Promise<NodeTypeInfo[]> {
  nodeTypesPromise ??= api<NodeTypeInfo[]>("GET", "/node-types");
  return nodeTypesPromise;
}

function ReadOnlyFlow({ store, graphStore, onReady }: { store: Store<CanvasState>; graphStore: Store<{ graph: Graph }>; onReady?: () => void }) {
  const [types, setTypes] = useState<NodeTypeInfo[] | null>(null);
  const [graph, setGraph] = useState(graphStore.get().graph);
  useEffect(() => graphStore.subscribe(() => setGraph(graphStore.get().graph)), [graphStore]);
  useEffect(() => {
    nodeTypes().then(setTypes, () => setTypes([]));
  }, []);
  const initial = useMemo(() => toFlow(graph), [graph]);
  const [nodes, setNodes] = useState<FlowNode[]>(initial.nodes);
  useEffect(() => {
    setNodes(initial.nodes);
    store.set({ retryEdges: retryEdgeIds(initial.nodes, initial.edges) });
  }, [initial, store]);
  useEffect(() => {
    if (types) onReady?.();
  }, [types, onReady]);
  if (!types) return <div className="sb-editor-loading">Loading…</div>;
  const catalogue = Object.fromEntries(types.map((t) => [t.type, t]));
  return (
    <CanvasContext.Provider value={{ catalogue, store, readOnly: true }}>
      <div className="sb-canvas-wrap is-standalone">
        <FlowCanvas
          nodes={nodes}
          edges={initial.edges}
          readOnly
          onNodesChange={(changes) => setNodes((ns) => applyNodeChanges(changes, ns))}
          categoryOf={(k) => catalogue[k]?.category ?? ""}
          label="Read-only flow canvas"
        />
      </div>
    </CanvasContext.Provider>
  );
}

export function mount(element: HTMLElement, options: MountOptions): CanvasHandle {
  const store = createStore<CanvasState>(emptyCanvasState());
  const graphStore = createStore({ graph: options.graph ?? { schema_version: 1, nodes: [], edges: [] } });
  const root = createRoot(element);
  const editable = options.graph === undefined && options.flowId !== undefined;
  root.render(
    <StrictMode>
      <ReactFlowProvider>
        {editable ? (
          <Editor config={{ flowId: options.flowId as number, workspaceId: options.workspaceId ?? 0, mode: options.mode, flowsUrl: options.flowsUrl }} store={store} onReady={options.onReady} />
        ) : (
          <ReadOnlyFlow store={store} graphStore={graphStore} onReady={options.onReady} />
        )}
      </ReactFlowProvider>
    </StrictMode>,
  );
  return {
    setRunStates: (states) => store.set({ runStates: { ...states } }),
    setRunState: (nodeId, state) =>
      store.set((s) => {
        const runStates = { ...s.runStates };
        if (state) runStates[nodeId] = state;
        else delete runStates[nodeId];
        return { runStates };
      }),
    setProblems: (problems) => store.set(indexProblems(problems)),
    setGraph: (graph) => graphStore.set({ graph }),
    unmount: () => root.unmount(),
  };
}

const instances: Record<string, CanvasHandle> = {};
declare global {
  interface Window {
    SwitchboardCanvas: { mount: typeof mount; instances: Record<string, CanvasHandle> };
  }
}
window.SwitchboardCanvas = { mount, instances };

for (const element of document.querySelectorAll<HTMLElement>("[data-sb-canvas]")) {
  const options = JSON.parse(element.dataset.sbCanvas || "{}") as MountOptions;
  const started = performance.now();
  instances[element.id || `canvas-${Object.keys(instances).length}`] = mount(element, {
    ...options,
    onReady: () => {
      element.dataset.readyMs = String(Math.round(performance.now() - started));
      element.dataset.ready = "true";
    },
  });
}
