// The chat page: follow each unfinished turn's run and show its answer as it streams in, then
// fetch the finished turn (answer, sources, link to the run) from the server. Sending goes
// through htmx (the new turn is appended); errors are shown under the composer.
import { RunStream } from "./run_stream.js";

const FINISHED = /^run\.(succeeded|failed|cancelled|dead_letter|waiting)$/;
/** @type {WeakSet<HTMLElement>} */
const followed = new WeakSet();

/** @param {HTMLElement} turn */
function refresh(turn) {
  window.htmx.ajax("GET", turn.dataset.turnUrl, { target: turn, swap: "outerHTML" });
}

/** @param {HTMLElement} turn */
function follow(turn) {
  const runId = Number(turn.dataset.runId);
  if (!runId || followed.has(turn)) return;
  followed.add(turn);
  const out = /** @type {HTMLElement | null} */ (turn.querySelector("[data-stream]"));
  const thinking = turn.querySelector("[data-thinking]");
  let node = "";
  const stream = new RunStream(runId, {
    after: Number(turn.dataset.after || 0),
    onDelta: (message) => {
      if (!out) return;
      if (message.node_id !== node) {
        node = message.node_id;
        out.textContent = "";
      }
      out.hidden = false;
      out.textContent += (message.data && message.data.text) || "";
      turn.dataset.streaming = "true";
      if (thinking) thinking.setAttribute("hidden", "");
    },
    onEvent: (event) => {
      if (!FINISHED.test(event.kind)) return;
      stream.stop();
      refresh(turn);
    },
  });
  stream.start();
}

/** @param {ParentNode} root */
function followAll(root) {
  root.querySelectorAll("[data-turn-live]").forEach((turn) => follow(/** @type {HTMLElement} */ (turn)));
}

function countTurns() {
  const count = document.querySelector("[data-turn-count]");
  const n = document.querySelectorAll("[data-turn]").length;
  if (count) count.textContent = `${n} message${n === 1 ? "" : "s"}`;
}

function lastTurnIntoView() {
  const turns = document.querySelectorAll("[data-turn]");
  if (turns.length) turns[turns.length - 1].scrollIntoView({ block: "nearest" });
}

const form = /** @type {HTMLFormElement | null} */ (document.querySelector("[data-chat-form]"));
const errors = document.querySelector("[data-send-errors]");
const input = /** @type {HTMLTextAreaElement | null} */ (document.querySelector("[data-chat-input]"));

if (form && input) {
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (input.value.trim()) form.requestSubmit();
    }
  });
}

document.body.addEventListener("htmx:beforeSwap", (event) => {
  const detail = /** @type {CustomEvent} */ (event).detail;
  if (!form || detail.requestConfig?.elt !== form) return;
  if (detail.xhr.status >= 400 && errors) {
    // The reason, in words, under the composer; the message stays in the box.
    errors.replaceChildren();
    detail.shouldSwap = true;
    detail.isError = false;
    detail.target = errors;
  } else if (errors) {
    errors.replaceChildren();
    if (input) input.value = "";
    document.querySelector("[data-chat-empty]")?.remove();
  }
});

document.body.addEventListener("htmx:afterSettle", () => {
  followAll(document);
  countTurns();
  lastTurnIntoView();
});

// Asked before forms.js marks the form as submitting (window capture comes first), so a
// "Cancel" leaves the button usable.
window.addEventListener(
  "submit",
  (event) => {
    const target = /** @type {HTMLElement} */ (event.target);
    if (!target.matches?.("[data-delete-conversation]")) return;
    if (!window.confirm("Delete this conversation and what the flow remembers of it? Its runs stay in the history.")) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);

followAll(document);
lastTurnIntoView();
