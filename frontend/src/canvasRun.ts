// Paint a run's step states on the editing canvas from its events (used by the Test run tab's
// chat; the form's test run paints from testRun.ts the same way).
import { useEffect, useMemo, useRef } from "react";
import { RunModel } from "../../static/js/run_state.js";
import type { CanvasState } from "./context";
import type { FlowNode } from "./graph";
import type { Store } from "./store";

/** Paint the steps of one run at a time on the canvas as its events arrive (the chat's runs,
 * one per message): a new run replaces the last one's states. */
export function useCanvasRun(store: Store<CanvasState>, nodes: FlowNode[]) {
  const nodesRef = useRef(nodes);
  nodesRef.current = nodes;
  const frame = useRef(0);
  const current = useRef<RunModel | null>(null);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  return useMemo(() => {
    const paint = (model: RunModel) => {
      if (current.current === model) store.set({ runStates: model.nodeStates(), runInfo: model.nodeInfo() });
    };
    return {
      begin(runId: number): RunModel {
        const meta = Object.fromEntries(nodesRef.current.map((n) => [n.id, { type: n.data.kind, label: n.data.label }]));
        const model = new RunModel({ run: { id: runId, status: "queued" }, nodes: meta });
        current.current = model;
        store.set({ runStates: {}, runInfo: {} });
        return model;
      },
      event(model: RunModel, event: unknown) {
        model.apply(event as never);
        paint(model);
      },
      delta(model: RunModel, message: unknown) {
        if (model.applyDelta(message as never) && !frame.current) {
          frame.current = requestAnimationFrame(() => {
            frame.current = 0;
            paint(model);
          });
        }
      },
      clear() {
        current.current = null;
        store.set({ runStates: {}, runInfo: {} });
      },
    };
  }, [store]);
}
