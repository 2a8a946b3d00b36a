// The editor's "Test run" tab: an inputs form generated from the Input node's schema (prefilled
// with its sample), Run, then each step live, with a link to the full run page.
import { useEffect, useMemo, useRef, useState } from "react";
import { inputsForm } from "../../../static/js/run_inputs_form.js";
import { duration, money } from "../../../static/js/run_dom.js";
import { stepState } from "../../../static/js/run_state.js";
import type { CanvasState } from "../context";
import type { FlowNode } from "../graph";
import type { Store } from "../store";
import { ChatPanel } from "./ChatPanel";
import { Icon } from "../icons";
import type { TestRunError, TestRunSession } from "../testRun";
import type { JsonObject } from "../types";

const STATE_LABELS: Record<string, string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  skipped: "Skipped",
  waiting: "Waiting",
  reused: "Reused",
  cancelled: "Cancelled",
  dead_letter: "Dead-lettered",
};

const ms = (value: number | null | undefined): string => (value == null ? "" : duration(value));

function show(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** The Test run tab: a chat with the draft when its Input node takes a `message`, else the form. */
export default function TestRunTab(props: Parameters<typeof TestRunPanel>[0] & { flowId: number; save: () => Promise<boolean>; store: Store<CanvasState> }) {
  const input = props.nodes.find((n) => n.data.kind === "input");
  const properties = ((input?.data.config.schema as JsonObject | undefined)?.properties ?? {}) as JsonObject;
  const chattable = "message" in properties;
  const [mode, setMode] = useState<"form" | "chat">(chattable ? "chat" : "form");
  const shown = chattable ? mode : "form";
  return (
    <>
      {chattable && (
        <div className="sb-test-mode">
          <div className="sb-segmented" role="radiogroup" aria-label="Test with">
            {([["chat", "Chat"], ["form", "Inputs form"]] as const).map(([value, label]) => (
              <button key={value} type="button" role="radio" aria-checked={shown === value} onClick={() => setMode(value)} data-test-mode={value}>
                {label}
              </button>
            ))}
          </div>
        </div>
      )}
      {shown === "chat" ? <ChatPanel flowId={props.flowId} canRun={props.canRun} save={props.save} store={props.store} nodes={props.nodes} /> : <TestRunPanel {...props} />}
    </>
  );
}

export function TestRunPanel({ nodes, canRun, session, error, starting, lastInputs, onStart, onClear, onFocusNode }: {
  nodes: FlowNode[];
  canRun: boolean;
  session: TestRunSession | null;
  error: TestRunError | null;
  starting: boolean;
  lastInputs: JsonObject | null;
  onStart: (inputs: JsonObject) => void;
  onClear: () => void;
  onFocusNode: (id: string) => void;
}) {
  const input = nodes.find((n) => n.data.kind === "input");
  const schema = (input?.data.config.schema as JsonObject | undefined) ?? { type: "object" };
  const sample = (input?.data.config.sample as JsonObject | undefined) ?? {};
  const schemaKey = JSON.stringify([schema, sample]);
  const holder = useRef<HTMLDivElement>(null);
  const [resets, setResets] = useState(0);
  const form = useMemo(
    () => inputsForm(schema, (resets ? null : lastInputs) ?? sample, { idPrefix: "test-input" }),
    // The form is rebuilt when the Input node's schema or sample changes, or on Reset.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [schemaKey, resets],
  );
  useEffect(() => {
    const el = holder.current;
    if (!el) return;
    el.replaceChildren(form.element);
  }, [form]);

  const labelOf = (id: string) => nodes.find((n) => n.id === id)?.data.label || id;
  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const { values } = form.read();
    if (values) onStart(values as JsonObject);
  };
  const model = session?.model;
  const run = model?.run;
  const steps = model ? model.stepList() : [];
  const finished = model?.finished ?? false;
  const totals = model?.totals();
  const waiting = steps.filter((s) => s.status === "waiting");

  return (
    <div className="sb-test-run" data-slot="test-run">
      <form className="sb-test-form" onSubmit={submit} aria-label="Test run inputs" noValidate>
        <div className="sb-test-head">
          <h3 className="sb-section-title">Inputs{input ? ` · ${input.data.label || input.id}` : ""}</h3>
          {input && Object.keys(sample).length > 0 && (
            <button type="button" className="sb-link-btn" onClick={() => setResets((n) => n + 1)}>
              Reset to sample
            </button>
          )}
        </div>
        {!input && <p className="sb-muted sb-small">This flow has no Input node; it runs with no inputs.</p>}
        <div ref={holder} />
        <div className="sb-test-actions">
          <button type="submit" className="sb-btn sb-btn-primary" disabled={!canRun || starting} data-action="test-run">
            <Icon name="play" size={14} />
            {starting ? "Starting…" : session && !finished ? "Run again" : "Run draft"}
          </button>
          {session && (
            <button type="button" className="sb-btn sb-btn-ghost sb-btn-sm" onClick={onClear}>
              Clear
            </button>
          )}
        </div>
        {!canRun && <p className="sb-muted sb-small">Your role can look at this flow but not run it.</p>}
        <p className="sb-field-hint">Runs the current draft (it is saved first). Model calls are made and paid for.</p>
      </form>

      {error && (
        <div className="sb-callout sb-callout-danger" role="alert" data-test-run-error>
          <strong>{error.title}</strong>
          <ul className="sb-test-errors">
            {error.items.map((item, i) => (
              <li key={i}>
                {item.nodeId ? (
                  <button type="button" className="sb-link-btn" onClick={() => onFocusNode(item.nodeId as string)}>
                    {item.text}
                  </button>
                ) : (
                  item.text
                )}
              </li>
            ))}
          </ul>
        </div>
      )}

      {session && run && (
        <section className="sb-test-session" aria-label="Test run progress" data-test-run={session.runId}>
          <div className="sb-test-status">
            <span className={`sb-status status-${run.status}`} data-test-run-status={run.status}>
              <span className="sb-status-dot" aria-hidden="true" />
              {STATE_LABELS[run.status] ?? run.status}
            </span>
            <span className="sb-muted sb-small">Run #{session.runId}</span>
            {!finished && (
              <span className={`sb-live is-${session.stream}`} title="Live connection">
                {session.stream === "live" ? "Live" : session.stream === "reconnecting" || session.stream === "offline" ? "Reconnecting…" : "Connecting…"}
              </span>
            )}
            <a className="sb-btn sb-btn-sm sb-test-open" href={`/runs/${session.runId}/`} target="_blank" rel="noopener" data-action="open-run-page">
              Open run page
              <Icon name="up" size={12} />
            </a>
          </div>
          {totals && (
            <div className="sb-test-totals sb-small sb-muted">
              {ms(totals.duration_ms) || "—"} · {totals.tokens.toLocaleString()} tokens · {money(totals.cost)}
            </div>
          )}
          {waiting.length > 0 && (
            <div className="sb-callout sb-callout-people" role="status">
              <strong>Waiting for approval: {waiting.map((s) => labelOf(s.node_id)).join(", ")}</strong>
              <span>
                Decide on the <a href={`/runs/${session.runId}/`} target="_blank" rel="noopener">run page</a> or in the approvals inbox; this panel follows along.
              </span>
            </div>
          )}
          <ol className="sb-test-steps">
            {steps.map((step) => {
              const state = stepState(step) ?? step.status;
              return (
                <li key={step.key} className={`sb-test-step run-${state}`} data-step-node={step.node_id} data-step-state={state}>
                  <button type="button" className="sb-test-step-head" onClick={() => onFocusNode(step.node_id)}>
                    <span className="sb-run-dot" aria-hidden="true" />
                    <span className="sb-test-step-label">{labelOf(step.node_id)}</span>
                    {step.iteration > 0 && <span className="sb-badge sb-badge-neutral">pass {step.iteration + 1}</span>}
                    <span className="sb-test-step-state">{STATE_LABELS[state] ?? state}</span>
                    <span className="sb-test-step-time sb-num">
                      {step.status === "skipped" || step.reused ? "" : ms(step.latency_ms ?? (step.finished_at && step.started_at ? step.finished_at - step.started_at : null))}
                    </span>
                  </button>
                  {step.status === "running" && step.stream && (
                    <pre className="sb-stream" data-stream-node={step.node_id}>
                      {step.stream}
                      <span className="sb-caret" aria-hidden="true" />
                    </pre>
                  )}
                  {step.status === "failed" && (step.error_message || step.error_code) && (
                    <p className="sb-test-step-error">
                      {step.error_message}
                      {step.error_code && <code>{step.error_code}</code>}
                    </p>
                  )}
                </li>
              );
            })}
          </ol>
          {run.status === "succeeded" && run.result != null && (
            <div className="sb-test-result">
              <h3 className="sb-section-title">Result</h3>
              <pre className="sb-pre">{show(run.result)}</pre>
            </div>
          )}
          {(run.status === "failed" || run.status === "dead_letter") && (
            <div className="sb-callout sb-callout-danger" role="alert">
              <strong>The run failed{run.error_code ? ` (${run.error_code})` : ""}</strong>
              <span>{run.error_message}</span>
            </div>
          )}
        </section>
      )}
    </div>
  );
}
