// Copy, paste and duplicate of selected nodes (and the edges between them), kept in
// localStorage too so a paste works in another tab or another flow.
import { useCallback, useRef } from "react";
import { newEdgeId, toFlow, toGraph, uniqueNodeId } from "../graph";
import type { Graph } from "../types";
import type { FlowGraph } from "./useFlowGraph";
import type { PushToast } from "./useToasts";

const CLIPBOARD_KEY = "switchboard.clipboard";
const PASTE_OFFSET = 32;

interface Clipboard {
  graph: Graph;
  pastes: number;
}

export function useClipboard(g: FlowGraph, readOnly: boolean, push: PushToast) {
  const clipboard = useRef<Clipboard | null>(null);
  const { nodesRef, edgesRef, snapshot, setNodes, setEdges } = g;

  const copy = useCallback(() => {
    const picked = nodesRef.current.filter((n) => n.selected);
    if (!picked.length) return false;
    const ids = new Set(picked.map((n) => n.id));
    const graph = toGraph(picked, edgesRef.current.filter((e) => ids.has(e.source) && ids.has(e.target)));
    clipboard.current = { graph, pastes: 0 };
    try {
      localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(graph));
    } catch {
      /* storage full or disabled: the in-page clipboard still works */
    }
    push(`Copied ${picked.length} node${picked.length === 1 ? "" : "s"}`);
    return true;
  }, [nodesRef, edgesRef, push]);

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
    const offset = PASTE_OFFSET * source.pastes;
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
      nodes: source.graph.nodes.map(({ key: _key, parent, ...n }) => ({
        ...n,
        // Inside a map copied along: inside its copy, at the same place; else out on the canvas.
        ...(parent && rename.has(parent) ? { parent: rename.get(parent) } : {}),
        id: rename.get(n.id) as string,
        position: parent && rename.has(parent) ? n.position : { x: n.position.x + offset, y: n.position.y + offset },
      })),
      edges: source.graph.edges.map((e) => ({ ...e, id: newEdgeId(), source: rename.get(e.source) as string, target: rename.get(e.target) as string })),
    });
    setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), ...pasted.nodes.map((n) => ({ ...n, selected: true }))]);
    setEdges((es) => [...es.map((e) => (e.selected ? { ...e, selected: false } : e)), ...pasted.edges]);
  }, [readOnly, snapshot, nodesRef, setNodes, setEdges]);

  const duplicate = useCallback(() => {
    if (copy()) paste();
  }, [copy, paste]);

  return { copy, paste, duplicate };
}
