// Undo and redo: snapshots of the graph taken before each change. Edits of one field in quick
// succession share a snapshot (keyed), so undo steps back a word, not a keystroke.
import { useCallback, useRef, useState, type MutableRefObject } from "react";
import { toGraph, type FlowEdge, type FlowNode } from "../graph";
import type { Graph } from "../types";

const MAX_HISTORY = 100;
const MERGE_WINDOW_MS = 1500;

export interface History {
  snapshot: (key?: string) => void;
  undo: () => void;
  redo: () => void;
  canUndo: boolean;
  canRedo: boolean;
}

export function useHistory(
  nodesRef: MutableRefObject<FlowNode[]>,
  edgesRef: MutableRefObject<FlowEdge[]>,
  loadGraph: (g: Graph) => void,
): History {
  const undoStack = useRef<{ graph: Graph; key: string; at: number }[]>([]);
  const redoStack = useRef<Graph[]>([]);
  const [, setTick] = useState(0);
  const current = () => toGraph(nodesRef.current, edgesRef.current);

  const snapshot = useCallback((key = "") => {
    const last = undoStack.current[undoStack.current.length - 1];
    const now = Date.now();
    if (key && last && last.key === key && now - last.at < MERGE_WINDOW_MS) {
      last.at = now;
      return;
    }
    undoStack.current.push({ graph: current(), key, at: now });
    if (undoStack.current.length > MAX_HISTORY) undoStack.current.shift();
    redoStack.current = [];
    setTick((t) => t + 1);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const undo = useCallback(() => {
    const entry = undoStack.current.pop();
    if (!entry) return;
    redoStack.current.push(current());
    loadGraph(entry.graph);
    setTick((t) => t + 1);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [loadGraph]);

  const redo = useCallback(() => {
    const next = redoStack.current.pop();
    if (!next) return;
    undoStack.current.push({ graph: current(), key: "", at: 0 });
    loadGraph(next);
    setTick((t) => t + 1);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [loadGraph]);

  return { snapshot, undo, redo, canUndo: undoStack.current.length > 0, canRedo: redoStack.current.length > 0 };
}
