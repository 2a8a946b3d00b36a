// The flow editor: composes the toolbar and menus, palette, canvas, side panel and dialogs.
// State lives in hooks: useFlowGraph (nodes, edges, undo), useFlowDocument (load, autosave,
// conflicts), useVersions (history, diffs, publish), useClipboard, useEditorKeys.
import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { useCatalogs } from "../catalogs";
import { CanvasContext, InspectorContext, isWarning, type CanvasState } from "../context";
import { retryEdgeIds, NODE_WIDTH, type Catalogue } from "../graph";
import { useClipboard } from "../hooks/useClipboard";
import { useEditorKeys, type KeyActions } from "../hooks/useEditorKeys";
import { useContentEdges, useContentNodes } from "../hooks/useContentNodes";
import { useFlowDocument } from "../hooks/useFlowDocument";
import { useFlowGraph } from "../hooks/useFlowGraph";
import { useToasts } from "../hooks/useToasts";
import { useVersions } from "../hooks/useVersions";
import { Icon } from "../icons";
import { useStore, type Store } from "../store";
import { availableVariables, templateIssues, templateReferences } from "../templates";
import { useTestRun } from "../testRun";
import type { GraphProblem, JsonObject, NodeTypeInfo } from "../types";
import { CanvasArea } from "./editor/CanvasArea";
import { ConflictDialog, PublishDialog, RestoreDialog } from "./editor/EditorDialogs";
import { EditorToolbar } from "./editor/EditorToolbar";
import { downloadExport, editorMenus } from "./editor/menus";
import { SidePanel, type Tab } from "./editor/SidePanel";
import { Inspector } from "./Inspector";
import { Palette } from "./Palette";
import { Problems } from "./Problems";
import { ToastRegion } from "./ui";

// Panels opened now and then load as chunks when first shown, keeping the editor's first load small.
const TestRunTab = lazy(() => import("./TestRunPanel"));
const TriggersPanel = lazy(() => import("./triggers/TriggersPanel"));
const Versions = lazy(() => import("./Versions").then((m) => ({ default: m.Versions })));
const DiffDetails = lazy(() => import("./Versions").then((m) => ({ default: m.DiffDetails })));
const loading = <p className="sb-panel-empty sb-muted">Loading…</p>;

export interface EditorConfig {
  flowId: number;
  workspaceId: number;
  mode: "edit" | "readonly";
  flowsUrl?: string;
}

