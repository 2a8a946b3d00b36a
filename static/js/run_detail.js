// The side panel's detail of one step: its rendered prompt or arguments, its output (text as
// text, data as indented JSON), the text it is streaming, model, tokens, cost, latency, cache,
// errors with their reason code, and a router's or evaluator's decision with its reason.
import { block, count, duration, el, money, pretty, STATE_LABELS } from "./run_dom.js";
import { stepState } from "./run_state.js";
import { stepTags } from "./run_timeline.js";

const PART_LABELS = { system: "System message", prompt: "User message", arguments: "Arguments", instructions: "Instructions" };

function section(title, ...content) {
  return [el("h3", { class: "sb-section-title", text: title }), ...content];
}

function facts(step, now) {
  const latency = step.latency_ms ?? (step.started_at != null && step.finished_at != null ? step.finished_at - step.started_at : null);
  const wait = step.queued_at != null && step.started_at != null ? step.started_at - step.queued_at : null;
  const tried = step.details?.llm_attempts;
  const model = step.model || (Array.isArray(tried) && tried.length ? `${tried[tried.length - 1].model} (failed)` : "—");
  const pairs = [
    ["Model", model],
    ["Tokens in / out", step.tokens_in || step.tokens_out ? `${count(step.tokens_in)} / ${count(step.tokens_out)}` : "—"],
    ["Cost", step.reused ? "$0 (reused)" : money(step.cost)],
    ["Latency", step.status === "running" && step.started_at ? `${duration(now - step.started_at)}…` : duration(latency) || "—"],
    ["Queue wait", wait != null ? duration(wait) : "—"],
    ["Cache", step.cache_hit ? "Hit (free)" : step.model ? "Miss" : "—"],
    ["Pass · attempt", `${step.iteration + 1} · ${step.attempt + 1}`],
  ];
  // Model, tokens, cost and cache mean nothing for a step that called no model.
  const usedModel = step.model || step.tokens_in || step.tokens_out || (Array.isArray(tried) && tried.length);
  const shown = usedModel ? pairs : pairs.filter(([k]) => ["Latency", "Queue wait", "Pass · attempt"].includes(k));
  return el(
    "dl",
    { class: `sb-kv${usedModel ? "" : " is-plain"}`, "data-step-facts": true },
    shown.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v, title: v, "data-step-fact": k.toLowerCase() }))),
  );
}

function routingDecision(routing) {
  const tried = Array.isArray(routing.attempts) ? routing.attempts : [];
  return el(
    "div",
    { class: "sb-decision", "data-decision": "routing" },
    el("strong", {
      text:
        `Auto chose ${routing.chose} (${routing.tier} tier)` +
        (routing.router === "learned" && typeof routing.probability === "number"
          ? ` · learned router, P(pass) ${routing.probability.toFixed(2)}`
          : ""),
    }),
    ...(routing.reasons || []).map((r) => el("span", { class: "sb-small sb-muted", text: `· ${r}` })),
    tried.length > 1
      ? el(
          "ol",
          { class: "sb-attempts", "data-routing-attempts": true },
          tried.map((a, i) =>
            el(
              "li",
              {},
              el("span", { class: a.outcome === "ok" ? "is-ok" : "is-bad", text: a.outcome === "ok" ? "✓" : "✕" }),
              el("span", { text: `${i + 1}. ${a.model} (${a.tier})` }),
              el("span", { class: "sb-muted", text: `${a.outcome} · ${money(a.cost)}` }),
            ),
          ),
        )
      : null,
    el("span", { class: "sb-small sb-muted", text: `Candidates: ${(routing.candidates || []).join(", ")}` }),
  );
}

