// The editing canvas's nodes and edges and the operations on them: changes from React Flow,
// connecting, adding, updating and deleting nodes, selection, layout and focus.
import { applyEdgeChanges, applyNodeChanges, useReactFlow, useStoreApi, type Connection, type EdgeChange, type NodeChange } from "@xyflow/react";
import { useCallback, useRef, useState } from "react";
import { newEdgeId, outputPorts, starterConfig, toFlow, uniqueNodeId, NODE_WIDTH, type Catalogue, type FlowEdge, type FlowNode } from "../graph";
import { withoutEstimate } from "../estimate";
import { autoLayout } from "../layout";
import { placeInRegions, regionBoxes, withChildren } from "../regions";
import type { Graph } from "../types";
import { canvasBox, fitReadable } from "../viewport";
import { useHistory } from "./useHistory";

const GRID = 16;

export function useFlowGraph({ catalogue, readOnly, onAdded }: { catalogue: Catalogue; readOnly: boolean; onAdded?: () => void }) {
  const flowApi = useReactFlow<FlowNode, FlowEdge>();
  const rfStore = useStoreApi<FlowNode, FlowEdge>();
  const [nodes, setNodes] = useState<FlowNode[]>([]);
  const [edges, setEdges] = useState<FlowEdge[]>([]);
  const nodesRef = useRef(nodes);
  nodesRef.current = nodes;
  const edgesRef = useRef(edges);
  edgesRef.current = edges;

  const loadGraph = useCallback((g: Graph, select?: Set<string>) => {
    const flowGraph = toFlow(g);
    setNodes(flowGraph.nodes.map((n) => ({ ...n, selected: select?.has(n.id) ?? false })));
    setEdges(flowGraph.edges);
  }, []);
  const history = useHistory(nodesRef, edgesRef, loadGraph);
  const { snapshot } = history;

  const onNodesChange = useCallback((changes: NodeChange<FlowNode>[]) => {
    setNodes((ns) => withoutEstimate(changes, applyNodeChanges(changes, ns)));
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
  const disconnect = useCallback(
    (edgeId: string) => {
      snapshot();
      setEdges((es) => es.filter((e) => e.id !== edgeId));
    },
    [snapshot],
  );

  /** The middle of the visible canvas, staggered so repeated adds do not stack exactly. */
  const centre = useCallback(() => {
    const pane = document.querySelector(".sb-canvas-wrap")?.getBoundingClientRect();
    const middle = pane ? { x: pane.left + pane.width / 2, y: pane.top + pane.height / 2 } : { x: 400, y: 300 };
    const p = flowApi.screenToFlowPosition(middle);
    const stagger = (nodesRef.current.length % 5) * 24;
    return { x: p.x - NODE_WIDTH / 2 + stagger, y: p.y - 40 + stagger };
  }, [flowApi]);

  const addNode = useCallback(
    (type: string, at?: { x: number; y: number }, intoRegion = true): string | null => {
      const info = catalogue[type];
      if (!info || readOnly) return null;
      snapshot();
      const id = uniqueNodeId(type, new Set(nodesRef.current.map((n) => n.id)));
      const position = at ?? centre();
      const sameType = nodesRef.current.filter((n) => n.data.kind === type).length;
      const node: FlowNode = {
        id,
        type: "sb",
        position: { x: Math.round(position.x / GRID) * GRID, y: Math.round(position.y / GRID) * GRID },
        data: { kind: type, label: sameType ? `${info.label} ${sameType + 1}` : info.label, config: starterConfig(info) },
        selected: true,
      };
      // Dropped on a map's region: it goes inside (its position becomes relative to the map).
      const boxes = intoRegion ? regionBoxes(nodesRef.current, catalogue, (nodeId) => flowApi.getInternalNode(nodeId)) : [];
      const at2 = new Map([[id, { ...node.position, width: NODE_WIDTH, height: 96 }]]);
      setNodes((ns) => placeInRegions([...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), node], at2, boxes));
      setEdges((es) => es.map((e) => (e.selected ? { ...e, selected: false } : e)));
      onAdded?.();
      return id;
    },
    [catalogue, readOnly, snapshot, centre, onAdded, flowApi],
  );

  /** After a drag: each moved node goes into the map region it was dropped on, or out of one. */
  const placeMoved = useCallback(
    (ids: string[]) => {
      if (readOnly) return;
      const moved = new Map<string, { x: number; y: number; width: number; height: number }>();
      for (const nodeId of ids) {
        const found = flowApi.getInternalNode(nodeId);
        if (!found) continue;
        const { x, y } = found.internals.positionAbsolute;
        moved.set(nodeId, { x, y, width: found.measured.width ?? NODE_WIDTH, height: found.measured.height ?? 96 });
      }
      // A node moved with its map (both selected) stays where it is inside it.
      const chosen = new Set(ids);
      for (const n of nodesRef.current) if (n.parentId && chosen.has(n.parentId)) moved.delete(n.id);
      const boxes = regionBoxes(nodesRef.current, catalogue, (nodeId) => flowApi.getInternalNode(nodeId));
      setNodes((ns) => placeInRegions(ns, moved, boxes));
    },
    [readOnly, flowApi, catalogue],
  );

  /** Add a node into an edge: source → new node → target, replacing the edge. */
  const insertOnEdge = useCallback(
    (type: string, at: { x: number; y: number }, edgeId: string): string | null => {
      const edge = edgesRef.current.find((e) => e.id === edgeId);
      const info = catalogue[type];
      // Dropped on an edge: it joins the edge's level (inside a map only if the edge is).
      const id = addNode(type, at, false);
      if (!id || !edge || !info) return id;
      const level = nodesRef.current.find((n) => n.id === edge.source)?.parentId;
      if (level) setNodes((ns) => placeInRegions(ns, new Map([[id, { ...at, width: NODE_WIDTH, height: 96 }]]), regionBoxes(ns, catalogue, (nodeId) => flowApi.getInternalNode(nodeId)).filter((b) => b.id === level)));
      const inPort = info.inputs[0]?.name;
      const outPort = outputPorts(info, starterConfig(info))[0]?.name;
      setEdges((es) => {
        const next = es.filter((e) => e.id !== edgeId);
        if (inPort) next.push({ id: newEdgeId(), type: "sb", source: edge.source, sourceHandle: edge.sourceHandle ?? "out", target: id, targetHandle: inPort });
        if (outPort) next.push({ id: newEdgeId(), type: "sb", source: id, sourceHandle: outPort, target: edge.target, targetHandle: edge.targetHandle ?? "in" });
        return next;
      });
      return id;
    },
    [catalogue, addNode, flowApi],
  );

  const updateNode = useCallback(
    (id: string, patch: Partial<FlowNode["data"]>, key: string) => {
      snapshot(key);
      setNodes((ns) => ns.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...patch } } : n)));
    },
    [snapshot],
  );

  const deleteSelection = useCallback(() => {
    // A map goes with the nodes inside it.
    const doomed = withChildren(new Set(nodesRef.current.filter((n) => n.selected).map((n) => n.id)), nodesRef.current);
    const edgeDoomed = new Set(edgesRef.current.filter((e) => e.selected).map((e) => e.id));
    if (!doomed.size && !edgeDoomed.size) return;
    snapshot();
    setNodes((ns) => ns.filter((n) => !doomed.has(n.id)));
    setEdges((es) => es.filter((e) => !edgeDoomed.has(e.id) && !doomed.has(e.source) && !doomed.has(e.target)));
  }, [snapshot]);

  const selectAll = useCallback(() => setNodes((ns) => ns.map((n) => ({ ...n, selected: true }))), []);
  const clearSelection = useCallback(() => {
    setNodes((ns) => ns.map((n) => (n.selected ? { ...n, selected: false } : n)));
    setEdges((es) => es.map((x) => (x.selected ? { ...x, selected: false } : x)));
  }, []);
  const selectEdge = useCallback((edgeId: string) => {
    setNodes((ns) => ns.map((n) => (n.selected ? { ...n, selected: false } : n)));
    setEdges((es) => es.map((e) => ({ ...e, selected: e.id === edgeId })));
  }, []);

  const fit = useCallback(() => fitReadable(flowApi, canvasBox(rfStore), 250), [flowApi, rfStore]);

  const layout = useCallback(() => {
    if (readOnly) return;
    snapshot();
    const viewport = canvasBox(rfStore);
    setNodes((ns) => autoLayout(ns, edgesRef.current, { viewport }));
    window.setTimeout(() => fitReadable(flowApi, canvasBox(rfStore), 300), 50);
  }, [readOnly, snapshot, flowApi, rfStore]);

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

  return {
    flowApi,
    nodes,
    edges,
    setNodes,
    setEdges,
    nodesRef,
    edgesRef,
    loadGraph,
    history,
    snapshot,
    onNodesChange,
    onEdgesChange,
    onConnect,
    disconnect,
    addNode,
    placeMoved,
    insertOnEdge,
    updateNode,
    deleteSelection,
    selectAll,
    clearSelection,
    selectEdge,
    fit,
    layout,
    focusNode,
  };
}

export type FlowGraph = ReturnType<typeof useFlowGraph>;
