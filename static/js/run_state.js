// A run's state folded from its event log. The run page (live and replay) and the editor's
// test-run panel all build their view from `RunModel.apply(event)`, so the three agree.
//
//   const model = new RunModel({ run, steps, approvals, lastSeq, nodes });
//   const change = model.apply(event);   // { run, steps: [keys], approvals: [ids] } or null
//   model.nodeStates();                  // { research: "running", pantry: "queued", ... }

export const FINISHED = new Set(["succeeded", "failed", "cancelled", "dead_letter"]);
const ACTIVE_STEP = new Set(["queued", "running", "waiting", "needs_attention"]);

/** Milliseconds since the epoch from an ISO timestamp (or null). */
export function toMs(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** The state a node's badge shows for a step. */
export function stepState(step) {
  if (!step) return null;
  switch (step.status) {
    case "succeeded":
      return step.reused ? "reused" : "succeeded";
    case "needs_attention":
      return "waiting";
    default:
      return step.status;
  }
}

function stepFrom(raw, order) {
  return {
    key: raw.id != null ? `s${raw.id}` : `n:${raw.node_id}:${raw.iteration ?? 0}:${raw.attempt ?? 0}`,
    id: raw.id ?? null,
    node_id: raw.node_id,
    node_type: raw.node_type || "",
    iteration: raw.iteration ?? 0,
    attempt: raw.attempt ?? 0,
    status: raw.status || "queued",
    reused: !!raw.reused,
    input: raw.input ?? null,
    output: raw.output ?? null,
    ports: raw.ports || [],
    error_code: raw.error_code || "",
    error_message: raw.error_message || "",
    details: raw.details || {},
    model: raw.model || "",
    tokens_in: raw.tokens_in || 0,
    tokens_out: raw.tokens_out || 0,
    cost: Number(raw.cost || 0),
    cache_hit: !!raw.cache_hit,
    latency_ms: raw.latency_ms ?? null,
    queued_at: toMs(raw.created_at ?? raw.queued_at),
    started_at: toMs(raw.started_at),
    finished_at: toMs(raw.finished_at),
    retried: !!raw.retried,
    substeps: Array.isArray(raw.substeps) ? raw.substeps.map((part) => ({ ...part })) : [],
    stream: "",
    order,
  };
}

export class RunModel {
  /**
   * @param {object} init
   * @param {object} init.run       the run: id, status, created_at, started_at, finished_at, result,
   *                                error_code, error_message, tokens_in, tokens_out, cost, inputs
   * @param {object[]} [init.steps] steps as the server serialises them
   * @param {object[]} [init.approvals]
   * @param {number} [init.lastSeq] the seq the steps and run reflect
   * @param {object} [init.nodes]   node id → {type, label}, to name steps and find routers
   */
  constructor({ run, steps = [], approvals = [], lastSeq = 0, nodes = {} }) {
    this.nodes = nodes;
    this.run = {
      id: run.id,
      status: run.status || "queued",
      created_at: toMs(run.created_at),
      started_at: toMs(run.started_at),
      finished_at: toMs(run.finished_at),
      result: run.result ?? null,
      error_code: run.error_code || "",
      error_message: run.error_message || "",
      tokens_in: run.tokens_in || 0,
      tokens_out: run.tokens_out || 0,
      cost: Number(run.cost || 0),
      step_count: run.step_count || 0,
      inputs: run.inputs ?? null,
    };
    this.steps = new Map();
    this.counter = 0;
    for (const raw of steps) this._add(stepFrom(raw, this.counter++));
    this.approvals = new Map();
    for (const a of approvals) this.approvals.set(a.id, { ...a });
    this.lastSeq = lastSeq;
  }

  _add(step) {
    this.steps.set(step.key, step);
    return step;
  }

  /** Steps in the order they were created. */
  stepList() {
    return [...this.steps.values()].sort((a, b) => a.order - b.order);
  }

  get finished() {
    return FINISHED.has(this.run.status);
  }

  _find(data, nodeId) {
    if (data && data.step_id != null) {
      const byId = this.steps.get(`s${data.step_id}`);
      if (byId) return byId;
    }
    return null;
  }

  _ensure(data, nodeId, ts, status) {
    let step = this._find(data, nodeId);
    if (step) return step;
    const iteration = data?.iteration ?? 0;
    if (data?.step_id == null) {
      // Events without a step id (skips): one step per node and iteration.
      step = this.stepList().find((s) => s.node_id === nodeId && s.iteration === iteration && s.status === status);
      if (step) return step;
    }
    return this._add(
      stepFrom(
        {
          id: data?.step_id ?? null,
          node_id: nodeId,
          node_type: this.nodes[nodeId]?.type || "",
          iteration,
          attempt: data?.attempt ?? 0,
          status,
          created_at: ts,
        },
        this.counter++,
      ),
    );
  }

  /** Fold one stored event in. Returns what changed, or null for a duplicate or unknown kind. */
  apply(event) {
    if (event.seq != null) {
      if (event.seq <= this.lastSeq) return null;
      this.lastSeq = event.seq;
    }
    const ts = toMs(event.ts);
    const data = event.data || {};
    const node = event.node_id || "";
    const change = { run: false, steps: [], approvals: [] };
    const touch = (step) => {
      change.steps.push(step.key);
      return step;
    };
    switch (event.kind) {
      case "run.queued":
        this.run.status = "queued";
        this.run.created_at ??= ts;
        if (data.inputs) this.run.inputs = data.inputs;
        change.run = true;
        break;
      case "run.started":
        this.run.status = "running";
        if (!data.resumed) this.run.started_at ??= ts;
        change.run = true;
        break;
      case "run.waiting":
        this.run.status = "waiting";
        change.run = true;
        break;
      case "run.succeeded":
      case "run.failed":
      case "run.cancelled":
      case "run.dead_letter": {
        this.run.status = event.kind.slice(4);
        this.run.finished_at = ts;
        if ("result" in data) this.run.result = data.result;
        this.run.error_code = data.code || "";
        this.run.error_message = data.message || (data.by ? `Cancelled by ${data.by}.` : "");
        for (const key of ["tokens_in", "tokens_out", "cost"]) if (data[key] != null) this.run[key] = Number(data[key]);
        if (data.steps != null) this.run.step_count = data.steps;
        for (const step of this.steps.values()) {
          if (ACTIVE_STEP.has(step.status)) {
            step.status = "cancelled";
            step.finished_at = ts;
            touch(step);
          }
        }
        for (const approval of this.approvals.values()) {
          if (approval.status === "pending") {
            approval.status = "cancelled";
            change.approvals.push(approval.id);
          }
        }
        change.run = true;
        break;
      }
      case "step.queued": {
        const step = this._ensure(data, node, ts, "queued");
        step.status = "queued";
        step.queued_at = ts;
        step.error_code = "";
        step.error_message = "";
        touch(step);
        break;
      }
      case "step.started": {
        const step = this._ensure(data, node, ts, "running");
        step.status = "running";
        step.attempt = data.attempt ?? step.attempt;
        step.started_at = ts;
        step.queued_at ??= ts; // claimed as it was created: it never waited
        step.stream = "";
        touch(step);
        break;
      }
      case "step.succeeded":
      case "step.failed": {
        const step = this._ensure(data, node, ts, event.kind.slice(5));
        step.status = event.kind.slice(5);
        step.finished_at = ts;
        step.started_at ??= ts;
        step.queued_at ??= step.started_at;
        if ("output" in data) step.output = data.output;
        if (data.ports) step.ports = data.ports;
        if (data.reused) step.reused = true;
        for (const key of ["model", "cache_hit", "latency_ms"]) if (data[key] != null) step[key] = data[key];
        for (const key of ["tokens_in", "tokens_out", "cost"]) {
          if (data[key] != null) {
            step[key] = Number(data[key]);
            this.run[key] += Number(data[key]);
          }
        }
        if (event.kind === "step.failed") {
          step.error_code = data.code || step.error_code;
          step.error_message = data.message || step.error_message;
        }
        touch(step);
        break;
      }
      case "step.skipped": {
        const step = this._ensure(data, node, ts, "skipped");
        step.status = "skipped";
        step.queued_at ??= ts;
        step.started_at ??= ts;
        step.finished_at = ts;
        if (data.reused) step.reused = true;
        touch(step);
        break;
      }
      case "step.retrying": {
        const step = this._find(data, node);
        if (step) {
          step.status = "failed";
          step.retried = true;
          step.finished_at = ts;
          step.error_code ||= "worker_lost";
          step.error_message ||= data.reason || "The worker running this step stopped; it runs again.";
          touch(step);
        }
        break;
      }
      case "step.substep": {
        const step = this._find(data, node);
        if (step && this._substep(step, data)) touch(step);
        break;
      }
      case "step.needs_attention": {
        const step = this._ensure(data, node, ts, "needs_attention");
        step.status = "needs_attention";
        step.attempt = data.attempt ?? step.attempt;
        touch(step);
        break;
      }
      case "approval.requested": {
        const step = this._ensure(data, node, ts, "waiting");
        step.status = "waiting";
        step.finished_at = null;
        touch(step);
        const approval = this.approvals.get(data.approval_id) || { id: data.approval_id, decisions: [] };
        Object.assign(approval, {
          node_id: node,
          step_id: data.step_id,
          kind: data.kind ?? approval.kind ?? "approval",
          status: "pending",
          payload: data.payload ?? approval.payload ?? {},
          instructions: data.instructions ?? approval.instructions ?? "",
          requested_at: ts,
        });
        this.approvals.set(approval.id, approval);
        change.approvals.push(approval.id);
        break;
      }
      case "approval.decided": {
        const approval = this.approvals.get(data.approval_id) || { id: data.approval_id, node_id: node, decisions: [] };
        approval.decisions = [...(approval.decisions || []), { user: data.by, decision: data.decision, comment: data.comment || "", at: ts }];
        if (data.final) approval.status = data.decision;
        this.approvals.set(approval.id, approval);
        change.approvals.push(approval.id);
        break;
      }
      default:
        return change;
    }
    return change;
  }

  /** Put a sub-step (an agent's thought, tool call, result, critique) in its step, by index:
   * a live one streamed ahead is replaced by the stored one. Returns whether it changed. */
  _substep(step, data) {
    if (typeof data.index !== "number") return false;
    const known = step.substeps.findIndex((part) => part.index === data.index);
    if (known >= 0) {
      step.substeps[known] = { ...data };
      return true;
    }
    step.substeps.push({ ...data });
    step.substeps.sort((a, b) => a.index - b.index);
    return true;
  }

  /** Add a sub-step streamed live (not stored yet). Returns the step's key, or null. */
  applyLiveSubstep(message) {
    const step = this._find(message?.data, message?.node_id);
    if (!step || step.status !== "running" || !this._substep(step, message.data)) return null;
    return step.key;
  }

  /** Append a streamed token delta to the node's running step. Returns the step's key. */
  applyDelta(message) {
    const text = message?.data?.text;
    if (!text) return null;
    let running = null;
    for (const step of this.steps.values()) {
      if (step.node_id === message.node_id && step.status === "running" && (!running || step.order > running.order)) running = step;
    }
    if (!running) return null;
    running.stream += text;
    return running.key;
  }

  /** Merge fields the events do not carry (rendered input, details) from a run document. */
  mergeSteps(rawSteps) {
    const changed = [];
    for (const raw of rawSteps || []) {
      const step = this.steps.get(`s${raw.id}`);
      if (!step) continue;
      step.input = raw.input ?? step.input;
      step.details = raw.details || step.details;
      if (!step.error_code && raw.error_code) step.error_code = raw.error_code;
      if (!step.error_message && raw.error_message) step.error_message = raw.error_message;
      changed.push(step.key);
    }
    return changed;
  }

  /** Each node's latest step (highest iteration, then attempt, then the newest). */
  currentSteps() {
    const current = {};
    for (const step of this.stepList()) {
      const seen = current[step.node_id];
      if (!seen || step.iteration > seen.iteration || (step.iteration === seen.iteration && step.attempt >= seen.attempt)) {
        current[step.node_id] = step;
      }
    }
    return current;
  }

  /** @returns {Record<string, any>} node id → its state */
  nodeStates() {
    const states = {};
    for (const [node, step] of Object.entries(this.currentSteps())) states[node] = stepState(step);
    return states;
  }

  /**
   * What the canvas shows beside the state: loop passes, the route taken, streamed text.
   * @returns {Record<string, any>}
   */
  nodeInfo() {
    const info = {};
    const passes = {};
    for (const step of this.steps.values()) {
      passes[step.node_id] = Math.max(passes[step.node_id] ?? 0, step.iteration + 1);
    }
    for (const [node, step] of Object.entries(this.currentSteps())) {
      const done = step.status === "succeeded" || step.status === "failed";
      const type = step.node_type || this.nodes[node]?.type;
      const route = type === "router" && done ? (step.details?.route ?? step.ports?.[0] ?? null) : null;
      info[node] = {
        iterations: passes[node] ?? 1,
        ports: done ? step.ports || [] : null,
        route,
        preview: step.status === "running" ? step.stream.slice(-160) : "",
      };
    }
    return info;
  }

  /** Run totals as shown: tokens, cost, duration so far (ms). */
  totals(now = Date.now()) {
    const start = this.run.started_at ?? this.run.created_at;
    const end = this.run.finished_at ?? (this.finished ? start : now);
    return {
      tokens: this.run.tokens_in + this.run.tokens_out,
      tokens_in: this.run.tokens_in,
      tokens_out: this.run.tokens_out,
      cost: this.run.cost,
      duration_ms: start != null && end != null ? Math.max(0, end - start) : null,
    };
  }
}
