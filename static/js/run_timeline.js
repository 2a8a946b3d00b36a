// The step timeline: one row per step (node × loop pass × attempt) on the run's time axis, the
// wait in the queue lighter than the execution; retries, fallbacks and reuse tagged on the row.
import { duration, el, STATE_LABELS } from "./run_dom.js";
import { stepState } from "./run_state.js";

function attemptsOf(step) {
  const attempts = step.details?.llm_attempts;
  return Array.isArray(attempts) ? attempts : [];
}

/** Tags beside a step's name: its loop pass, attempt, retries, fallback, reuse, cache hit,
 * and the model automatic routing chose. */
export function stepTags(step) {
  const tags = [];
  if (step.iteration > 0) tags.push(["pass", `pass ${step.iteration + 1}`]);
  if (step.attempt > 0) tags.push(["retry", `attempt ${step.attempt + 1}`]);
  if (step.retried) tags.push(["retry", "worker lost · retried"]);
  const attempts = attemptsOf(step);
  const models = [...new Set(attempts.map((a) => a.model))];
  // Every try after the first on the same model is a retry; a new model is a fallback.
  const retries = attempts.length - models.length;
  if (retries > 0) tags.push(["retry", `${retries} ${retries === 1 ? "retry" : "retries"}`]);
  if (models.length > 1) tags.push(["fallback", `fallback → ${step.model || models[models.length - 1]}`]);
  if (step.cache_hit) tags.push(["reused", "cache hit"]);
  const routing = step.details?.routing;
  if (routing?.chose) {
    const learned =
      routing.router === "learned" && typeof routing.probability === "number"
        ? ` · learned ${routing.probability.toFixed(2)}`
        : "";
    tags.push(["route", `auto → ${routing.chose} (${routing.tier}${learned})`]);
  }
  return tags;
}

const PREVIEW = 280;

/** A sub-step's label and one-line text (as runs/views/live.py `substep_summary`). */
export function substepSummary(part) {
  switch (part.type) {
    case "tool_call":
      return [`Calls ${part.tool || "?"}`, JSON.stringify(part.arguments ?? {})];
    case "tool_result":
      return [part.ok ? "Result" : "Tool error", String(part.preview ?? "")];
    case "critique": {
      const by = { rules: "by the checks", schema: "by the output schema" }[part.by] || "by the reviewer";
      return [`${part.met ? "Accepted" : "Rejected"} ${by}`, String(part.feedback ?? "")];
    }
    case "answer":
      return ["Answer", String(part.text ?? "")];
    default:
      return ["Thought", String(part.text ?? "")];
  }
}

/** The nested list of a step's sub-steps (null when it has none). */
function substepList(step, label) {
  if (!step.substeps?.length) return null;
  return el(
    "ol",
    { class: "sb-substeps", "data-substeps": true, "aria-label": `What ${label} did` },
    step.substeps.map((part) => {
      const [name, text] = substepSummary(part);
      const flags = (part.type === "critique" && !part.met ? " is-rejected" : "") + (part.type === "tool_result" && !part.ok ? " is-error" : "");
      return el(
        "li",
        { class: `sb-substep is-${part.type}${flags}`, "data-substep": String(part.index) },
        el("span", { class: "sb-substep-round sb-num", title: `Round ${part.round}`, text: part.round ?? "" }),
        el("span", { class: "sb-substep-label", text: name }),
        el("span", { class: "sb-substep-text", text: text.length > PREVIEW ? `${text.slice(0, PREVIEW - 1)}…` : text }),
      );
    }),
  );
}

