// The flow editor: palette, canvas, inspector/problems/history panel, toolbar and menus,
// with autosave, live validation, undo/redo, copy/paste, versions and diffs.
import { applyEdgeChanges, applyNodeChanges, useReactFlow, type Connection, type EdgeChange, type NodeChange } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { api, ApiError } from "../api";
import { CanvasContext, emptyCanvasState, indexProblems, InspectorContext, type CanvasState } from "../context";
import { diffGraphs, type GraphDiff } from "../diff";
import { useDraft } from "../draft";
import { newEdgeId, retryEdgeIds, starterConfig, toFlow, toGraph, uniqueNodeId, NODE_WIDTH, type Catalogue, type FlowEdge, type FlowNode } from "../graph";
import { Icon } from "../icons";
import { autoLayout } from "../layout";
import { createStore, useStore, type Store } from "../store";
import { availableVariables, templateIssues } from "../templates";
import type { Flow, Graph, GraphProblem, JsonObject, NodeTypeInfo, Version } from "../types";
import { FlowCanvas } from "./Canvas";
import { Inspector } from "./Inspector";
import { DRAG_TYPE, Palette } from "./Palette";
import { Problems } from "./Problems";
import { TestRunPanel } from "./TestRunPanel";
import { useTestRun } from "../testRun";
import { MenuButton, Modal, type MenuItem } from "./ui";
import { DiffDetails, Versions, type Side } from "./Versions";

export interface EditorConfig {
  flowId: number;
  workspaceId: number;
  mode: "edit" | "readonly";
  flowsUrl?: string;
}

type Tab = "inspect" | "problems" | "history" | "run";
type View =
  | { kind: "draft" }
  | { kind: "version"; number: number; version: Version; nodes: FlowNode[]; edges: FlowEdge[] }
  | { kind: "diff"; title: string; diff: GraphDiff; nodes: FlowNode[]; edges: FlowEdge[] };

interface Clipboard {
  graph: Graph;
  pastes: number;
}

const CLIPBOARD_KEY = "switchboard.clipboard";
const MAX_HISTORY = 100;
const isMac = navigator.platform.toUpperCase().includes("MAC");
const mod = isMac ? "⌘" : "Ctrl+";


function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

function useToasts() {
  const [toasts, setToasts] = useState<{ id: number; text: string; kind: string }[]>([]);
  const push = useCallback((text: string, kind = "info") => {
    const id = Date.now() + Math.random();
    setToasts((t) => [...t, { id, text, kind }]);
    window.setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 5000);
  }, []);
  return { toasts, push };
}

