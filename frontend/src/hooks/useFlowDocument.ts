// The flow as a document on the server: loading it with the node-type catalogue, autosave and
// live validation (useDraft), renaming, and the ways out of a save conflict.
import { useCallback, useEffect, useMemo, useState } from "react";
import { api } from "../api";
import { indexProblems, isWarning, withWarnings, type CanvasState } from "../context";
import { useDraft } from "../draft";
import { toFlow, toGraph } from "../graph";
import { withEstimates } from "../estimate";
import { autoLayout } from "../layout";
import type { Store } from "../store";
import type { Flow, GraphProblem, NodeTypeInfo } from "../types";
import { useSettled } from "./useContentNodes";
import type { FlowGraph } from "./useFlowGraph";
import type { PushToast } from "./useToasts";

/** The editor canvas's box before React Flow has measured it (a flow loaded without positions). */
function viewport(): { width: number; height: number } | undefined {
  const el = document.querySelector(".sb-canvas-wrap");
  return el ? { width: el.clientWidth, height: el.clientHeight } : undefined;
}

export function useFlowDocument({ flowId, readOnly, store, g, push, onTypes }: {
  flowId: number;
  readOnly: boolean;
  store: Store<CanvasState>;
  g: FlowGraph;
  push: PushToast;
  onTypes: (types: NodeTypeInfo[]) => void;
}) {
  const [flow, setFlow] = useState<Flow | null>(null);
  const [name, setName] = useState("");
  const [loadError, setLoadError] = useState("");
  const [busy, setBusy] = useState(false);
  const { nodes, edges, setNodes, setEdges, loadGraph, snapshot, nodesRef, edgesRef } = g;

  // While a node is dragged its position changes every frame: the draft follows when it lands.
  const dragging = nodes.some((n) => n.dragging);
  const settledNodes = useSettled(nodes, dragging);
  const graph = useMemo(() => (flow ? toGraph(settledNodes, edges) : null), [flow, settledNodes, edges]);
  const json = useMemo(() => (graph ? JSON.stringify(graph) : ""), [graph]);
  // Without `warnings` (a refused test run lists only errors) the warnings shown stay.
  const setProblems = useCallback(
    (errors: GraphProblem[], warnings?: GraphProblem[]) =>
      store.set(indexProblems(withWarnings(errors, warnings ?? store.get().problems.filter(isWarning)))),
    [store],
  );
  const draft = useDraft({ flowId, enabled: !readOnly, graph, json, onProblems: setProblems });

  useEffect(() => {
    let live = true;
    Promise.all([api<NodeTypeInfo[]>("GET", "/node-types"), api<Flow>("GET", `/flows/${flowId}`)])
      .then(([nodeTypes, loaded]) => {
        if (!live) return;
        onTypes(nodeTypes);
        const normal = toFlow(loaded.graph);
        draft.reset(loaded.revision, JSON.stringify(toGraph(normal.nodes, normal.edges)));
        // A graph written by a program may have no positions at all: lay it out once.
        if (normal.nodes.length > 1 && normal.nodes.every((n) => n.position.x === 0 && n.position.y === 0)) {
          normal.nodes = autoLayout(normal.nodes, normal.edges, { viewport: viewport() });
        }
        setNodes(withEstimates(normal.nodes, Object.fromEntries(nodeTypes.map((t) => [t.type, t]))));
        setEdges(normal.edges);
        setFlow(loaded);
        setName(loaded.name);
      })
      .catch((e) => live && setLoadError(e.message));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [flowId]);

  const rename = useCallback(async () => {
    if (!flow || readOnly) return;
    const clean = name.trim();
    if (!clean) return setName(flow.name);
    if (clean === flow.name) return;
    try {
      const out = await api<Flow>("PATCH", `/flows/${flowId}`, { name: clean });
      setFlow((f) => (f ? { ...f, name: out.name } : f));
      document.title = `${out.name} · Switchboard`;
    } catch (e) {
      push((e as Error).message, "error");
      setName(flow.name);
    }
  }, [flow, name, readOnly, flowId, push]);

  const reloadTheirs = useCallback(async () => {
    setBusy(true);
    try {
      snapshot();
      const loaded = await api<Flow>("GET", `/flows/${flowId}`);
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
  }, [flowId, draft, loadGraph, push, snapshot]);

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
  }, [flow, name, draft, json, push, nodesRef, edgesRef]);

  const duplicateFlow = useCallback(async () => {
    try {
      if (!(await draft.save())) throw new Error("Save the draft first.");
      const copyFlow = await api<Flow>("POST", `/flows/${flowId}/duplicate`);
      window.location.assign(`/flows/${copyFlow.id}/`);
    } catch (e) {
      push((e as Error).message, "error");
    }
  }, [flowId, draft, push]);

  return { flow, setFlow, name, setName, loadError, busy, draft, setProblems, rename, reloadTheirs, overwrite, saveAsCopy, duplicateFlow };
}

export type FlowDocument = ReturnType<typeof useFlowDocument>;
