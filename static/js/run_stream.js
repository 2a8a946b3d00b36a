// Follow a run's event stream over `/ws/runs/<id>/?after=<seq>`, surviving network drops.
//
// The event log is the truth and the socket only a fast path: every stored event is delivered
// exactly once and in seq order (duplicates dropped, gaps read from `/api/runs/<id>/events`),
// and after a drop the stream reconnects with `after=<last seq>` on its own, with backoff.
//
//   const stream = new RunStream(runId, { after: 12, onEvent, onDelta, onStatus });
//   stream.start();
//
// onStatus receives "connecting", "live", "reconnecting", "offline", "closed" or "forbidden".

const MAX_BACKOFF_MS = 10_000;

export class RunStream {
  /**
   * @param {number} runId
   * @param {{after?: number, finished?: boolean, onEvent?: (event: any) => void,
   *          onDelta?: (message: any) => void, onStatus?: (status: string) => void}} [options]
   */
  constructor(runId, { after = 0, onEvent = () => {}, onDelta = () => {}, onStatus = () => {}, finished = false } = {}) {
    this.runId = runId;
    this.lastSeq = after;
    this.onEvent = onEvent;
    this.onDelta = onDelta;
    this.onStatus = onStatus;
    this.finished = finished;
    this.socket = null;
    this.status = "idle";
    this.failures = 0;
    this.pending = new Map();
    this.filling = null;
    this.timer = null;
    this.stopped = false;
    this.reconnects = 0;
    this._online = () => this._retryNow();
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this._online);
    this._connect();
    return this;
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this._online);
    clearTimeout(this.timer);
    if (this.socket) {
      this.socket.onclose = null;
      this.socket.close(1000);
      this.socket = null;
    }
    this._setStatus("closed");
  }

  _setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }

  _url() {
    const url = new URL(`/ws/runs/${this.runId}/`, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("after", String(this.lastSeq));
    return url.toString();
  }

  _connect() {
    if (this.stopped) return;
    this._setStatus(this.failures ? "reconnecting" : "connecting");
    let socket;
    try {
      socket = new WebSocket(this._url());
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onmessage = (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      this._receive(data);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.socket = null;
      this._closed(event);
    };
  }

  _receive(message) {
    switch (message.type) {
      case "event":
        this._event(message);
        break;
      case "delta":
        // A delta belongs after the event it follows; if that has not arrived, it is stale.
        if (message.after_seq == null || message.after_seq <= this.lastSeq) this.onDelta(message);
        break;
      case "ready":
        this.failures = 0;
        this._setStatus("live");
        if (message.seq > this.lastSeq) void this.fill();
        break;
      case "heartbeat":
        if (message.seq > this.lastSeq) void this.fill();
        break;
      default:
        break;
    }
  }

  _event(event) {
    if (event.seq <= this.lastSeq) return;
    if (event.seq > this.lastSeq + 1) {
      this.pending.set(event.seq, event);
      void this.fill();
      return;
    }
    this._deliver(event);
    this._drain();
  }

  _deliver(event) {
    this.lastSeq = event.seq;
    this.pending.delete(event.seq);
    if (/^run\.(succeeded|failed|cancelled|dead_letter)$/.test(event.kind)) this.finished = true;
    try {
      this.onEvent(event);
    } catch (error) {
      console.error("Run event handler failed", error);
    }
  }

  _drain() {
    let next = this.pending.get(this.lastSeq + 1);
    while (next) {
      this._deliver(next);
      next = this.pending.get(this.lastSeq + 1);
    }
    for (const seq of [...this.pending.keys()]) if (seq <= this.lastSeq) this.pending.delete(seq);
    if (this.finished && !this.pending.size && this.socket) {
      // Nothing follows a finished run's last event: let the socket go.
      const socket = this.socket;
      this.socket = null;
      socket.onclose = null;
      socket.close(1000);
      this._setStatus("closed");
    }
  }

  /** Read the log after the last seq seen (a gap, a heartbeat ahead of us, a resume). */
  fill() {
    if (this.filling) return this.filling;
    this.filling = (async () => {
      try {
        for (let page = 0; page < 50; page++) {
          const response = await fetch(`/api/runs/${this.runId}/events?after=${this.lastSeq}`, {
            credentials: "same-origin",
            headers: { Accept: "application/json" },
          });
          if (!response.ok) break;
          const body = await response.json();
          for (const event of body.events || []) if (event.seq === this.lastSeq + 1) this._deliver(event);
          if (!body.has_more) break;
        }
      } catch {
        // The socket's reconnect catches up instead.
      } finally {
        this.filling = null;
        this._drain();
      }
    })();
    return this.filling;
  }

  _closed(event) {
    if (this.stopped) return;
    if (event.code === 4403) {
      this._setStatus("forbidden");
      return;
    }
    if (this.finished) {
      this._setStatus("closed");
      return;
    }
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    this.failures += 1;
    this.reconnects += 1;
    this._setStatus(navigator.onLine === false ? "offline" : "reconnecting");
    const base = Math.min(MAX_BACKOFF_MS, 400 * 2 ** Math.min(this.failures - 1, 6));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._connect(), base * (0.75 + Math.random() * 0.5));
  }

  _retryNow() {
    if (this.stopped || this.socket || this.finished) return;
    clearTimeout(this.timer);
    this._connect();
  }
}
