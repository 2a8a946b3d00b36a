// The run page: follows the run live over its websocket (resuming after a drop from the last
// seq), paints node states on the read-only canvas, keeps the step timeline and the selected
// step's details current, shows waiting approvals inline, and replays finished runs.
//
// The server rendered the whole page already; this takes it over from `#run-state`, the state
// as of `run.last_seq`, and continues from there.
import { api } from "./api.js";
import { Approvals } from "./run_approvals.js";
import { renderNodeNotRun, renderRunSummary, renderStepDetail, updateStream } from "./run_detail.js";
import { count, duration, el, money, pretty, toast } from "./run_dom.js";
import { Replay } from "./run_replay.js";
import { Reruns } from "./run_rerun.js";
import { resizable } from "./run_splitter.js";
import { RunModel } from "./run_state.js";
import { RunStream } from "./run_stream.js";
import { Timeline } from "./run_timeline.js";

/** @type {HTMLElement} */
const root = document.querySelector("[data-run-page]");
const initial = JSON.parse(document.getElementById("run-state").textContent);
const runId = initial.run.id;
const nodes = initial.nodes || {};
const labelOf = (id) => nodes[id]?.label || id;

const live = new RunModel({
  run: initial.run,
  steps: initial.steps,
  approvals: initial.approvals,
  lastSeq: initial.run.last_seq,
  nodes,
});

/**
 * The page's element for `selector` under `within` (null when this run's page has none).
 * @param {string} selector
 * @param {ParentNode} [within]
 * @returns {HTMLElement | null}
 */
function find(selector, within = root) {
  return within.querySelector(selector);
}

/** @param {string} selector @param {ParentNode} [within] @returns {HTMLButtonElement | null} */
const findButton = (selector, within = root) => /** @type {HTMLButtonElement | null} */ (find(selector, within));

// When a step's state reached the page, against the event's commit time (see bench/).
window.__sbStateTimes = [];

/** @type {NodeListOf<HTMLElement>} */
const facts = root.querySelectorAll("[data-fact]");
const ui = {
  status: find("[data-status-pill]"),
  statusText: find('[data-testid="run-status"]'),
  live: find("[data-live]"),
  replayBadge: find("[data-replay-badge]"),
  facts: Object.fromEntries([...facts].map((n) => [n.dataset.fact, n])),
  cancel: findButton('[data-action="cancel"]'),
  rerun: findButton('[data-action="rerun"]'),
  reproduce: findButton('[data-action="reproduce"]'),
  replayBar: find("[data-replay]"),
  detail: find("[data-detail]"),
  stepCount: find("[data-step-count]"),
};

let view = live; // the model on screen: the live one, or the replay's
let replay = null;
let selection = null; // { key } a step, or { node } a node picked on the canvas
let canvas = null;

const timeline = new Timeline(root.querySelector("[data-step-list]"), root.querySelector("[data-axis]"), {
  labelOf,
  onSelect: (key) => select({ key }),
});
const approvals = new Approvals(root.querySelector("[data-approvals]"), { labelOf });
const reruns = new Reruns({ runId, schema: initial.input_schema, inputs: initial.run.inputs, labelOf });

// --- drawing ---------------------------------------------------------------------------------

function span(model) {
  if (replay && model === replay.model) return { start: replay.start, end: replay.end, now: replay.clock };
  const start = model.run.created_at ?? Date.now();
  const now = Date.now();
  return { start, end: model.run.finished_at ?? (model.finished ? start : now), now };
}

function selectedStep(model) {
  if (!selection) return null;
  if (selection.key) return model.steps.get(selection.key) || null;
  return model.currentSteps()[selection.node] || null;
}

function drawHeader(model) {
  const run = model.run;
  ui.statusText.textContent = run.status;
  ui.status.className = `sb-status status-${run.status}`;
  root.dataset.runStatus = run.status;
  root.classList.toggle("is-finished", model.finished);
  const totals = model.totals(span(model).now);
  ui.facts.duration.textContent = duration(totals.duration_ms) || "—";
  ui.facts.tokens.textContent = count(totals.tokens);
  ui.facts.cost.textContent = money(totals.cost);
  ui.facts.steps.textContent = String(model.steps.size);
  if (ui.stepCount) ui.stepCount.textContent = String(model.steps.size);
  const result = ui.facts.result;
  if (run.status === "succeeded") result.replaceChildren(el("span", { class: "sb-truncate", text: pretty(run.result).slice(0, 200) }));
  else if (run.error_message) result.replaceChildren(el("span", { class: "sb-fact-error", text: run.error_message }));
  else result.replaceChildren(el("span", { class: "sb-muted", text: model.finished ? "—" : "Not finished yet" }));
  const replaying = !!replay;
  if (ui.replayBadge) ui.replayBadge.hidden = !replaying;
  if (ui.cancel) ui.cancel.hidden = live.finished;
  if (ui.rerun) ui.rerun.hidden = !live.finished || replaying;
  if (ui.reproduce) ui.reproduce.hidden = !live.finished || replaying;
  ui.replayBar.hidden = !live.finished;
}

