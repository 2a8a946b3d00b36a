// What every canvas component can read: the node-type catalogue, the shared store, the mode.
import { createContext, useContext } from "react";
import type { NodeChange } from "./diff";
import type { Catalogue } from "./graph";
import type { Store } from "./store";
import type { GraphProblem, NodeRunInfo, RunState } from "./types";

export interface CanvasState {
  problems: GraphProblem[];
  byNode: Record<string, GraphProblem[]>;
  byEdge: Record<string, GraphProblem[]>;
  runStates: Record<string, RunState>;
  runInfo: Record<string, NodeRunInfo>;
  diff: { nodes: Record<string, NodeChange>; edges: Record<string, string> } | null;
  retryEdges: Set<string>;
  maxAttempts: Record<string, number>;
}

export function emptyCanvasState(): CanvasState {
  return { problems: [], byNode: {}, byEdge: {}, runStates: {}, runInfo: {}, diff: null, retryEdges: new Set(), maxAttempts: {} };
}

export interface CanvasContextValue {
  catalogue: Catalogue;
  store: Store<CanvasState>;
  readOnly: boolean;
}

export const CanvasContext = createContext<CanvasContextValue | null>(null);

export function useCanvas(): CanvasContextValue {
  const value = useContext(CanvasContext);
  if (!value) throw new Error("useCanvas outside a CanvasContext");
  return value;
}

export const isWarning = (p: GraphProblem): boolean => p.severity === "warning";

/** The validator's errors and its warnings (which do not block publishing) as one list, errors first. */
export function withWarnings(errors: GraphProblem[], warnings: GraphProblem[]): GraphProblem[] {
  return [...errors, ...warnings.map((w) => ({ ...w, severity: "warning" as const }))];
}

export function indexProblems(problems: GraphProblem[]): Pick<CanvasState, "problems" | "byNode" | "byEdge"> {
  const byNode: Record<string, GraphProblem[]> = {};
  const byEdge: Record<string, GraphProblem[]> = {};
  for (const p of problems) {
    if (p.edge_id) (byEdge[p.edge_id] ??= []).push(p);
    else if (p.node_id) (byNode[p.node_id] ??= []).push(p);
  }
  return { problems, byNode, byEdge };
}

export interface InspectorScope {
  workspaceId: number | null;
  /** The flow being edited (a sub-flow node may not call it). */
  flowId: number | null;
  variables: (nodeId: string) => import("./templates").Variable[];
  issues: (text: string, nodeId: string) => import("./templates").TemplateIssue[];
  references: (text: string) => { path: string; nodeLabel: string; field: string }[];
  catalogs: import("./catalogs").Catalogs;
}

export const InspectorContext = createContext<InspectorScope>({
  workspaceId: null,
  flowId: null,
  variables: () => [],
  issues: () => [],
  references: () => [],
  catalogs: { tools: null, models: null },
});
