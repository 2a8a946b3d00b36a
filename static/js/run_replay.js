// Replay: play a finished run's stored event log back onto the canvas and the timeline, at 1×,
// 4× or at once, with a scrubber. It reads `/api/runs/<id>/events` only: no model is called.
import { RunModel, toMs } from "./run_state.js";

// Long pauses (a person deciding an approval overnight) are shortened to this at 1×.
const MAX_GAP_MS = 1500;

export async function fetchEvents(runId) {
  const events = [];
  let after = 0;
  for (let page = 0; page < 200; page++) {
    const response = await fetch(`/api/runs/${runId}/events?after=${after}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`Could not load the event log (${response.status}).`);
    const body = await response.json();
    events.push(...body.events);
    if (!body.has_more || !body.events.length) break;
    after = body.events[body.events.length - 1].seq;
  }
  return events;
}

export class Replay {
  /**
   * @param {object} options
   * @param {object} options.run    the run (id, inputs) the replayed model starts from
   * @param {object} options.nodes  node id → {type, label}
   * @param {(model: RunModel, position: number) => void} options.onFrame
   * @param {(playing: boolean) => void} options.onPlaying
   */
  constructor({ run, nodes, onFrame, onPlaying }) {
    this.run = run;
    this.nodes = nodes;
    this.onFrame = onFrame;
    this.onPlaying = onPlaying;
    this.events = [];
    this.position = 0;
    this.speed = 1;
    this.timer = null;
    this.playing = false;
    this.model = null;
  }

  async load() {
    this.events = await fetchEvents(this.run.id);
    this.times = this.events.map((e) => toMs(e.ts));
    this.seek(0);
    return this.events.length;
  }

  get start() {
    return this.times?.[0] ?? null;
  }

  get end() {
    return this.times?.[this.times.length - 1] ?? null;
  }

  /** The time of the playhead: the last applied event's. */
  get clock() {
    return this.position ? this.times[this.position - 1] : this.start;
  }

  _fresh() {
    return new RunModel({ run: { id: this.run.id, status: "queued", inputs: this.run.inputs }, nodes: this.nodes });
  }

  /** Show the run as it was after `position` events. */
  seek(position) {
    const target = Math.max(0, Math.min(this.events.length, position));
    if (!this.model || target < this.position) {
      this.model = this._fresh();
      this.position = 0;
    }
    while (this.position < target) this.model.apply(this.events[this.position++]);
    this.onFrame(this.model, this.position);
  }

  setSpeed(speed) {
    this.speed = speed;
    if (this.playing) {
      clearTimeout(this.timer);
      this._next();
    }
  }

  play() {
    if (this.position >= this.events.length) this.seek(0);
    this.playing = true;
    this.onPlaying(true);
    this._next();
  }

  pause() {
    this.playing = false;
    clearTimeout(this.timer);
    this.onPlaying(false);
  }

  _next() {
    if (!this.playing) return;
    if (this.position >= this.events.length) {
      this.pause();
      return;
    }
    if (this.speed === 0) {
      this.seek(this.events.length);
      this.pause();
      return;
    }
    const gap = this.position ? this.times[this.position] - this.times[this.position - 1] : 0;
    const wait = Math.min(MAX_GAP_MS, Math.max(0, gap)) / this.speed;
    this.timer = setTimeout(() => {
      this.seek(this.position + 1);
      this._next();
    }, wait);
  }

  stop() {
    this.pause();
    this.model = null;
  }
}