export class Timeline {
  /**
   * @param {HTMLElement} list  the `<ol data-step-list>`
   * @param {HTMLElement} axis  the axis above the bars
   * @param {{onSelect: (key: string) => void, labelOf: (nodeId: string) => string}} options
   */
  constructor(list, axis, { onSelect, labelOf }) {
    this.list = list;
    this.axis = axis;
    this.onSelect = onSelect;
    this.labelOf = labelOf;
    this.rows = new Map();
    list.replaceChildren();
    list.addEventListener("click", (event) => {
      const row = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest("[data-step-row]"));
      if (row) this.onSelect(row.dataset.stepKey);
    });
  }

  _row(step) {
    let row = this.rows.get(step.key);
    if (row) return row;
    const parts = {
      name: el("span", { class: "sb-step-label" }),
      tags: el("span", { class: "sb-step-tags" }),
      state: el("span", { class: "sb-step-state" }),
      queue: el("span", { class: "sb-bar-queue" }),
      exec: el("span", { class: "sb-bar-exec" }),
      dur: el("span", { class: "sb-step-dur sb-num" }),
    };
    row = el(
      "li",
      { class: "sb-step", "data-step-row": true, "data-step-key": step.key, "data-step-node": step.node_id },
      el(
        "button",
        { type: "button", class: "sb-step-head", "aria-pressed": "false" },
        el("span", { class: "sb-step-dot", "aria-hidden": "true" }),
        el("span", { class: "sb-step-name" }, parts.name, parts.tags),
        parts.state,
        el("span", { class: "sb-step-track", "aria-hidden": "true" }, parts.queue, parts.exec),
        parts.dur,
      ),
    );
    row._parts = parts;
    this.rows.set(step.key, row);
    return row;
  }

  /** Draw the steps of `model` on the span [start, end]; `now` ends bars still open. */
  render(model, { start, end, now, selectedKey }) {
    const steps = model.stepList();
    const span = Math.max(1, (end ?? now) - start);
    const pct = (t) => Math.min(100, Math.max(0, ((t - start) / span) * 100));
    const keep = new Set();
    let previous = null;
    for (const step of steps) {
      keep.add(step.key);
      const row = this._row(step);
      const p = row._parts;
      const state = stepState(step) || step.status;
      row.className = `sb-step run-${state}${step.key === selectedKey ? " is-selected" : ""}`;
      row.dataset.stepState = state;
      row.dataset.stepIteration = String(step.iteration);
      row.dataset.stepAttempt = String(step.attempt);
      row.firstChild.setAttribute("aria-pressed", String(step.key === selectedKey));
      p.name.textContent = this.labelOf(step.node_id);
      const tags = stepTags(step);
      const tagKey = tags.map((t) => t.join(":")).join("|");
      if (p.tags.dataset.key !== tagKey) {
        p.tags.dataset.key = tagKey;
        p.tags.replaceChildren(...tags.map(([kind, text]) => el("span", { class: `sb-step-tag is-${kind}`, text })));
      }
      p.state.textContent = STATE_LABELS[state] || state;
      const partsKey = String(step.substeps?.length ?? 0) + (step.substeps?.at(-1)?.index ?? "");
      if (row.dataset.substeps !== partsKey) {
        row.dataset.substeps = partsKey;
        row.querySelector(":scope > [data-substeps]")?.remove();
        const list = substepList(step, this.labelOf(step.node_id));
        if (list) row.append(list);
      }
      const queued = step.queued_at ?? step.started_at ?? step.finished_at;
      const began = step.started_at ?? (step.status === "queued" ? now : queued);
      const open = step.status === "running" || step.status === "waiting" || step.status === "needs_attention";
      const done = step.finished_at ?? (open || step.status === "queued" ? now : began);
      if (queued != null) {
        p.queue.style.left = `${pct(queued)}%`;
        p.queue.style.width = `${Math.max(0, pct(began) - pct(queued))}%`;
        p.exec.style.left = `${pct(began)}%`;
        p.exec.style.width = `${Math.max(0.3, pct(done) - pct(began))}%`;
        p.exec.hidden = step.status === "queued";
      }
      const ms = step.latency_ms ?? (step.started_at != null && (step.finished_at ?? (open ? now : null)) != null ? (step.finished_at ?? now) - step.started_at : null);
      p.dur.textContent = step.status === "skipped" || step.reused ? "" : duration(ms);
      row.title = step.status === "queued" && queued != null ? `Queued for ${duration(now - queued)}` : "";
      const expected = previous ? previous.nextSibling : this.list.firstChild;
      if (expected !== row) this.list.insertBefore(row, expected);
      previous = row;
    }
    for (const [key, row] of this.rows) {
      if (!keep.has(key)) {
        row.remove();
        this.rows.delete(key);
      }
    }
    if (!steps.length && !this.list.querySelector("[data-steps-empty]")) {
      this.list.append(el("li", { class: "sb-steps-empty sb-muted", "data-steps-empty": true, text: "No steps yet: the run is queued." }));
    } else if (steps.length) {
      this.list.querySelector("[data-steps-empty]")?.remove();
    }
    this._axis(span);
  }

  _axis(span) {
    const key = Math.round(span / 100);
    if (this.axis.dataset.span === String(key)) return;
    this.axis.dataset.span = String(key);
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
      const tick = el("span", { class: "sb-tick", text: f === 0 ? "0 s" : `+${duration(span * f)}` });
      // Through the CSSOM: the Content-Security-Policy refuses style attributes.
      tick.style.left = `${f * 100}%`;
      return tick;
    });
    this.axis.replaceChildren(...ticks);
  }

  scrollTo(key) {
    this.rows.get(key)?.scrollIntoView({ block: "nearest" });
  }
}
