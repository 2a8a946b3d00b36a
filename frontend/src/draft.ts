// Keeping the draft in step with the server: debounced validation and autosave with the
// revision. A stale save is never retried blindly: it stops and asks the user what to do.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "./api";
import type { Graph, GraphProblem } from "./types";

export type SaveStatus = "saved" | "dirty" | "saving" | "error" | "conflict" | "readonly";

export interface Conflict {
  currentRevision: number;
  message: string;
}

interface SaveOut {
  revision: number;
  valid: boolean;
  errors: GraphProblem[];
  warnings?: GraphProblem[];
}

const SAVE_DELAY = 900;
const VALIDATE_DELAY = 300;

export function useDraft(options: {
  flowId: number | null;
  enabled: boolean;
  graph: Graph | null;
  json: string;
  /** The validator's errors and warnings (what will fail when the flow runs). */
  onProblems: (errors: GraphProblem[], warnings?: GraphProblem[]) => void;
}) {
  const { flowId, enabled, graph, json, onProblems } = options;
  const [status, setStatus] = useState<SaveStatus>(enabled ? "saved" : "readonly");
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [lastError, setLastError] = useState("");
  const [retrying, setRetrying] = useState(false);
  const retryTimer = useRef<number>();
  const retryLater = () => {
    window.clearTimeout(retryTimer.current);
    const delay = Math.min(30_000, 2_000 * 2 ** (failures.current - 1));
    retryTimer.current = window.setTimeout(() => void saveRef.current(), delay);
  };
  const saveRef = useRef<(force?: number) => Promise<boolean>>(async () => true);
  const revision = useRef(0);
  const savedJson = useRef("");
  const latest = useRef({ graph, json });
  latest.current = { graph, json };
  const inFlight = useRef<Promise<boolean> | null>(null);
  const saveTimer = useRef<number>();
  const failures = useRef(0);
  const conflictRef = useRef<Conflict | null>(null);
  conflictRef.current = conflict;
  const problemsCallback = useRef(onProblems);
  problemsCallback.current = onProblems;

  /** Start tracking a graph the server holds at `rev` (after a load, a reload or a restore). */
  const reset = useCallback((rev: number, serverJson: string) => {
    revision.current = rev;
    savedJson.current = serverJson;
    setConflict(null);
    failures.current = 0;
    setStatus(enabled ? "saved" : "readonly");
  }, [enabled]);

  const save = useCallback(async (force?: number): Promise<boolean> => {
    if (!enabled || flowId == null || !latest.current.graph) return true;
    if (inFlight.current) {
      await inFlight.current;
      if (latest.current.json === savedJson.current) return true;
    }
    if (conflictRef.current && force === undefined) return false;
    const { graph: sending, json: sendingJson } = latest.current;
    if (sendingJson === savedJson.current && force === undefined) {
      setStatus("saved");
      return true;
    }
    setStatus("saving");
    const attempt = (async () => {
      try {
        const out = await api<SaveOut>("PUT", `/flows/${flowId}/draft`, {
          graph: sending,
          revision: force ?? revision.current,
        });
        revision.current = out.revision;
        savedJson.current = sendingJson;
        failures.current = 0;
        setConflict(null);
        setLastError("");
        problemsCallback.current(out.errors, out.warnings ?? []);
        setStatus(latest.current.json === sendingJson ? "saved" : "dirty");
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.status === 409) {
          const current = Number(error.body.current_revision ?? 0);
          setConflict({ currentRevision: current, message: error.message });
          setStatus("conflict");
        } else {
          failures.current += 1;
          setLastError(error instanceof Error ? error.message : String(error));
          setStatus("error");
          // Network trouble and server errors pass: retry with backoff. A refusal (4xx) will
          // not pass by itself; the next edit tries again.
          const transient = !(error instanceof ApiError) || error.status >= 500 || [408, 429].includes(error.status);
          setRetrying(transient);
          if (transient) retryLater();
        }
        return false;
      } finally {
        inFlight.current = null;
      }
    })();
    inFlight.current = attempt;
    const ok = await attempt;
    if (ok && latest.current.json !== savedJson.current) schedule();
    return ok;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enabled, flowId]);

  saveRef.current = save;

  const schedule = useCallback(() => {
    window.clearTimeout(saveTimer.current);
    saveTimer.current = window.setTimeout(() => void save(), SAVE_DELAY);
  }, [save]);

  // Autosave after each change settles.
  useEffect(() => {
    if (!enabled || !savedJson.current || json === savedJson.current) return;
    if (!conflictRef.current) {
      setStatus((s) => (s === "saving" ? s : "dirty"));
      schedule();
    }
  }, [json, enabled, schedule]);

  // Validate as you edit (the server's rules, debounced), not only on save.
  useEffect(() => {
    if (flowId == null || !graph) return;
    const controller = new AbortController();
    const timer = window.setTimeout(() => {
      api<{ errors: GraphProblem[]; warnings?: GraphProblem[] }>("POST", `/flows/${flowId}/validate`, { graph }, controller.signal)
        .then((out) => problemsCallback.current(out.errors, out.warnings ?? []))
        .catch(() => undefined);
    }, VALIDATE_DELAY);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [json, flowId]);

  // Unsaved-changes guard on leaving the page.
  useEffect(() => {
    const guard = (event: BeforeUnloadEvent) => {
      if (enabled && (latest.current.json !== savedJson.current || inFlight.current)) {
        event.preventDefault();
        event.returnValue = "";
      }
    };
    window.addEventListener("beforeunload", guard);
    return () => window.removeEventListener("beforeunload", guard);
  }, [enabled]);

  const hasUnsaved = () => enabled && (latest.current.json !== savedJson.current || !!inFlight.current);

  return {
    status,
    conflict,
    lastError,
    retrying,
    revision,
    reset,
    save,
    hasUnsaved,
    dismissConflict: () => setConflict(null),
  };
}