function drawCanvas(model) {
  if (!canvas) return;
  canvas.setRunStates(model.nodeStates());
  canvas.setRunInfo(model.nodeInfo());
}

function drawDetail(model) {
  const step = selectedStep(model);
  const showRun = () => select(null);
  if (step) {
    renderStepDetail(ui.detail, step, {
      label: labelOf(step.node_id),
      nodeType: nodes[step.node_id]?.type || step.node_type,
      runFinished: live.finished && !replay,
      canRun: initial.can_run,
      onRerunFrom: (node) => reruns.open(node),
      onResolve: (parked, action) =>
        api("POST", `/runs/${runId}/steps/${parked.id}/resolve`, { action }).catch((e) => toast(e.message)),
      onShowRun: showRun,
    });
    if (!replay && step.input == null && step.status !== "queued" && step.status !== "skipped" && step.id != null) scheduleRefresh();
  } else if (selection?.node) {
    renderNodeNotRun(ui.detail, { label: labelOf(selection.node), nodeId: selection.node, onShowRun: showRun });
  } else {
    renderRunSummary(ui.detail, model);
  }
}

function draw(model = view) {
  drawHeader(model);
  drawCanvas(model);
  const step = selectedStep(model);
  timeline.render(model, { ...span(model), selectedKey: step?.key });
  approvals.render(model, { interactive: !replay });
  drawDetail(model);
}

function select(next) {
  selection = next;
  const step = selectedStep(view);
  canvas?.select(step?.node_id ?? next?.node ?? null);
  if (step) timeline.scrollTo(step.key);
  timeline.render(view, { ...span(view), selectedKey: step?.key });
  drawDetail(view);
}

// --- live updates ----------------------------------------------------------------------------

let refreshTimer = null;
let refreshing = false;
/** Steps' rendered prompts and details are not in the events: read them from the run. */
function scheduleRefresh() {
  if (refreshTimer || refreshing) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    refreshing = true;
    try {
      const doc = await api("GET", `/runs/${runId}`);
      live.mergeSteps(doc.steps);
      if (view === live) {
        timeline.render(live, { ...span(live), selectedKey: selectedStep(live)?.key });
        drawDetail(live);
      }
    } catch {
      // The next finished step tries again.
    } finally {
      refreshing = false;
    }
  }, 250);
}

const now = () => performance.timeOrigin + performance.now();

function stamp(event, received) {
  const drawn = now();
  if (window.__sbStateTimes.length >= 5000) return;
  requestAnimationFrame(() => window.__sbStateTimes.push({ seq: event.seq, kind: event.kind, node_id: event.node_id, ts: event.ts, received, drawn, shown: now() }));
}

function onEvent(event) {
  const received = now();
  const change = live.apply(event);
  if (!change) return;
  if (event.kind === "approval.requested") void approvals.load(live, event.data.approval_id, () => view === live && approvals.render(live));
  if (event.kind === "step.succeeded" || event.kind === "step.failed") scheduleRefresh();
  if (view !== live) {
    drawHeader(live);
    return;
  }
  drawHeader(live);
  drawCanvas(live);
  const step = selectedStep(live);
  timeline.render(live, { ...span(live), selectedKey: step?.key });
  approvals.render(live);
  if (!selection || (step && change.steps.includes(step.key)) || change.run) drawDetail(live);
  if (event.kind.startsWith("step.") || event.kind.startsWith("run.") || event.kind.startsWith("approval.")) stamp(event, received);
  if (live.finished) stopTicking();
}

let deltaFrame = 0;
function onDelta(message) {
  if (message.kind === "step.substep") {
    if (live.applyLiveSubstep(message) && view === live) timeline.render(live, { ...span(live), selectedKey: selectedStep(live)?.key });
    return;
  }
  const key = live.applyDelta(message);
  if (!key || view !== live || deltaFrame) return;
  deltaFrame = requestAnimationFrame(() => {
    deltaFrame = 0;
    drawCanvas(live);
    const step = selectedStep(live);
    if (step && step.key === key && !updateStream(ui.detail, step)) drawDetail(live);
  });
}

const LIVE_LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", offline: "Offline · reconnecting", forbidden: "No access", closed: "" };
function onStatus(status) {
  ui.live.hidden = !LIVE_LABELS[status];
  ui.live.className = `sb-live is-${status}`;
  ui.live.textContent = LIVE_LABELS[status] || "";
  ui.live.dataset.connection = status;
}

let ticker = null;
function startTicking() {
  if (ticker || live.finished) return;
  ticker = setInterval(() => {
    if (view !== live) return;
    drawHeaderTimes();
  }, 500);
}
function stopTicking() {
  clearInterval(ticker);
  ticker = null;
}
function drawHeaderTimes() {
  ui.facts.duration.textContent = duration(live.totals().duration_ms) || "—";
  timeline.render(live, { ...span(live), selectedKey: selectedStep(live)?.key });
}