function decision(step, nodeType) {
  const d = step.details || {};
  if (d.routing && d.routing.chose) return routingDecision(d.routing);
  if (nodeType === "router" && (d.route || step.ports?.length)) {
    return el(
      "div",
      { class: "sb-decision", "data-decision": "route" },
      el("strong", { text: `Took the route “${d.route ?? step.ports[0]}”` }),
      d.reason ? el("span", { class: "sb-small sb-muted", text: d.reason }) : null,
    );
  }
  if (nodeType === "evaluator" && ("passed" in d || step.ports?.length)) {
    const passed = d.passed ?? step.ports?.includes("pass");
    return el(
      "div",
      { class: `sb-decision${passed ? "" : " is-fail"}`, "data-decision": passed ? "pass" : "fail" },
      el("strong", { text: `${passed ? "Passed" : "Did not pass"}${d.score != null ? ` · score ${d.score}` : ""}` }),
      d.feedback ? el("span", { class: "sb-small sb-muted", text: d.feedback }) : null,
    );
  }
  if (nodeType === "approval" && step.ports?.length) {
    return el("div", { class: "sb-decision", "data-decision": step.ports[0] }, el("strong", { text: `Decision: ${step.ports[0].replace("_", " ")}` }));
  }
  return null;
}

function attempts(step) {
  const list = step.details?.llm_attempts;
  if (!Array.isArray(list) || !list.length) return null;
  return el(
    "ol",
    { class: "sb-attempts" },
    list.map((a, i) =>
      el(
        "li",
        {},
        el("span", { class: a.outcome === "ok" ? "is-ok" : "is-bad", text: a.outcome === "ok" ? "✓" : "✕" }),
        el("span", { text: `${i + 1}. ${a.model}` }),
        el("span", { class: "sb-muted", text: `${a.outcome}${a.status ? ` (HTTP ${a.status})` : ""} · ${duration(a.latency_ms)}` }),
      ),
    ),
  );
}

function promptParts(input) {
  if (input === null || input === undefined) return null;
  if (typeof input !== "object" || Array.isArray(input)) return block(input);
  return el(
    "div",
    { class: "sb-prompt-parts", "data-step-input": true },
    Object.entries(input).map(([key, value]) =>
      el("div", { class: "sb-prompt-part" }, el("span", { text: PART_LABELS[key] || key }), block(value)),
    ),
  );
}

const FOUND_BY = { both: "meaning + words", vector: "meaning", lexical: "words" };

/** A retrieve step's chunks, best first, each with its source, heading, score and retriever. */
function retrieved(step) {
  if (!Array.isArray(step.output)) return null;
  if (!step.output.length) return el("p", { class: "sb-small sb-muted", "data-retrieved-none": "", text: "No chunk matched the query." });
  const how = step.details?.retrieved || [];
  return el(
    "ol",
    { class: "sb-retrieved", "data-retrieved": "" },
    step.output.map((chunk, i) =>
      el(
        "li",
        { "data-retrieved-chunk": "" },
        el(
          "div",
          { class: "sb-retrieved-head" },
          el("strong", { text: chunk.source || "—" }),
          chunk.heading ? el("span", { class: "sb-muted", text: chunk.heading }) : null,
          el("span", { class: "sb-retrieved-score", text: `score ${Number(chunk.score ?? 0).toFixed(2)}` }),
          how[i]?.retriever ? el("span", { class: "sb-small sb-muted", text: `found by ${FOUND_BY[how[i].retriever] || how[i].retriever}` }) : null,
        ),
        el("p", { class: "sb-retrieved-text", text: chunk.text || "" }),
      ),
    ),
  );
}