export function Editor({ config, store, onReady }: { config: EditorConfig; store: Store<CanvasState>; onReady?: () => void }) {
  const readOnly = config.mode !== "edit";
  const [types, setTypes] = useState<NodeTypeInfo[]>([]);
  const [tab, setTab] = useState<Tab>("inspect");
  const [showMinimap, setShowMinimap] = useState(true);
  const [showPalette, setShowPalette] = useState(() => window.innerWidth >= 1360);
  const [snap, setSnap] = useState(true);
  const { toasts, push } = useToasts();
  const catalogs = useCatalogs();
  const problems = useStore(store, (s) => s.problems);
  const warnings = useMemo(() => problems.filter(isWarning), [problems]);
  const errorCount = problems.length - warnings.length;
  const catalogue: Catalogue = useMemo(() => Object.fromEntries(types.map((t) => [t.type, t])), [types]);
  const showInspector = useCallback(() => setTab("inspect"), []);
  const showHistory = useCallback(() => setTab("history"), []);
  const togglePalette = useCallback(() => setShowPalette((x) => !x), []);

  const g = useFlowGraph({ catalogue, readOnly, onAdded: showInspector });
  const { nodes, edges, nodesRef, flowApi } = g;
  const doc = useFlowDocument({ flowId: config.flowId, readOnly, store, g, push, onTypes: setTypes });
  const v = useVersions({ flowId: config.flowId, historyOpen: tab === "history", doc, g, push, onShowHistory: showHistory });
  const clip = useClipboard(g, readOnly, push);
  const testRun = useTestRun({ flowId: config.flowId, store, nodes: g.nodes, save: doc.draft.save, onProblems: doc.setProblems });
  const { flow, draft } = doc;
  const viewing = v.view.kind !== "draft" ? v.view : null;

  useEffect(() => {
    if (flow) onReady?.();
  }, [flow, onReady]);

  // Retry loops and their bounds, for drawing. Positions do not change loops: recompute on
  // structure only.
  const contentNodes = useContentNodes(nodes);
  const contentEdges = useContentEdges(edges);
  useEffect(() => {
    const maxAttempts: Record<string, number> = {};
    for (const n of contentNodes) if (n.data.kind === "evaluator") maxAttempts[n.id] = Number(n.data.config.max_attempts ?? 3);
    store.set({ retryEdges: retryEdgeIds(contentNodes, contentEdges), maxAttempts });
  }, [store, contentNodes, contentEdges]);

  const selectedNodes = nodes.filter((n) => n.selected);
  const selectedEdges = edges.filter((e) => e.selected);
  // The inspector shows content only: the content copy of the node does not change while it moves.
  const selectedOne = selectedNodes.length === 1 && !selectedEdges.length ? selectedNodes[0].id : null;
  const selectedNode = selectedOne ? (contentNodes.find((n) => n.id === selectedOne) ?? null) : null;
  const selectedEdge = selectedEdges.length === 1 && !selectedNodes.length ? selectedEdges[0] : null;
  const labelOf = useCallback((id: string) => nodesRef.current.find((x) => x.id === id)?.data.label || id, [nodesRef]);

  const selectedId = selectedNode?.id;
  useEffect(() => {
    if (selectedId && v.view.kind === "draft") setTab((t) => (t === "history" ? t : "inspect"));
  }, [selectedId, v.view.kind]);

  const pickProblem = useCallback(
    (p: GraphProblem) => {
      if (p.node_id) g.focusNode(p.node_id);
      else if (p.edge_id) g.selectEdge(p.edge_id);
      else return;
      setTab("inspect");
    },
    [g],
  );

  const { updateNode, onConnect } = g;
  const onLabel = useCallback((id: string, label: string) => updateNode(id, { label }, `label:${id}`), [updateNode]);
  const onConfig = useCallback((id: string, cfg: JsonObject) => updateNode(id, { config: cfg }, `config:${id}`), [updateNode]);
  const connectPorts = useCallback(
    (source: string, sourceHandle: string, target: string, targetHandle: string) => onConnect({ source, sourceHandle, target, targetHandle }),
    [onConnect],
  );

  const cut = useCallback(() => {
    if (clip.copy()) g.deleteSelection();
  }, [clip, g]);
  const keys: KeyActions = useMemo(
    () => ({
      save: () => void draft.save(),
      undo: g.history.undo,
      redo: g.history.redo,
      copy: clip.copy,
      cut,
      paste: clip.paste,
      duplicate: clip.duplicate,
      selectAll: g.selectAll,
      fit: g.fit,
      layout: g.layout,
      clearSelection: g.clearSelection,
    }),
    [draft, g, clip, cut],
  );
  useEditorKeys(keys, { enabled: v.view.kind === "draft", readOnly });

  // Inspector scope: template variables and people.
  const scope = useMemo(
    () => ({
      workspaceId: config.workspaceId,
      flowId: config.flowId,
      variables: (id: string) => availableVariables(id, contentNodes, contentEdges, catalogs.tools),
      issues: (text: string, id: string) => templateIssues(text, id, contentNodes, contentEdges, catalogs.tools),
      references: (text: string) => templateReferences(text, contentNodes),
      catalogs,
    }),
    [config.workspaceId, config.flowId, contentNodes, contentEdges, catalogs],
  );

  // One value per mode: a new context object would re-render every node on the canvas.
  const canvasReadOnly = readOnly || !!viewing;
  const canvasStore = viewing ? v.viewStore : store;
  const canvasContext = useMemo(() => ({ catalogue, store: canvasStore, readOnly: canvasReadOnly }), [catalogue, canvasStore, canvasReadOnly]);

  if (doc.loadError) {
    return (
      <div className="sb-editor-error" role="alert">
        <h2>This flow could not be opened</h2>
        <p>{doc.loadError}</p>
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

  const menus = editorMenus({
    readOnly,
    types,
    hasSelection: selectedNodes.length + selectedEdges.length > 0,
    hasNodeSelection: selectedNodes.length > 0,
    canUndo: g.history.canUndo,
    canRedo: g.history.canRedo,
    showPalette,
    showMinimap,
    snap,
    addNode: (t) => void g.addNode(t),
    undo: g.history.undo,
    redo: g.history.redo,
    cut,
    copy: () => void clip.copy(),
    paste: clip.paste,
    duplicate: clip.duplicate,
    deleteSelection: g.deleteSelection,
    selectAll: g.selectAll,
    save: () => void draft.save(),
    fit: g.fit,
    zoomIn: () => void flowApi.zoomIn({ duration: 150 }),
    zoomOut: () => void flowApi.zoomOut({ duration: 150 }),
    layout: g.layout,
    togglePalette: () => setShowPalette((x) => !x),
    toggleMinimap: () => setShowMinimap((x) => !x),
    toggleSnap: () => setSnap((x) => !x),
    exportJson: () => downloadExport(config.flowId),
    duplicateFlow: () => void doc.duplicateFlow(),
    openPublish: () => v.setPublishOpen(true),
    openHistory: showHistory,
    openProblems: () => setTab("problems"),
  });
  const busy = doc.busy || v.busy;

  return (
    <CanvasContext.Provider value={canvasContext}>
      <InspectorContext.Provider value={scope}>
        <div className={`sb-editor${readOnly ? " is-readonly" : ""}`}>
          <EditorToolbar
            flow={flow}
            flowsUrl={config.flowsUrl}
            name={doc.name}
            onName={doc.setName}
            onRename={doc.rename}
            readOnly={readOnly}
            viewing={!!viewing}
            status={draft.status}
            retrying={draft.retrying}
            lastError={draft.lastError}
            menus={menus}
            canUndo={g.history.canUndo}
            canRedo={g.history.canRedo}
            onUndo={g.history.undo}
            onRedo={g.history.redo}
            onLayout={g.layout}
            onFit={g.fit}
            problemCount={errorCount}
            warningCount={warnings.length}
            runOpen={tab === "run"}
            triggersOpen={tab === "triggers"}
            onTab={setTab}
            onPublish={() => v.setPublishOpen(true)}
          />

          <div className="sb-editor-body">
            {!readOnly && !viewing && <Palette types={types} onAdd={g.addNode} open={showPalette} onToggle={togglePalette} />}
            <CanvasArea
              g={g}
              types={types}
              view={v.view}
              catalogue={catalogue}
              readOnly={readOnly}
              showMinimap={showMinimap}
              snap={snap}
              onRestore={v.setRestoreAsk}
              onBack={() => v.setView({ kind: "draft" })}
            />
            <SidePanel tab={tab} onTab={setTab} problemCount={errorCount} warningCount={warnings.length}>
              <Suspense fallback={loading}>
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
                  onLabel={onLabel}
                  onConfig={onConfig}
                  onDelete={g.deleteSelection}
                  onDuplicate={clip.duplicate}
                  nodes={contentNodes}
                  edges={contentEdges}
                  onConnect={connectPorts}
                  onDisconnect={g.disconnect}
                />
              )}
              {tab === "problems" && <Problems problems={problems} labelOf={labelOf} onPick={pickProblem} />}
              {tab === "history" && (
                <>
                  {v.view.kind === "diff" && (
                    <DiffDetails
                      diff={v.view.diff}
                      labelOf={(id) => (v.view.kind === "diff" && v.view.nodes.find((n) => n.id === id)?.data.label) || id}
                      onPick={(id) => {
                        const n = v.view.kind === "diff" ? v.view.nodes.find((x) => x.id === id) : undefined;
                        if (n) flowApi.setCenter(n.position.x + NODE_WIDTH / 2, n.position.y + 50, { zoom: 1, duration: 300 });
                      }}
                    />
                  )}
                  <Versions
                    versions={v.versions}
                    loading={v.loading}
                    readOnly={readOnly}
                    viewing={v.view.kind === "version" ? v.view.number : null}
                    onView={v.viewVersion}
                    onCompare={v.compare}
                    onRestore={(n) => v.setRestoreAsk(n)}
                    onPublish={() => v.setPublishOpen(true)}
                  />
                </>
              )}
              {tab === "run" && (
                <TestRunTab
                  flowId={config.flowId}
                  save={draft.save}
                  store={store}
                  nodes={contentNodes}
                  canRun={!readOnly && ["owner", "editor"].includes(flow.role)}
                  session={testRun.session}
                  error={testRun.error}
                  starting={testRun.starting}
                  lastInputs={testRun.lastInputs.current}
                  onStart={(inputs) => void testRun.start(inputs)}
                  onClear={testRun.clear}
                  onFocusNode={g.focusNode}
                />
              )}
              {tab === "triggers" && (
                <TriggersPanel flowId={config.flowId} canEdit={!readOnly && ["owner", "editor"].includes(flow.role)} published={flow.published_version != null} />
              )}
              </Suspense>
            </SidePanel>
          </div>

          <ToastRegion toasts={toasts} />

          <PublishDialog v={v} busy={busy} problemCount={errorCount} warnings={warnings} />
          <RestoreDialog v={v} busy={busy} />
          <ConflictDialog conflict={draft.conflict} busy={busy} onReload={doc.reloadTheirs} onCopy={doc.saveAsCopy} onOverwrite={doc.overwrite} />
        </div>
      </InspectorContext.Provider>
    </CanvasContext.Provider>
  );
}