// --- actions ---------------------------------------------------------------------------------

ui.cancel?.addEventListener("click", async () => {
  ui.cancel.disabled = true;
  try {
    await api("POST", `/runs/${runId}/cancel`);
  } catch (e) {
    toast(e.message);
  } finally {
    ui.cancel.disabled = false;
  }
});
ui.rerun?.addEventListener("click", () => reruns.open(null));
ui.reproduce?.addEventListener("click", () => reruns.reproduce(ui.reproduce).catch((e) => toast(e.message)));

// --- replay ----------------------------------------------------------------------------------

/** @type {NodeListOf<HTMLElement>} */
const speeds = ui.replayBar.querySelectorAll("[data-speed]");
const replayUi = {
  start: findButton('[data-action="replay-start"]', ui.replayBar),
  controls: find("[data-replay-controls]", ui.replayBar),
  toggle: findButton('[data-action="replay-toggle"]', ui.replayBar),
  scrubber: /** @type {HTMLInputElement} */ (find("[data-replay-scrubber]", ui.replayBar)),
  clock: find("[data-replay-clock]", ui.replayBar),
  speeds,
  exit: findButton('[data-action="replay-exit"]', ui.replayBar),
};

function replayFrame(model, position) {
  view = model;
  replayUi.scrubber.value = String(position);
  const elapsed = replay.clock != null && replay.start != null ? replay.clock - replay.start : 0;
  replayUi.clock.textContent = `${position} / ${replay.events.length} events · +${duration(elapsed) || "0 ms"}`;
  ui.replayBar.dataset.position = String(position);
  draw(model);
}

async function startReplay() {
  replayUi.start.disabled = true;
  replay = new Replay({
    run: { id: runId, inputs: initial.run.inputs },
    nodes,
    onFrame: replayFrame,
    onPlaying: (playing) => {
      replayUi.toggle.setAttribute("aria-label", playing ? "Pause" : "Play");
      find("[data-icon-play]", replayUi.toggle).hidden = playing;
      find("[data-icon-pause]", replayUi.toggle).hidden = !playing;
      ui.replayBar.dataset.playing = String(playing);
    },
  });
  try {
    const total = await replay.load();
    replayUi.scrubber.max = String(total);
    replayUi.start.hidden = true;
    replayUi.controls.hidden = false;
    ui.replayBar.classList.add("is-replaying");
    root.classList.add("is-replaying");
    replay.seek(0);
    replay.play();
  } catch (e) {
    replay = null;
    toast(e.message);
  } finally {
    replayUi.start.disabled = false;
  }
}

function exitReplay() {
  replay?.stop();
  replay = null;
  view = live;
  replayUi.start.hidden = false;
  replayUi.controls.hidden = true;
  ui.replayBar.classList.remove("is-replaying");
  root.classList.remove("is-replaying");
  delete ui.replayBar.dataset.position;
  draw(live);
}

replayUi.start.addEventListener("click", () => void startReplay());
replayUi.exit.addEventListener("click", exitReplay);
replayUi.toggle.addEventListener("click", () => (replay?.playing ? replay.pause() : replay?.play()));
replayUi.scrubber.addEventListener("input", () => {
  if (!replay) return;
  replay.pause();
  replay.seek(Number(replayUi.scrubber.value));
});
for (const button of replayUi.speeds) {
  button.addEventListener("click", () => {
    for (const b of replayUi.speeds) b.setAttribute("aria-checked", String(b === button));
    replay?.setSpeed(Number(button.dataset.speed));
  });
}

// --- start -----------------------------------------------------------------------------------

function mountCanvas() {
  const element = find("[data-run-canvas]");
  if (!window.SwitchboardCanvas) return false;
  canvas = window.SwitchboardCanvas.mount(element, {
    mode: "readonly",
    graph: initial.graph,
    minimap: false,
    onSelectNode: (node) => select(node ? { node } : null),
    onReady: () => {
      element.dataset.ready = "true";
    },
  });
  window.SwitchboardCanvas.instances.run = canvas;
  drawCanvas(view);
  return true;
}

const splitter = find("[data-run-splitter]");
if (splitter) resizable(find("[data-run-canvas]"), splitter);

// Bundled after the canvas island (static/canvas/run_page.js), so the canvas is there already;
// the fallback covers loading this file on its own.
if (!mountCanvas()) window.addEventListener("DOMContentLoaded", mountCanvas, { once: true });

for (const a of live.approvals.values()) if (a.status === "pending" && a.can_decide === undefined) void approvals.load(live, a.id, () => approvals.render(live));
draw(live);

if (!live.finished) {
  const stream = new RunStream(runId, { after: live.lastSeq, onEvent, onDelta, onStatus });
  window.__sbRunStream = stream;
  stream.start();
  startTicking();
}