/** A memory step's recall: the earlier messages it used, in conversation order, and the summary. */
function remembered(step) {
  const out = step.output;
  if (!out || typeof out !== "object" || !Array.isArray(out.turns)) return null;
  const how = step.details?.memory || {};
  const parts = [
    el("p", {
      class: "sb-small sb-muted",
      "data-memory-usage": "",
      text: `${out.turns.length} of ${how.considered ?? out.turns.length} earlier message${(how.considered ?? out.turns.length) === 1 ? "" : "s"} used · ${out.tokens ?? 0} of ${how.budget ?? "?"} tokens`,
    }),
  ];
  if (how.summary) {
    parts.push(
      el(
        "div",
        { class: "sb-retrieved-text", "data-memory-summary": "" },
        el("strong", { text: `Summary of messages 1–${how.summary.upto} (${how.summary.tokens} tokens): ` }),
        document.createTextNode(out.summary || ""),
      ),
    );
  }
  if (!out.turns.length && !how.summary) {
    parts.push(el("p", { class: "sb-small sb-muted", text: how.considered ? "No earlier message was needed for this one." : "Nothing to remember yet: this is the conversation's first message." }));
  }
  if (out.turns.length) {
    parts.push(
      el(
        "ol",
        { class: "sb-retrieved", "data-memory-turns": "" },
        out.turns.map((turn) =>
          el(
            "li",
            { "data-memory-turn": String(turn.turn) },
            el(
              "div",
              { class: "sb-retrieved-head" },
              el("strong", { text: `Message ${turn.turn}` }),
              el("span", { class: "sb-small sb-muted", text: `${turn.tokens ?? 0} tokens` }),
              turn.similarity != null ? el("span", { class: "sb-retrieved-score", text: `similarity ${Number(turn.similarity).toFixed(2)}` }) : null,
            ),
            el("p", { class: "sb-retrieved-text", text: `User: ${turn.user || ""}\nAssistant: ${turn.assistant || ""}` }),
          ),
        ),
      ),
    );
  }
  return el("div", { "data-remembered": "" }, ...parts);
}

const CACHE_OUTCOMES = {
  hit: "Answered from the semantic cache: no model was called.",
  evicted: "A past answer matched, but failed this node's checks: it was evicted and the model asked.",
  refused: "A past answer matched, but came from a tier below the one the router chose for this request: the model was asked (the answer stays for requests routed as low).",
  "other-figures": "A past request was this close, but its figures (numbers, amounts, order numbers) differ, so it asks something else: the model was asked.",
};

/** The cache's outcome as shown: a miss that passed over a close request with other figures
 * shows that request, its similarity and the node's threshold. */
function shownCache(sem) {
  if (sem?.outcome !== "miss" || !sem.other_figures) return sem;
  return { ...sem, outcome: "other-figures", matched: sem.other_figures.matched, similarity: sem.other_figures.similarity, threshold: sem.similarity };
}

/** A semantic-cache match: the past request it matched, how similar, and what it saved. */
function semanticCache(step) {
  const sem = shownCache(step.details?.semantic_cache);
  if (!sem || !(sem.outcome in CACHE_OUTCOMES)) return null;
  const similarity = Number(sem.similarity ?? 0);
  const threshold = Number(sem.threshold ?? 0);
  const pairs = [
    ["Similarity", similarity.toFixed(3)],
    ["Threshold", threshold.toFixed(2)],
    ["Answered by", sem.model || "—"],
    ["Saved", sem.outcome === "hit" ? money(sem.saved_cost) : "—"],
    ["Stored", sem.stored_at ? new Date(sem.stored_at).toLocaleString() : "—"],
    ["Entry", sem.entry != null ? `#${sem.entry}` : "—"],
  ];
  if (sem.routed_tier) pairs.splice(3, 0, ["Routed to", sem.routed_tier]);
  if (sem.cached_tier) pairs.splice(3, 0, ["Its tier", sem.cached_tier]);
  // Widths through element.style: the CSP refuses style attributes.
  const fill = el("span", { class: "sb-cache-meter-fill" });
  fill.style.width = `${Math.max(0, Math.min(1, similarity)) * 100}%`;
  const mark = el("span", { class: "sb-cache-meter-mark", title: `threshold ${threshold.toFixed(2)}` });
  mark.style.left = `${Math.max(0, Math.min(1, threshold)) * 100}%`;
  return el(
    "div",
    { class: `sb-cache-match is-${sem.outcome}`, "data-semantic-cache": sem.outcome },
    el("p", { class: "sb-small", text: CACHE_OUTCOMES[sem.outcome] }),
    el("div", { class: "sb-cache-label sb-small sb-muted", text: "Matched request" }),
    el("blockquote", { class: "sb-cache-matched", "data-semantic-matched": "", text: sem.matched || "" }),
    el(
      "div",
      { class: "sb-cache-meter", role: "img", "aria-label": `Similarity ${similarity.toFixed(3)}, threshold ${threshold.toFixed(2)}` },
      fill,
      mark,
    ),
    el(
      "dl",
      { class: "sb-kv is-plain", "data-semantic-facts": "" },
      pairs.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v, title: v, "data-semantic-fact": k.toLowerCase() }))),
    ),
    sem.feedback ? el("p", { class: "sb-small sb-muted", text: `Why it was evicted: ${sem.feedback}` }) : null,
  );
}

