// Published versions: the list, viewing one read-only, comparing two (or one with the draft),
// restoring one into the draft, and publishing the draft.
import { useCallback, useEffect, useMemo, useState } from "react";
import { api, ApiError } from "../api";
import { emptyCanvasState, type CanvasState } from "../context";
import { diffGraphs, type GraphDiff } from "../diff";
import { retryEdgeIds, toFlow, toGraph, type FlowEdge, type FlowNode } from "../graph";
import { createStore } from "../store";
import type { Flow, Graph, GraphProblem, Version } from "../types";
import type { Side } from "../components/Versions";
import type { FlowDocument } from "./useFlowDocument";
import type { FlowGraph } from "./useFlowGraph";
import type { PushToast } from "./useToasts";

export type View =
  | { kind: "draft" }
  | { kind: "version"; number: number; version: Version; nodes: FlowNode[]; edges: FlowEdge[] }
  | { kind: "diff"; title: string; diff: GraphDiff; nodes: FlowNode[]; edges: FlowEdge[] };

export function useVersions({ flowId, historyOpen, doc, g, push, onShowHistory }: {
  flowId: number;
  historyOpen: boolean;
  doc: FlowDocument;
  g: FlowGraph;
  push: PushToast;
  onShowHistory: () => void;
}) {
  const [versions, setVersions] = useState<Version[]>([]);
  const [loading, setLoading] = useState(false);
  const [view, setView] = useState<View>({ kind: "draft" });
  const [publishOpen, setPublishOpen] = useState(false);
  const [publishNote, setPublishNote] = useState("");
  const [publishError, setPublishError] = useState("");
  const [restoreAsk, setRestoreAsk] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const viewStore = useMemo(() => createStore<CanvasState>(emptyCanvasState()), []);
  const { draft, setFlow, setProblems } = doc;
  const { nodesRef, edgesRef, snapshot, loadGraph, fit } = g;

  const loadVersions = useCallback(async () => {
    setLoading(true);
    try {
      setVersions(await api<Version[]>("GET", `/flows/${flowId}/versions`));
    } catch (e) {
      push((e as Error).message, "error");
    } finally {
      setLoading(false);
    }
  }, [flowId, push]);

  useEffect(() => {
    if (historyOpen) void loadVersions();
  }, [historyOpen, loadVersions]);

  const fetchGraph = useCallback(
    async (side: Side): Promise<Graph> => {
      if (side === "draft") return toGraph(nodesRef.current, edgesRef.current);
      const v = await api<Version & { graph: Graph }>("GET", `/flows/${flowId}/versions/${side}`);
      return v.graph;
    },
    [flowId, nodesRef, edgesRef],
  );

  const viewVersion = useCallback(
    async (n: number) => {
      try {
        const v = await api<Version & { graph: Graph }>("GET", `/flows/${flowId}/versions/${n}`);
        const flowGraph = toFlow(v.graph);
        viewStore.set({ ...emptyCanvasState(), retryEdges: retryEdgeIds(flowGraph.nodes, flowGraph.edges) });
        setView({ kind: "version", number: n, version: v, nodes: flowGraph.nodes, edges: flowGraph.edges });
      } catch (e) {
        push((e as Error).message, "error");
      }
    },
    [flowId, push, viewStore],
  );

  const compare = useCallback(
    async (a: Side, b: Side) => {
      try {
        const [before, after] = await Promise.all([fetchGraph(a), fetchGraph(b)]);
        const diff = diffGraphs(before, after);
        const merged = toFlow(diff.merged);
        viewStore.set({
          ...emptyCanvasState(),
          retryEdges: retryEdgeIds(merged.nodes, merged.edges),
          diff: { nodes: Object.fromEntries(diff.nodes), edges: Object.fromEntries(diff.edges) },
        });
        const name = (s: Side) => (s === "draft" ? "the draft" : `v${s}`);
        setView({ kind: "diff", title: `Changes from ${name(a)} to ${name(b)}`, diff, nodes: merged.nodes, edges: merged.edges });
        onShowHistory();
      } catch (e) {
        push((e as Error).message, "error");
      }
    },
    [fetchGraph, push, viewStore, onShowHistory],
  );

  const restore = useCallback(
    async (n: number) => {
      setRestoreAsk(null);
      setBusy(true);
      try {
        if (!(await draft.save())) throw new Error("Resolve the save conflict first.");
        snapshot();
        const out = await api<Flow>("POST", `/flows/${flowId}/versions/${n}/restore`, { revision: draft.revision.current });
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
    [flowId, draft, snapshot, loadGraph, push, fit],
  );

  const publish = useCallback(async () => {
    setBusy(true);
    setPublishError("");
    try {
      if (!(await draft.save())) throw new Error("The draft is not saved yet; resolve that first.");
      const v = await api<Version & { warnings?: GraphProblem[] }>("POST", `/flows/${flowId}/versions`, { note: publishNote });
      setPublishOpen(false);
      setPublishNote("");
      const warnings = v.warnings ?? [];
      setProblems([], warnings);
      if (!warnings.length) push(`Published v${v.number}.`, "success");
      else if (warnings.length === 1) push(`Published v${v.number}. Warning: ${warnings[0].message}`, "warning");
      else push(`Published v${v.number}, with ${warnings.length} warnings listed under Problems.`, "warning");
      setFlow((f) => (f ? { ...f, published_version: v.number } : f));
      void loadVersions();
    } catch (e) {
      const err = e as ApiError;
      if (err.body?.errors) setProblems(err.body.errors as GraphProblem[], err.body.warnings as GraphProblem[] | undefined);
      setPublishError(err.message);
    } finally {
      setBusy(false);
    }
  }, [flowId, draft, publishNote, push, loadVersions, setProblems, setFlow]);

  return {
    versions,
    loading,
    view,
    setView,
    viewStore,
    viewVersion,
    compare,
    restore,
    publish,
    busy,
    publishOpen,
    setPublishOpen,
    publishNote,
    setPublishNote,
    publishError,
    restoreAsk,
    setRestoreAsk,
  };
}

export type Versioning = ReturnType<typeof useVersions>;
