// The workspace stream, on every page: run status changes and approvals in my workspaces.
//
// Each message is re-dispatched on <body> as a `sb:workspace-event` DOM event (detail: the
// message), and approval changes also as `approvals-changed`, which the navigation badge and the
// inbox listen to with htmx (`hx-trigger="approvals-changed from:body"`). After a reconnect
// (events may have been missed meanwhile) both fire once so listeners refetch.

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30000;
const CLOSE_FORBIDDEN = 4403;
const CLOSES_APPROVALS = new Set(["run.failed", "run.cancelled", "run.dead_letter"]);

let retry = RETRY_FIRST_MS;
let connectedBefore = false;

function emit(name, detail) {
  document.body.dispatchEvent(new CustomEvent(name, { detail }));
}

function changesApprovals(message) {
  if (message.kind === "approval.requested") return Boolean(message.for_you);
  return message.kind === "approval.decided" || CLOSES_APPROVALS.has(message.kind);
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}/ws/workspace/`);
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "ready") {
      retry = RETRY_FIRST_MS;
      document.body.dataset.workspaceStream = "live";
      if (connectedBefore) {
        emit("sb:workspace-resync", message);
        emit("approvals-changed", message);
      }
      connectedBefore = true;
      return;
    }
    if (message.type !== "event") return;
    emit("sb:workspace-event", message);
    if (changesApprovals(message)) emit("approvals-changed", message);
  });
  socket.addEventListener("close", (event) => {
    document.body.dataset.workspaceStream = "offline";
    if (event.code === CLOSE_FORBIDDEN) return; // not in any workspace: nothing to follow
    window.setTimeout(connect, retry + Math.random() * 500);
    retry = Math.min(retry * 2, RETRY_MAX_MS);
  });
}

if ("WebSocket" in window) connect();