/** Render one step into the side panel. */
export function renderStepDetail(container, step, { label, nodeType, runFinished, canRun, onRerunFrom, onResolve, onShowRun, now = Date.now() }) {
  const state = stepState(step) || step.status;
  const head = el(
    "div",
    { class: "sb-detail-head" },
    el(
      "h2",
      {},
      el("span", { text: label }),
      el("span", { class: `sb-status status-${state === "reused" ? "succeeded" : state}`, "data-step-detail-state": state }, el("span", { class: "sb-status-dot", "aria-hidden": "true" }), STATE_LABELS[state] || state),
    ),
    el(
      "p",
      { class: "sb-small sb-muted" },
      `${nodeType || step.node_type || "node"} · `,
      el("code", { text: step.node_id }),
      ...stepTags(step).map(([kind, text]) => el("span", { class: `sb-step-tag is-${kind}`, text })),
    ),
  );
  const actions = el(
    "div",
    { class: "sb-detail-actions" },
    runFinished && canRun && !step.reused
      ? el("button", { type: "button", class: "sb-btn sb-btn-sm", "data-action": "rerun-from", onclick: () => onRerunFrom(step.node_id), text: "Re-run from this step…" })
      : null,
    el("button", { type: "button", class: "sb-btn sb-btn-sm sb-btn-ghost", onclick: onShowRun, text: "Back to the run" }),
  );
  const parts = [head, actions];
  if (step.reused) {
    parts.push(el("p", { class: "sb-reused-note", text: "Reused from the original run: this output was copied, not recomputed. No model was called and it cost nothing." }));
  }
  if (step.status !== "needs_attention" && (step.status === "failed" || step.error_code || step.error_message)) {
    parts.push(
      el(
        "div",
        { class: "sb-callout sb-callout-danger", role: "alert", "data-step-error": true },
        el("strong", {}, "Failed", step.error_code ? " · " : "", step.error_code ? el("code", { text: step.error_code }) : null),
        el("span", { text: step.error_message || "No message." }),
      ),
    );
  }
  if (step.status === "waiting") parts.push(el("p", { class: "sb-small sb-muted", text: "Waiting for a person: the approval is at the top of this panel." }));
  if (step.status === "needs_attention") {
    parts.push(el("p", { class: "sb-callout sb-callout-danger", text: step.error_message || "This step needs a person to retry or fail it." }));
    if (canRun && onResolve && step.id != null) {
      parts.push(
        el(
          "div",
          { class: "sb-detail-actions", "data-resolve": "" },
          el("button", { type: "button", class: "sb-btn sb-btn-sm sb-btn-primary", onclick: () => onResolve(step, "retry"), text: "Run it again" }),
          el("button", { type: "button", class: "sb-btn sb-btn-sm", onclick: () => onResolve(step, "fail"), text: "Mark it failed" }),
        ),
      );
    }
  }
  const made = decision(step, nodeType || step.node_type);
  if (made) parts.push(made);
  parts.push(facts(step, now));
  const tries = attempts(step);
  if (tries) parts.push(...section("Model calls (retries and fallbacks)", tries));
  if (step.status === "running") {
    const stream = el("pre", { class: "sb-stream", "data-stream": true });
    stream.append(document.createTextNode(step.stream || ""), el("span", { class: "sb-caret", "aria-hidden": "true" }));
    parts.push(...section("Streaming", stream));
  }
  const cached = semanticCache(step);
  if (cached) parts.push(...section("Semantic cache", cached));
  const input = promptParts(step.input);
  if (input) parts.push(...section(nodeType === "tool" ? "Arguments" : "Prompt", input));
  const chunks = nodeType === "retrieve" || step.node_type === "retrieve" ? retrieved(step) : null;
  const memory = nodeType === "memory" || step.node_type === "memory" ? remembered(step) : null;
  if (chunks) {
    parts.push(...section(`Retrieved chunks (${step.output.length})`, chunks));
  } else if (memory) {
    parts.push(...section("Remembered", memory));
  } else if (step.status !== "running" && step.status !== "queued" && !(step.status === "failed" && step.output == null)) {
    const out = block(step.output);
    out.dataset.stepOutput = "";
    parts.push(...section("Output", out));
  }
  const extra = Object.fromEntries(
    Object.entries(step.details || {}).filter(([k]) => !["route", "reason", "score", "feedback", "passed", "llm_attempts", "reused_from_step", "retrieved", "routing"].includes(k) && !(k === "semantic_cache" && cached) && !(k === "memory" && memory)),
  );
  if (Object.keys(extra).length) parts.push(...section("Notes", block(extra)));
  container.replaceChildren(el("section", { class: "sb-detail", "data-step-detail": step.key, "aria-label": `Step ${label}` }, ...parts));
}