export function Editor({ config, store, onReady }: { config: EditorConfig; store: Store<CanvasState>; onReady?: () => void }) {
  const readOnly = config.mode !== "edit";
  const flowApi = useReactFlow<FlowNode, FlowEdge>();
  const [types, setTypes] = useState<NodeTypeInfo[]>([]);
  const [flow, setFlow] = useState<Flow | null>(null);
  const [name, setName] = useState("");
  const [loadError, setLoadError] = useState("");
  const [nodes, setNodes] = useState<FlowNode[]>([]);
  const [edges, setEdges] = useState<FlowEdge[]>([]);
  const [tab, setTab] = useState<Tab>("inspect");
  const [view, setView] = useState<View>({ kind: "draft" });
  const [versions, setVersions] = useState<Version[]>([]);
  const [versionsLoading, setVersionsLoading] = useState(false);
  const [showMinimap, setShowMinimap] = useState(true);
  const [showPalette, setShowPalette] = useState(() => window.innerWidth >= 1360);
  const [snap, setSnap] = useState(true);
  const [publishOpen, setPublishOpen] = useState(false);
  const [publishNote, setPublishNote] = useState("");
  const [publishError, setPublishError] = useState("");
  const [restoreAsk, setRestoreAsk] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const { toasts, push } = useToasts();
  const viewStore = useMemo(() => createStore<CanvasState>(emptyCanvasState()), []);
  const problems = useStore(store, (s) => s.problems);

  const catalogue: Catalogue = useMemo(() => Object.fromEntries(types.map((t) => [t.type, t])), [types]);
  const graph = useMemo(() => (flow ? toGraph(nodes, edges) : null), [flow, nodes, edges]);
  const json = useMemo(() => (graph ? JSON.stringify(graph) : ""), [graph]);
  const setProblems = useCallback((list: GraphProblem[]) => store.set(indexProblems(list)), [store]);
  const draft = useDraft({ flowId: config.flowId, enabled: !readOnly, graph, json, onProblems: setProblems });
  const testRun = useTestRun({ flowId: config.flowId, store, nodes, save: draft.save, onProblems: setProblems });

  // History for undo/redo: snapshots of the graph before each change.
  const undoStack = useRef<{ graph: Graph; key: string; at: number }[]>([]);
  const redoStack = useRef<Graph[]>([]);
  const [, setHistoryTick] = useState(0);
  const nodesRef = useRef(nodes);
  nodesRef.current = nodes;
  const edgesRef = useRef(edges);
  edgesRef.current = edges;

  const snapshot = useCallback((key = "") => {
    const last = undoStack.current[undoStack.current.length - 1];
    const now = Date.now();
    if (key && last && last.key === key && now - last.at < 1500) {
      last.at = now;
      return;
    }
    undoStack.current.push({ graph: toGraph(nodesRef.current, edgesRef.current), key, at: now });
    if (undoStack.current.length > MAX_HISTORY) undoStack.current.shift();
    redoStack.current = [];
    setHistoryTick((t) => t + 1);
  }, []);

  const loadGraph = useCallback((g: Graph, select?: Set<string>) => {
    const flowGraph = toFlow(g);
    setNodes(flowGraph.nodes.map((n) => ({ ...n, selected: select?.has(n.id) ?? false })));
    setEdges(flowGraph.edges);
  }, []);

  const undo = useCallback(() => {
    const entry = undoStack.current.pop();
    if (!entry) return;
    redoStack.current.push(toGraph(nodesRef.current, edgesRef.current));
    loadGraph(entry.graph);
    setHistoryTick((t) => t + 1);
  }, [loadGraph]);

  const redo = useCallback(() => {
    const next = redoStack.current.pop();
    if (!next) return;
    undoStack.current.push({ graph: toGraph(nodesRef.current, edgesRef.current), key: "", at: 0 });
    loadGraph(next);
    setHistoryTick((t) => t + 1);
  }, [loadGraph]);

  // Load the flow and the node-type catalogue.
  useEffect(() => {
    let live = true;
    Promise.all([api<NodeTypeInfo[]>("GET", "/node-types"), api<Flow>("GET", `/flows/${config.flowId}`)])
      .then(([nodeTypes, loaded]) => {
        if (!live) return;
        setTypes(nodeTypes);
        const normal = toFlow(loaded.graph);
        draft.reset(loaded.revision, JSON.stringify(toGraph(normal.nodes, normal.edges)));
        // A graph written by a program may have no positions at all: lay it out once.
        if (normal.nodes.length > 1 && normal.nodes.every((n) => n.position.x === 0 && n.position.y === 0)) {
          normal.nodes = autoLayout(normal.nodes, normal.edges);
        }
        setNodes(normal.nodes);
        setEdges(normal.edges);
        setFlow(loaded);
        setName(loaded.name);
      })
      .catch((e) => live && setLoadError(e.message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [config.flowId]);

  useEffect(() => {
    if (flow) onReady?.();
  }, [flow, onReady]);

  // Retry loops and their bounds, for drawing.
  useEffect(() => {
    const maxAttempts: Record<string, number> = {};
    for (const n of nodes) if (n.data.kind === "evaluator") maxAttempts[n.id] = Number(n.data.config.max_attempts ?? 3);
    store.set({ retryEdges: retryEdgeIds(nodes, edges), maxAttempts });
    // Positions do not change loops: recompute on structure only.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [edges, nodes.length, nodes.map((n) => JSON.stringify(n.data.config.max_attempts ?? "")).join()]);

  const selectedNodes = nodes.filter((n) => n.selected);
  const selectedEdges = edges.filter((e) => e.selected);
  const selectedNode = selectedNodes.length === 1 && !selectedEdges.length ? selectedNodes[0] : null;
  const selectedEdge = selectedEdges.length === 1 && !selectedNodes.length ? selectedEdges[0] : null;
  const labelOf = useCallback(
    (id: string) => {
      const n = nodesRef.current.find((x) => x.id === id);
      return n?.data.label || id;
    },
    [],
  );

  const selectedId = selectedNode?.id;
  useEffect(() => {
    if (selectedId && view.kind === "draft") setTab((t) => (t === "history" ? t : "inspect"));
  }, [selectedId, view.kind]);

  // --- changes from the canvas -------------------------------------------------------------
  const onNodesChange = useCallback((changes: NodeChange<FlowNode>[]) => {
    setNodes((ns) => applyNodeChanges(changes, ns));
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange<FlowEdge>[]) => {
    setEdges((es) => applyEdgeChanges(changes, es));
  }, []);
  const onConnect = useCallback(
    (c: Connection) => {
      snapshot();
      setEdges((es) => [
        ...es,
        { id: newEdgeId(), type: "sb", source: c.source, sourceHandle: c.sourceHandle ?? "out", target: c.target, targetHandle: c.targetHandle ?? "in" },
      ]);
    },
    [snapshot],
  );

  const addNode = useCallback(
    (type: string, at?: { x: number; y: number }) => {
      const info = catalogue[type];
      if (!info || readOnly) return;
      snapshot();
      const taken = new Set(nodesRef.current.map((n) => n.id));
      const id = uniqueNodeId(type, taken);
      let position = at;
      if (!position) {
        const pane = document.querySelector(".sb-canvas-wrap")?.getBoundingClientRect();
        const centre = pane ? { x: pane.left + pane.width / 2, y: pane.top + pane.height / 2 } : { x: 400, y: 300 };
        position = flowApi.screenToFlowPosition(centre);
        const stagger = (nodesRef.current.length % 5) * 24;
        position = { x: position.x - NODE_WIDTH / 2 + stagger, y: position.y - 40 + stagger };
      }
      const sameType = nodesRef.current.filter((n) => n.data.kind === type).length;
      const node: FlowNode = {
        id,
        type: "sb",
        position: { x: Math.round(position.x / 16) * 16, y: Math.round(position.y / 16) * 16 },
        data: { kind: type, label: sameType ? `${info.label} ${sameType + 1}` : info.label, config: starterConfig(info) },
        selected: true,
      };
      setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), node]);
      setEdges((es) => es.map((e) => (e.selected ? { ...e, selected: false } : e)));
      setTab("inspect");
    },
    [catalogue, readOnly, snapshot, flowApi],
  );

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

  const updateNode = useCallback(
    (id: string, patch: Partial<FlowNode["data"]>, key: string) => {
      snapshot(key);
      setNodes((ns) => ns.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...patch } } : n)));
    },
    [snapshot],
  );

  const deleteSelection = useCallback(() => {
    const doomed = new Set(nodesRef.current.filter((n) => n.selected).map((n) => n.id));
    const edgeDoomed = new Set(edgesRef.current.filter((e) => e.selected).map((e) => e.id));
    if (!doomed.size && !edgeDoomed.size) return;
    snapshot();
    setNodes((ns) => ns.filter((n) => !doomed.has(n.id)));
    setEdges((es) => es.filter((e) => !edgeDoomed.has(e.id) && !doomed.has(e.source) && !doomed.has(e.target)));
  }, [snapshot]);

  // --- clipboard -----------------------------------------------------------------------------
  const clipboard = useRef<Clipboard | null>(null);
  const copy = useCallback(() => {
    const picked = nodesRef.current.filter((n) => n.selected);
    if (!picked.length) return false;
    const ids = new Set(picked.map((n) => n.id));
    const g = toGraph(picked, edgesRef.current.filter((e) => ids.has(e.source) && ids.has(e.target)));
    clipboard.current = { graph: g, pastes: 0 };
    try {
      localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(g));
    } catch {
      /* storage full or disabled: the in-page clipboard still works */
    }
    push(`Copied ${picked.length} node${picked.length === 1 ? "" : "s"}`);
    return true;
  }, [push]);

  const paste = useCallback(() => {
    if (readOnly) return;
    let source = clipboard.current;
    if (!source) {
      try {
        const stored = localStorage.getItem(CLIPBOARD_KEY);
        if (stored) source = clipboard.current = { graph: JSON.parse(stored), pastes: 0 };
      } catch {
        source = null;
      }
    }
    if (!source || !source.graph.nodes.length) return;
    source.pastes += 1;
    const offset = 32 * source.pastes;
    snapshot();
    const taken = new Set(nodesRef.current.map((n) => n.id));
    const rename = new Map<string, string>();
    for (const n of source.graph.nodes) {
      const id = uniqueNodeId(n.type, taken);
      taken.add(id);
      rename.set(n.id, id);
    }
    const pasted = toFlow({
      schema_version: 1,
      nodes: source.graph.nodes.map((n) => ({ ...n, id: rename.get(n.id) as string, position: { x: n.position.x + offset, y: n.position.y + offset } })),
      edges: source.graph.edges.map((e) => ({ ...e, id: newEdgeId(), source: rename.get(e.source) as string, target: rename.get(e.target) as string })),
    });
    setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), ...pasted.nodes.map((n) => ({ ...n, selected: true }))]);
    setEdges((es) => [...es.map((e) => (e.selected ? { ...e, selected: false } : e)), ...pasted.edges]);
  }, [readOnly, snapshot]);

  const duplicate = useCallback(() => {
    if (copy()) paste();
  }, [copy, paste]);

  const selectAll = useCallback(() => {
    setNodes((ns) => ns.map((n) => ({ ...n, selected: true })));
  }, []);

  const layout = useCallback(() => {
    if (readOnly) return;
    snapshot();
    setNodes((ns) => autoLayout(ns, edgesRef.current));
    window.setTimeout(() => flowApi.fitView({ padding: 0.2, duration: 300, maxZoom: 1 }), 50);
  }, [readOnly, snapshot, flowApi]);

  const fit = useCallback(() => flowApi.fitView({ padding: 0.2, duration: 250, maxZoom: 1 }), [flowApi]);

  const focusNode = useCallback(
    (id: string) => {
      setNodes((ns) => ns.map((n) => (n.selected !== (n.id === id) ? { ...n, selected: n.id === id } : n)));
      setEdges((es) => es.map((e) => (e.selected ? { ...e, selected: false } : e)));
      const n = nodesRef.current.find((x) => x.id === id);
      if (n) {
        const w = n.measured?.width ?? NODE_WIDTH;
        const h = n.measured?.height ?? 100;
        flowApi.setCenter(n.position.x + w / 2, n.position.y + h / 2, { zoom: Math.max(flowApi.getZoom(), 0.9), duration: 300 });
      }
    },
    [flowApi],
  );

  const pickProblem = useCallback(
    (p: GraphProblem) => {
      if (p.node_id) {
        focusNode(p.node_id);
        setTab("inspect");
      } else if (p.edge_id) {
        setNodes((ns) => ns.map((n) => (n.selected ? { ...n, selected: false } : n)));
        setEdges((es) => es.map((e) => ({ ...e, selected: e.id === p.edge_id })));
        setTab("inspect");
      }
    },
    [focusNode],
  );

  // --- versions ------------------------------------------------------------------------------
  const loadVersions = useCallback(async () => {
    setVersionsLoading(true);
    try {
      setVersions(await api<Version[]>("GET", `/flows/${config.flowId}/versions`));
    } catch (e) {
      push((e as Error).message, "error");
    } finally {
      setVersionsLoading(false);
    }
  }, [config.flowId, push]);

  useEffect(() => {
    if (tab === "history") void loadVersions();
  }, [tab, loadVersions]);

  const fetchGraph = useCallback(
    async (side: Side): Promise<Graph> => {
      if (side === "draft") return toGraph(nodesRef.current, edgesRef.current);
      const v = await api<Version & { graph: Graph }>("GET", `/flows/${config.flowId}/versions/${side}`);
      return v.graph;
    },
    [config.flowId],
  );

  const viewVersion = useCallback(
    async (n: number) => {
      try {
        const v = await api<Version & { graph: Graph }>("GET", `/flows/${config.flowId}/versions/${n}`);
        const g = toFlow(v.graph);
        viewStore.set({ ...emptyCanvasState(), retryEdges: retryEdgeIds(g.nodes, g.edges) });
        setView({ kind: "version", number: n, version: v, nodes: g.nodes, edges: g.edges });
      } catch (e) {
        push((e as Error).message, "error");
      }
    },
    [config.flowId, push, viewStore],
  );

  const compare = useCallback(
    async (a: Side, b: Side) => {
      try {
        const [before, after] = await Promise.all([fetchGraph(a), fetchGraph(b)]);
        const diff = diffGraphs(before, after);
        const g = toFlow(diff.merged);
        viewStore.set({
          ...emptyCanvasState(),
          retryEdges: retryEdgeIds(g.nodes, g.edges),
          diff: { nodes: Object.fromEntries(diff.nodes), edges: Object.fromEntries(diff.edges) },
        });
        const name = (s: Side) => (s === "draft" ? "the draft" : `v${s}`);
        setView({ kind: "diff", title: `Changes from ${name(a)} to ${name(b)}`, diff, nodes: g.nodes, edges: g.edges });
        setTab("history");
      } catch (e) {
        push((e as Error).message, "error");
      }
    },
    [fetchGraph, push, viewStore],
  );

  const restore = useCallback(
    async (n: number) => {
      setRestoreAsk(null);
      setBusy(true);
      try {
        if (!(await draft.save())) throw new Error("Resolve the save conflict first.");
        snapshot();
        const out = await api<Flow>("POST", `/flows/${config.flowId}/versions/${n}/restore`, { revision: draft.revision.current });
        const normal = toFlow(out.graph);
        draft.reset(out.revision, JSON.stringify(toGraph(normal.nodes, normal.edges)));
        loadGraph(out.graph);
        setView({ kind: "draft" });
        push(`Restored v${n} into the draft. Undo brings your previous draft back.`, "success");
        window.setTimeout(fit, 50);
      } catch (e) {
        push((e as Error).message, "error");
      } finally {
        setBusy(false);
      }
    },
    [config.flowId, draft, snapshot, loadGraph, push, fit],
  );

  const publish = useCallback(async () => {
    setBusy(true);
    setPublishError("");
    try {
      if (!(await draft.save())) throw new Error("The draft is not saved yet; resolve that first.");
      const v = await api<Version>("POST", `/flows/${config.flowId}/versions`, { note: publishNote });
      setPublishOpen(false);
      setPublishNote("");
      push(`Published v${v.number}.`, "success");
      setFlow((f) => (f ? { ...f, published_version: v.number } : f));
      void loadVersions();
    } catch (e) {
      const err = e as ApiError;
      if (err.body?.errors) setProblems(err.body.errors as GraphProblem[]);
      setPublishError(err.message);
    } finally {
      setBusy(false);
    }
  }, [config.flowId, draft, publishNote, push, loadVersions, setProblems]);

  // --- conflicts -----------------------------------------------------------------------------
  const reloadTheirs = useCallback(async () => {
    setBusy(true);
    try {
      snapshot();
      const loaded = await api<Flow>("GET", `/flows/${config.flowId}`);
      const normal = toFlow(loaded.graph);
      draft.reset(loaded.revision, JSON.stringify(toGraph(normal.nodes, normal.edges)));
      loadGraph(loaded.graph);
      setName(loaded.name);
      push("Loaded the latest saved version. Undo brings your changes back.", "success");
    } catch (e) {
      push((e as Error).message, "error");
    } finally {
      setBusy(false);
    }
  }, [config.flowId, draft, loadGraph, push, snapshot]);

  const overwrite = useCallback(async () => {
    if (!draft.conflict) return;
    setBusy(true);
    const ok = await draft.save(draft.conflict.currentRevision);
    setBusy(false);
    if (ok) push("Saved your version as the newest draft.", "success");
  }, [draft, push]);

  const saveAsCopy = useCallback(async () => {
    if (!flow) return;
    setBusy(true);
    try {
      const copyFlow = await api<Flow>("POST", "/flows", {
        workspace: flow.workspace,
        name: `${name} (your changes)`.slice(0, 200),
        description: flow.description,
        graph: toGraph(nodesRef.current, edgesRef.current),
      });
      draft.reset(draft.revision.current, json);
      window.location.assign(`/flows/${copyFlow.id}/`);
    } catch (e) {
      push((e as Error).message, "error");
      setBusy(false);
    }
  }, [flow, name, draft, json, push]);

  const duplicateFlow = useCallback(async () => {
    try {
      if (!(await draft.save())) throw new Error("Save the draft first.");
      const copyFlow = await api<Flow>("POST", `/flows/${config.flowId}/duplicate`);
      window.location.assign(`/flows/${copyFlow.id}/`);
    } catch (e) {
      push((e as Error).message, "error");
    }
  }, [config.flowId, draft, push]);

  const rename = useCallback(async () => {
    if (!flow || readOnly) return;
    const clean = name.trim();
    if (!clean) return setName(flow.name);
    if (clean === flow.name) return;
    try {
      const out = await api<Flow>("PATCH", `/flows/${config.flowId}`, { name: clean });
      setFlow((f) => (f ? { ...f, name: out.name } : f));
      document.title = `${out.name} · Switchboard`;
    } catch (e) {
      push((e as Error).message, "error");
      setName(flow.name);
    }
  }, [flow, name, readOnly, config.flowId, push]);

  // --- keyboard --------------------------------------------------------------------------------
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const modKey = e.metaKey || e.ctrlKey;
      if (modKey && e.key.toLowerCase() === "s") {
        e.preventDefault();
        void draft.save();
        return;
      }
      if (typing(e.target) || document.querySelector("dialog[open]") || view.kind !== "draft") return;
      const key = e.key.toLowerCase();
      if (modKey && key === "z" && !e.shiftKey && !readOnly) undo();
      else if (modKey && ((key === "z" && e.shiftKey) || key === "y") && !readOnly) redo();
      else if (modKey && key === "c") copy();
      else if (modKey && key === "x" && !readOnly) {
        if (copy()) deleteSelection();
      } else if (modKey && key === "v" && !readOnly) paste();
      else if (modKey && key === "d" && !readOnly) duplicate();
      else if (modKey && key === "a") selectAll();
      else if (e.shiftKey && e.code === "Digit1") fit();
      else if (e.shiftKey && key === "l" && !readOnly) layout();
      else if (key === "escape") {
        setNodes((ns) => ns.map((n) => (n.selected ? { ...n, selected: false } : n)));
        setEdges((es) => es.map((x) => (x.selected ? { ...x, selected: false } : x)));
      }
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [draft, view.kind, readOnly, undo, redo, copy, paste, duplicate, selectAll, fit, layout, deleteSelection]);

  // --- inspector scope (template variables, people) ----------------------------------------------
  const scope = useMemo(
    () => ({
      workspaceId: config.workspaceId,
      variables: (id: string) => availableVariables(id, nodes, edges),
      issues: (text: string, id: string) => templateIssues(text, id, nodes, edges),
    }),
    [config.workspaceId, nodes, edges],
  );

  if (loadError) {
    return (
      <div className="sb-editor-error" role="alert">
        <h2>This flow could not be opened</h2>
        <p>{loadError}</p>
        <a className="sb-btn" href={config.flowsUrl ?? "/"}>
          Back to flows
        </a>
      </div>
    );
  }
  if (!flow) {
    return (
      <div className="sb-editor-loading" aria-busy="true">
        <div className="sb-spinner" aria-hidden="true" /> Opening the flow…
      </div>
    );
  }

  const editItems: MenuItem[] = [
    { label: "Undo", shortcut: `${mod}Z`, onSelect: undo, disabled: readOnly || !undoStack.current.length },
    { label: "Redo", shortcut: `${mod}⇧Z`, onSelect: redo, disabled: readOnly || !redoStack.current.length },
    { label: "", onSelect: () => undefined, separator: true },
    { label: "Cut", shortcut: `${mod}X`, onSelect: () => copy() && deleteSelection(), disabled: readOnly || !selectedNodes.length },
    { label: "Copy", shortcut: `${mod}C`, onSelect: () => void copy(), disabled: !selectedNodes.length },
    { label: "Paste", shortcut: `${mod}V`, onSelect: paste, disabled: readOnly },
    { label: "Duplicate", shortcut: `${mod}D`, onSelect: duplicate, disabled: readOnly || !selectedNodes.length },
    { label: "Delete", shortcut: "⌫", onSelect: deleteSelection, disabled: readOnly || (!selectedNodes.length && !selectedEdges.length) },
    { label: "", onSelect: () => undefined, separator: true },
    { label: "Select all", shortcut: `${mod}A`, onSelect: selectAll },
    { label: "Save now", shortcut: `${mod}S`, onSelect: () => void draft.save(), disabled: readOnly },
  ];
  const viewItems: MenuItem[] = [
    { label: "Fit view", shortcut: "⇧1", onSelect: fit },
    { label: "Zoom in", shortcut: `${mod}+`, onSelect: () => flowApi.zoomIn({ duration: 150 }) },
    { label: "Zoom out", shortcut: `${mod}−`, onSelect: () => flowApi.zoomOut({ duration: 150 }) },
    { label: "Tidy up (auto-layout)", shortcut: "⇧L", onSelect: layout, disabled: readOnly },
    { label: "", onSelect: () => undefined, separator: true },
    { label: "Node palette", onSelect: () => setShowPalette((v) => !v), checked: showPalette, disabled: readOnly },
    { label: "Minimap", onSelect: () => setShowMinimap((v) => !v), checked: showMinimap },
    { label: "Snap to grid", onSelect: () => setSnap((v) => !v), checked: snap },
  ];
  const flowItems: MenuItem[] = [
    {
      label: "Export as JSON",
      onSelect: () => {
        // A download link, not a navigation: leaving the page would trip the unsaved guard.
        const link = document.createElement("a");
        link.href = `/api/flows/${config.flowId}/export`;
        link.download = "";
        link.click();
      },
    },
    { label: "Duplicate flow", onSelect: () => void duplicateFlow(), disabled: readOnly },
    { label: "", onSelect: () => undefined, separator: true },
    { label: "Publish a version…", onSelect: () => setPublishOpen(true), disabled: readOnly },
    { label: "Version history", onSelect: () => setTab("history") },
    { label: "Problems", onSelect: () => setTab("problems") },
  ];
  const addItems: MenuItem[] = types.map((t) => ({ label: `${t.label}  ·  ${t.category}`, onSelect: () => addNode(t.type), disabled: readOnly }));

  const statusText = {
    saved: "Saved",
    dirty: "Unsaved changes",
    saving: "Saving…",
    error: draft.retrying ? "Couldn't save · retrying" : "Couldn't save",
    conflict: "Not saved · conflict",
    readonly: "Read only",
  }[draft.status];

  const viewing = view.kind !== "draft" ? view : null;
  const canvasStore = viewing ? viewStore : store;

  return (
    <CanvasContext.Provider value={{ catalogue, store: canvasStore, readOnly: readOnly || !!viewing }}>
      <InspectorContext.Provider value={scope}>
        <div className={`sb-editor${readOnly ? " is-readonly" : ""}`}>
          <div className="sb-editor-bar" role="toolbar" aria-label="Flow editor">
            <a className="sb-icon-btn" href={config.flowsUrl ?? "/"} aria-label="Back to flows">
              <Icon name="back" />
            </a>
            <input
              className="sb-flow-name"
              value={name}
              aria-label="Flow name"
              readOnly={readOnly}
              onChange={(e) => setName(e.target.value)}
              onBlur={rename}
              onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
              size={Math.max(8, Math.min(40, name.length + 1))}
            />
            <span className={`sb-save-status status-${draft.status}`} data-save-status={draft.status} role="status" title={draft.lastError || undefined}>
              <span className="sb-save-dot" aria-hidden="true" />
              {statusText}
            </span>
            {flow.published_version ? <span className="sb-badge sb-badge-neutral">v{flow.published_version} live</span> : null}
            <div className="sb-bar-menus">
              {!readOnly && <MenuButton label="Add" items={addItems} icon={<Icon name="plus" size={14} />} />}
              <MenuButton label="Flow" items={flowItems} />
              <MenuButton label="Edit" items={editItems} />
              <MenuButton label="View" items={viewItems} />
            </div>
            <div className="sb-bar-spacer" />
            {!readOnly && (
              <>
                <button type="button" className="sb-icon-btn" aria-label="Undo" title={`Undo (${mod}Z)`} onClick={undo} disabled={!undoStack.current.length || !!viewing}>
                  <Icon name="undo" />
                </button>
                <button type="button" className="sb-icon-btn" aria-label="Redo" title={`Redo (${mod}⇧Z)`} onClick={redo} disabled={!redoStack.current.length || !!viewing}>
                  <Icon name="redo" />
                </button>
                <button type="button" className="sb-icon-btn" aria-label="Tidy up layout" title="Tidy up layout (⇧L)" onClick={layout} disabled={!!viewing}>
                  <Icon name="layout" />
                </button>
              </>
            )}
            <button type="button" className="sb-icon-btn" aria-label="Fit view" title="Fit view (⇧1)" onClick={fit}>
              <Icon name="fit" />
            </button>
            <span className="sb-bar-sep" aria-hidden="true" />
            <button
              type="button"
              className={`sb-btn sb-btn-sm ${problems.length ? "sb-btn-warn" : "sb-btn-ghost"}`}
              onClick={() => setTab("problems")}
              data-problem-total={problems.length}
            >
              <Icon name={problems.length ? "alert" : "check"} size={14} />
              {problems.length ? `${problems.length} problem${problems.length === 1 ? "" : "s"}` : "No problems"}
            </button>
            <button type="button" className="sb-btn sb-btn-sm sb-btn-ghost" onClick={() => setTab("history")}>
              <Icon name="history" size={14} /> History
            </button>
            <button type="button" className={`sb-btn sb-btn-sm ${tab === "run" ? "sb-btn-ghost is-active" : "sb-btn-ghost"}`} onClick={() => setTab("run")} data-action="open-test-run">
              <Icon name="play" size={14} /> Test run
            </button>
            {!readOnly && (
              <button type="button" className="sb-btn sb-btn-sm sb-btn-primary" onClick={() => setPublishOpen(true)}>
                Publish
              </button>
            )}
          </div>

          <div className="sb-editor-body">
            {!readOnly && !viewing && <Palette types={types} onAdd={(t) => addNode(t)} open={showPalette} onToggle={() => setShowPalette((v) => !v)} />}
            <div className="sb-canvas-wrap" onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-view={view.kind}>
              {viewing && (
                <div className={`sb-view-banner view-${viewing.kind}`} role="status">
                  {viewing.kind === "version" ? (
                    <span>
                      <strong>Viewing v{viewing.number}</strong> · read only · {viewing.version.note || "no note"}
                    </span>
                  ) : (
                    <span>
                      <strong>{viewing.title}</strong>
                      <span className="sb-legend">
                        <span className="diff-added">added</span>
                        <span className="diff-changed">changed</span>
                        <span className="diff-removed">removed</span>
                      </span>
                    </span>
                  )}
                  <span className="sb-view-actions">
                    {viewing.kind === "version" && !readOnly && (
                      <button type="button" className="sb-btn sb-btn-sm" onClick={() => setRestoreAsk(viewing.number)}>
                        Restore into draft
                      </button>
                    )}
                    <button type="button" className="sb-btn sb-btn-sm sb-btn-primary" onClick={() => setView({ kind: "draft" })}>
                      Back to draft
                    </button>
                  </span>
                </div>
              )}
              {viewing ? (
                <ViewCanvas key={`${viewing.kind}-${viewing.kind === "version" ? viewing.number : viewing.title}`} nodes={viewing.nodes} edges={viewing.edges} catalogue={catalogue} />
              ) : (
                <FlowCanvas
                  nodes={nodes}
                  edges={edges}
                  readOnly={readOnly}
                  onNodesChange={onNodesChange}
                  onEdgesChange={onEdgesChange}
                  showMinimap={showMinimap}
                  snap={snap}
                  categoryOf={(k) => catalogue[k]?.category ?? ""}
                  extra={{
                    onConnect,
                    onNodeDragStart: () => snapshot(),
                    onBeforeDelete: async () => {
                      snapshot();
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
            <aside className="sb-side" aria-label="Details">
              <div className="sb-tabs" role="tablist" aria-label="Panels">
                {(
                  [
                    ["inspect", "Inspector"],
                    ["problems", `Problems${problems.length ? ` (${problems.length})` : ""}`],
                    ["history", "History"],
                    ["run", "Test run"],
                  ] as [Tab, string][]
                ).map(([id, label]) => (
                  <button
                    key={id}
                    type="button"
                    role="tab"
                    id={`sb-tab-${id}`}
                    aria-selected={tab === id}
                    aria-controls={`sb-tabpanel-${id}`}
                    className={id === "problems" && problems.length ? "has-problems" : ""}
                    onClick={() => setTab(id)}
                  >
                    {label}
                  </button>
                ))}
              </div>
              <div className="sb-tabpanel" role="tabpanel" id={`sb-tabpanel-${tab}`} aria-labelledby={`sb-tab-${tab}`}>
                {tab === "inspect" && (
                  <Inspector
                    node={viewing ? null : selectedNode}
                    edge={viewing ? null : selectedEdge}
                    selectedCount={viewing ? 0 : selectedNodes.length + selectedEdges.length}
                    selectedNodeCount={viewing ? 0 : selectedNodes.length}
                    catalogue={catalogue}
                    problems={problems}
                    readOnly={readOnly}
                    labelOf={labelOf}
                    onLabel={(id, label) => updateNode(id, { label }, `label:${id}`)}
                    onConfig={(id, cfg: JsonObject) => updateNode(id, { config: cfg }, `config:${id}`)}
                    onDelete={deleteSelection}
                    onDuplicate={duplicate}
                    nodes={nodes}
                    edges={edges}
                    onConnect={(source, sourceHandle, target, targetHandle) => onConnect({ source, sourceHandle, target, targetHandle })}
                    onDisconnect={(id) => {
                      snapshot();
                      setEdges((es) => es.filter((e) => e.id !== id));
                    }}
                  />
                )}
                {tab === "problems" && <Problems problems={problems} labelOf={labelOf} onPick={pickProblem} />}
                {tab === "history" && (
                  <>
                    {view.kind === "diff" && (
                      <DiffDetails
                        diff={view.diff}
                        labelOf={(id) => view.nodes.find((n) => n.id === id)?.data.label || id}
                        onPick={(id) => {
                          const n = view.nodes.find((x) => x.id === id);
                          if (n) flowApi.setCenter(n.position.x + NODE_WIDTH / 2, n.position.y + 50, { zoom: 1, duration: 300 });
                        }}
                      />
                    )}
                    <Versions
                      versions={versions}
                      loading={versionsLoading}
                      readOnly={readOnly}
                      viewing={view.kind === "version" ? view.number : null}
                      onView={viewVersion}
                      onCompare={compare}
                      onRestore={(n) => setRestoreAsk(n)}
                      onPublish={() => setPublishOpen(true)}
                    />
                  </>
                )}
                {tab === "run" && (
                  <TestRunPanel
                    nodes={nodes}
                    canRun={!readOnly && ["owner", "editor"].includes(flow.role)}
                    session={testRun.session}
                    error={testRun.error}
                    starting={testRun.starting}
                    lastInputs={testRun.lastInputs.current}
                    onStart={(inputs) => void testRun.start(inputs)}
                    onClear={testRun.clear}
                    onFocusNode={focusNode}
                  />
                )}
              </div>
            </aside>
          </div>

          <div className="sb-toast-region" role="status" aria-live="polite">
            {toasts.map((t) => (
              <div key={t.id} className={`sb-toast sb-toast-${t.kind}`}>
                {t.text}
              </div>
            ))}
          </div>

          <Modal
            title="Publish a version"
            open={publishOpen}
            onClose={() => setPublishOpen(false)}
            actions={
              <>
                <button type="button" className="sb-btn" onClick={() => setPublishOpen(false)}>
                  Cancel
                </button>
                <button type="button" className="sb-btn sb-btn-primary" disabled={busy} onClick={publish}>
                  Publish
                </button>
              </>
            }
          >
            <p className="sb-muted">Publishing freezes the draft as a new version. Runs always point at the exact version they ran.</p>
            <label htmlFor="sb-publish-note">Note</label>
            <textarea
              id="sb-publish-note"
              className="sb-input"
              rows={3}
              maxLength={500}
              placeholder="What changed?"
              value={publishNote}
              onChange={(e) => setPublishNote(e.target.value)}
            />
            {publishError && (
              <p className="sb-error" role="alert">
                {publishError}
                {problems.length ? ` ${problems.length} problem${problems.length === 1 ? "" : "s"} listed under Problems.` : ""}
              </p>
            )}
          </Modal>

          <Modal
            title={`Restore v${restoreAsk ?? ""} into the draft?`}
            open={restoreAsk !== null}
            onClose={() => setRestoreAsk(null)}
            actions={
              <>
                <button type="button" className="sb-btn" onClick={() => setRestoreAsk(null)}>
                  Cancel
                </button>
                <button type="button" className="sb-btn sb-btn-primary" disabled={busy} onClick={() => restoreAsk !== null && restore(restoreAsk)}>
                  Restore v{restoreAsk}
                </button>
              </>
            }
          >
            <p>The draft is replaced by v{restoreAsk}. Published versions do not change, and Undo brings the current draft back.</p>
          </Modal>

          <Modal
            title="Someone else saved this flow"
            tone="warning"
            open={!!draft.conflict}
            onClose={() => undefined}
            actions={
              <>
                <button type="button" className="sb-btn" disabled={busy} onClick={reloadTheirs}>
                  Reload their version
                </button>
                <button type="button" className="sb-btn" disabled={busy} onClick={saveAsCopy}>
                  Save mine as a copy
                </button>
                <button type="button" className="sb-btn sb-btn-primary" disabled={busy} onClick={overwrite}>
                  Overwrite with mine
                </button>
              </>
            }
          >
            <p className="sb-conflict-text">
              This flow was saved in another tab or by another person (now at revision {draft.conflict?.currentRevision}) after you opened it. Your changes
              have <strong>not</strong> been saved, and nothing is lost: they are still here.
            </p>
            <ul className="sb-conflict-options">
              <li>
                <strong>Reload their version</strong> to continue from what was saved (Undo brings yours back).
              </li>
              <li>
                <strong>Save mine as a copy</strong> to keep both: yours becomes a new flow.
              </li>
              <li>
                <strong>Overwrite with mine</strong> to make your version the newest draft.
              </li>
            </ul>
          </Modal>
        </div>
      </InspectorContext.Provider>
    </CanvasContext.Provider>
  );
}

function ViewCanvas({ nodes: initialNodes, edges, catalogue }: { nodes: FlowNode[]; edges: FlowEdge[]; catalogue: Catalogue }) {
  const [nodes, setNodes] = useState(initialNodes);
  return (
    <FlowCanvas
      nodes={nodes}
      edges={edges}
      readOnly
      onNodesChange={(changes) => setNodes((ns) => applyNodeChanges(changes, ns))}
      categoryOf={(k) => catalogue[k]?.category ?? ""}
      label="Read-only flow canvas"
    />
  );
}
