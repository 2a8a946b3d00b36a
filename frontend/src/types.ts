// Shapes of the Switchboard API documents the canvas works with.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface GraphNode {
  id: string;
  type: string;
  label: string;
  /** A readable name templates may use instead of the id (docs/node-keys.md); kept on rename. */
  key?: string;
  /** The map whose region holds the node (drawn inside it); its position is then relative. */
  parent?: string;
  position: { x: number; y: number };
  config: JsonObject;
}

export interface GraphEdge {
  id: string;
  source: string;
  source_port: string;
  target: string;
  target_port: string;
}

export interface Graph {
  schema_version: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface Port {
  name: string;
  label: string;
  required: boolean;
}

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: Json;
  enum?: Json[];
  format?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
}

export interface NodeTypeInfo {
  type: string;
  label: string;
  category: string;
  help: string;
  inputs: Port[];
  outputs: Port[];
  dynamic_outputs: boolean;
  /** The port a failed step's typed error leaves by, present while `error_port_when` holds. */
  error_port?: Port | null;
  error_port_when?: JsonObject;
  /** Nodes may be placed inside it (their `parent`): it runs them once per item (a map). */
  holds_region?: boolean;
  config_schema: JsonSchema;
}

export interface GraphProblem {
  code: string;
  message: string;
  node_id: string | null;
  edge_id: string | null;
  field: string | null;
  /** A warning (graph.W… codes) does not block publishing; absent: an error. */
  severity?: "warning";
}

export interface Flow {
  id: number;
  workspace: number;
  name: string;
  description: string;
  revision: number;
  published_version: number | null;
  graph: Graph;
  role: string;
}

export interface Version {
  number: number;
  note: string;
  published: boolean;
  created_by: string | null;
  created_at: string;
}

export interface People {
  users: { username: string; display_name: string }[];
  groups: { name: string }[];
}

/** A step's state in a run, shown as a badge on its node (driven by the run page). */
export type RunState = "queued" | "running" | "succeeded" | "failed" | "skipped" | "waiting" | "reused" | "cancelled";

/** What a node shows beside its run state: loop passes, the ports it took, streamed text. */
export interface NodeRunInfo {
  /** Loop passes so far (an evaluator sending work back makes a node run more than once). */
  iterations?: number;
  /** The output ports the node's finished step took (a router's route, an evaluator's pass/fail). */
  ports?: string[] | null;
  /** A router's chosen route. */
  route?: string | null;
  /** The tail of the text a running step is streaming. */
  preview?: string;
}