/** Update the streamed text of the step shown, without redrawing the panel. */
export function updateStream(container, step) {
  const stream = container.querySelector("[data-stream]");
  if (!stream) return false;
  stream.firstChild.textContent = step.stream || "";
  return true;
}

/** A node picked on the canvas that has not run (yet). */
export function renderNodeNotRun(container, { label, nodeId, onShowRun }) {
  container.replaceChildren(
    el(
      "section",
      { class: "sb-detail", "data-step-detail": "" },
      el("div", { class: "sb-detail-head" }, el("h2", { text: label }), el("p", { class: "sb-small sb-muted" }, el("code", { text: nodeId }))),
      el("p", { class: "sb-muted", text: "This node has not run in this run (yet)." }),
      el("div", { class: "sb-detail-actions" }, el("button", { type: "button", class: "sb-btn sb-btn-sm sb-btn-ghost", onclick: onShowRun, text: "Back to the run" })),
    ),
  );
}

/** The run itself: its error, inputs and result. */
export function renderRunSummary(container, model) {
  const run = model.run;
  const parts = [
    el(
      "div",
      { class: "sb-detail-head" },
      el("h2", { text: "This run" }),
      el("p", { class: "sb-muted sb-small", text: "Select a step on the canvas or in the timeline to see its prompt, output and cost." }),
    ),
  ];
  if (run.error_message || run.status === "failed") {
    parts.push(
      el(
        "div",
        { class: "sb-callout sb-callout-danger", role: "alert" },
        el("strong", {}, run.status === "cancelled" ? "Cancelled" : `The run ${run.status.replace("_", " ")}`, run.error_code ? " · " : "", run.error_code ? el("code", { text: run.error_code }) : null),
        el("span", { text: run.error_message || "" }),
      ),
    );
  }
  parts.push(...section("Inputs", el("pre", { class: "sb-pre", text: pretty(run.inputs ?? {}) || "{}" })));
  parts.push(el("h3", { class: "sb-section-title", text: "Result" }));
  if (run.status === "succeeded") parts.push(el("pre", { class: "sb-pre", "data-run-result": true, text: pretty(run.result) || "null" }));
  else parts.push(el("p", { class: "sb-muted sb-small", text: model.finished ? "No result." : "Not finished yet." }));
  container.replaceChildren(el("section", { class: "sb-detail", "aria-labelledby": "detail-title" }, ...parts));
  container.querySelector("h2").id = "detail-title";
}
