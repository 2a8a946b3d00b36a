// The editor's test run: start a run of the draft, follow its websocket, and paint each step's
// state on the editing canvas. The event folding and the stream are the run page's own modules,
// so the panel and the run page always agree.
import { useCallback, useEffect, useRef, useState } from "react";
import { RunModel } from "../../static/js/run_state.js";
import { RunStream } from "../../static/js/run_stream.js";
import { api, ApiError } from "./api";
import type { CanvasState } from "./context";
import type { FlowNode } from "./graph";
import type { Store } from "./store";
import type { GraphProblem, JsonObject } from "./types";

export interface TestRunError {
  title: string;
  items: { text: string; nodeId?: string | null }[];
}

export interface TestRunSession {
  runId: number;
  model: RunModel;
  stream: string;
}

interface Started {
  id: number;
  status: string;
}

export function useTestRun({ flowId, store, nodes, save, onProblems }: {
  flowId: number;
  store: Store<CanvasState>;
  nodes: FlowNode[];
  save: () => Promise<boolean>;
  onProblems: (problems: GraphProblem[]) => void;
}) {
  const [session, setSession] = useState<TestRunSession | null>(null);
  const [error, setError] = useState<TestRunError | null>(null);
  const [starting, setStarting] = useState(false);
  const [, setTick] = useState(0);
  const lastInputs = useRef<JsonObject | null>(null);
  const stream = useRef<RunStream | null>(null);
  const frame = useRef(0);
  const nodesRef = useRef(nodes);
  nodesRef.current = nodes;

  const paint = useCallback(
    (model: RunModel) => {
      store.set({ runStates: model.nodeStates(), runInfo: model.nodeInfo() });
      setTick((t) => t + 1);
    },
    [store],
  );

  const stop = useCallback(() => {
    stream.current?.stop();
    stream.current = null;
    cancelAnimationFrame(frame.current);
  }, []);

  useEffect(() => stop, [stop]);

  // Keep the elapsed time moving while the run is going.
  const running = !!session && !session.model.finished;
  useEffect(() => {
    if (!running) return;
    const timer = window.setInterval(() => setTick((t) => t + 1), 500);
    return () => window.clearInterval(timer);
  }, [running]);

  const clear = useCallback(() => {
    stop();
    setSession(null);
    setError(null);
    store.set({ runStates: {}, runInfo: {} });
  }, [stop, store]);

  const start = useCallback(
    async (inputs: JsonObject) => {
      lastInputs.current = inputs;
      setError(null);
      setStarting(true);
      try {
        if (!(await save())) {
          setError({ title: "The draft could not be saved, so it was not run.", items: [{ text: "Resolve the save problem shown in the toolbar, then run again." }] });
          return;
        }
        const started = await api<Started>("POST", `/flows/${flowId}/runs`, { inputs, use_draft: true });
        stop();
        const meta = Object.fromEntries(nodesRef.current.map((n) => [n.id, { type: n.data.kind, label: n.data.label }]));
        const model = new RunModel({ run: { id: started.id, status: started.status }, nodes: meta });
        const next: TestRunSession = { runId: started.id, model, stream: "connecting" };
        store.set({ runStates: {}, runInfo: {} });
        setSession(next);
        const follow = new RunStream(started.id, {
          after: 0,
          onEvent: (event: unknown) => {
            model.apply(event as never);
            paint(model);
          },
          onDelta: (message: unknown) => {
            if (model.applyDelta(message as never) && !frame.current) {
              frame.current = requestAnimationFrame(() => {
                frame.current = 0;
                paint(model);
              });
            }
          },
          onStatus: (status: string) => {
            next.stream = status;
            setTick((t) => t + 1);
          },
        });
        stream.current = follow;
        follow.start();
      } catch (e) {
        setError(describe(e, nodesRef.current));
        if (e instanceof ApiError && e.code === "graph_invalid" && Array.isArray(e.body.errors)) {
          onProblems(e.body.errors as GraphProblem[]);
        }
      } finally {
        setStarting(false);
      }
    },
    [flowId, paint, save, stop, store, onProblems],
  );

  return { session, error, starting, start, clear, lastInputs };
}

function describe(e: unknown, nodes: FlowNode[]): TestRunError {
  if (!(e instanceof ApiError)) return { title: "The run could not be started.", items: [{ text: e instanceof Error ? e.message : String(e) }] };
  const errors = Array.isArray(e.body.errors) ? (e.body.errors as unknown[]) : [];
  const labelOf = (id: string | null | undefined) => nodes.find((n) => n.id === id)?.data.label || id || "";
  if (e.code === "invalid_inputs") {
    return { title: "These inputs do not match the flow's input form:", items: errors.map((text) => ({ text: String(text) })) };
  }
  if (e.code === "graph_invalid") {
    return {
      title: "The flow has problems to fix before it can run:",
      items: errors.map((raw) => {
        const p = raw as GraphProblem;
        return { text: p.node_id ? `${labelOf(p.node_id)}: ${p.message}` : p.message, nodeId: p.node_id };
      }),
    };
  }
  if (e.status === 403) return { title: "Your role cannot run this flow.", items: [{ text: "Ask a workspace owner to make you an editor." }] };
  return { title: "The run could not be started.", items: [{ text: e.message }] };
}
