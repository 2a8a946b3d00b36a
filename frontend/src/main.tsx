// Entry point of the canvas island. Pages mount it on an element with `data-sb-canvas` holding
// a JSON config; other pages (the run view) call `SwitchboardCanvas.mount` themselves.
//
//   const canvas = SwitchboardCanvas.mount(el, { mode: "readonly", graph, onSelectNode });
//   canvas.setRunStates({ draft: "running", check: "queued" });
//   canvas.setRunInfo({ draft: { iterations: 2, preview: "Hello" }, route: { ports: ["billing"] } });
//   canvas.select("draft");
import { applyNodeChanges, ReactFlowProvider, useReactFlow, useStoreApi } from "@xyflow/react";
import { StrictMode, useEffect, useMemo, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { api } from "./api";
import { FlowCanvas } from "./components/Canvas";
import { Editor, type EditorConfig } from "./components/Editor";
import { CanvasContext, emptyCanvasState, indexProblems, type CanvasState } from "./context";
import { retryEdgeIds, toFlow, type FlowEdge, type FlowNode } from "./graph";
import { canvasBox, fitReadable } from "./viewport";
import { createStore, useStore, type Store } from "./store";
import type { Graph, GraphProblem, NodeRunInfo, NodeTypeInfo, RunState } from "./types";

export interface MountOptions extends Partial<EditorConfig> {
  mode: "edit" | "readonly";
  /** A graph to show read-only (the run page); without it, the flow `flowId` is loaded. */
  graph?: Graph;
  onReady?: () => void;
  /** Show the minimap (read-only canvases; default true). */
  minimap?: boolean;
  /** Called when a node is clicked (its id) or the empty canvas is (null); read-only canvases. */
  onSelectNode?: (nodeId: string | null) => void;
}

export interface CanvasHandle {
  setRunStates(states: Record<string, RunState>): void;
  setRunState(nodeId: string, state: RunState | null): void;
  /** Replace what nodes show beside their state (loop passes, ports taken, streamed text). */
  setRunInfo(info: Record<string, NodeRunInfo>): void;
  /** Forget every run state and run detail (back to the plain graph). */
  clearRun(): void;
  /** Select a node (or none) on a read-only canvas, as if it had been clicked. */
  select(nodeId: string | null): void;
  setProblems(problems: GraphProblem[]): void;
  setGraph(graph: Graph): void;
  unmount(): void;
}

let nodeTypesPromise: Promise<NodeTypeInfo[]> | null = null;
function nodeTypes(): Promise<NodeTypeInfo[]> {
  nodeTypesPromise ??= api<NodeTypeInfo[]>("GET", "/node-types");
  return nodeTypesPromise;
}

/** Keep a read-only canvas fitted when its box changes size (a window resize, a panel). */
function RefitOnResize({ target }: { target: React.RefObject<HTMLDivElement> }) {
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const store = useStoreApi<FlowNode, FlowEdge>();
  useEffect(() => {
    const el = target.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    let timer = 0;
    let last = `${el.clientWidth}x${el.clientHeight}`;
    const observer = new ResizeObserver(() => {
      const size = `${el.clientWidth}x${el.clientHeight}`;
      if (size === last) return;
      last = size;
      window.clearTimeout(timer);
      timer = window.setTimeout(() => fitReadable(flow, canvasBox(store), 150), 120);
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      window.clearTimeout(timer);
    };
  }, [target, flow, store]);
  return null;
}

interface ReadOnlyState {
  graph: Graph;
  selected: string | null;
}

function ReadOnlyFlow({ store, graphStore, onReady, onSelectNode, minimap = true }: { store: Store<CanvasState>; graphStore: Store<ReadOnlyState>; onReady?: () => void; onSelectNode?: (id: string | null) => void; minimap?: boolean }) {
  const [types, setTypes] = useState<NodeTypeInfo[] | null>(null);
  const [graph, setGraph] = useState(graphStore.get().graph);
  useEffect(() => graphStore.subscribe(() => setGraph(graphStore.get().graph)), [graphStore]);
  const selected = useStore(graphStore, (s) => s.selected);
  const wrap = useRef<HTMLDivElement>(null);
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
    setNodes((ns) => ns.map((n) => (!!n.selected !== (n.id === selected) ? { ...n, selected: n.id === selected } : n)));
  }, [selected, initial]);
  useEffect(() => {
    if (types) onReady?.();
  }, [types, onReady]);
  if (!types) return <div className="sb-editor-loading">Loading…</div>;
  const catalogue = Object.fromEntries(types.map((t) => [t.type, t]));
  return (
    <CanvasContext.Provider value={{ catalogue, store, readOnly: true }}>
      <div className="sb-canvas-wrap is-standalone" ref={wrap}>
        <RefitOnResize target={wrap} />
        <FlowCanvas
          nodes={nodes}
          edges={initial.edges}
          readOnly
          showMinimap={minimap}
          onNodesChange={(changes) => setNodes((ns) => applyNodeChanges(changes, ns))}
          categoryOf={(k) => catalogue[k]?.category ?? ""}
          label="Read-only flow canvas"
          extra={
            onSelectNode
              ? {
                  onNodeClick: (_event, node) => onSelectNode(node.id),
                  onPaneClick: () => onSelectNode(null),
                }
              : undefined
          }
        />
      </div>
    </CanvasContext.Provider>
  );
}

export function mount(element: HTMLElement, options: MountOptions): CanvasHandle {
  const store = createStore<CanvasState>(emptyCanvasState());
  const graphStore = createStore<ReadOnlyState>({ graph: options.graph ?? { schema_version: 1, nodes: [], edges: [] }, selected: null });
  const root = createRoot(element);
  const editable = options.graph === undefined && options.flowId !== undefined;
  root.render(
    <StrictMode>
      <ReactFlowProvider>
        {editable ? (
          <Editor config={{ flowId: options.flowId as number, workspaceId: options.workspaceId ?? 0, mode: options.mode, flowsUrl: options.flowsUrl }} store={store} onReady={options.onReady} />
        ) : (
          <ReadOnlyFlow store={store} graphStore={graphStore} onReady={options.onReady} onSelectNode={options.onSelectNode} minimap={options.minimap} />
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
    setRunInfo: (info) => store.set({ runInfo: { ...info } }),
    clearRun: () => store.set({ runStates: {}, runInfo: {} }),
    select: (nodeId) => graphStore.set({ selected: nodeId }),
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
