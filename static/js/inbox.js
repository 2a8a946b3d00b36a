// The approvals inbox: edit mode for the values to review, the selected item in the list, and
// live refreshes (the list itself refreshes through htmx on `approvals-changed`).

const list = document.getElementById("approval-list");
/** @type {HTMLElement} */
const toasts = document.querySelector("[data-toasts]");
const me = /** @type {HTMLElement | null} */ (document.querySelector("[data-me]"))?.dataset.me;

function pane() {
  return document.getElementById("approval-detail");
}

function toast(message) {
  const item = document.createElement("div");
  item.className = "sb-toast sb-toast-error";
  item.textContent = message;
  toasts.append(item);
  window.setTimeout(() => item.remove(), 7000);
}

/** @param {HTMLFormElement} form @param {boolean} editing */
function setEditing(form, editing) {
  form.dataset.editing = String(editing);
  /** @type {NodeListOf<HTMLTextAreaElement>} */
  const fields = form.querySelectorAll(".sb-review-edit textarea");
  for (const field of fields) {
    if (!editing) field.value = field.defaultValue;
    field.disabled = !editing;
  }
  if (editing) /** @type {HTMLTextAreaElement | null} */ (form.querySelector(".sb-review-edit textarea"))?.focus();
}

function markSelected() {
  const current = pane()?.dataset.approvalId;
  /** @type {NodeListOf<HTMLElement>} */
  const items = list.querySelectorAll("[data-approval-id]");
  for (const item of items) {
    if (item.dataset.approvalId === current) item.setAttribute("aria-current", "true");
    else item.removeAttribute("aria-current");
  }
  const placeholder = document.querySelector("[data-placeholder]");
  if (placeholder) {
    const hasItems = Boolean(list.querySelector("[data-approval-id]"));
    /** @type {NodeListOf<HTMLElement>} */
    const parts = placeholder.querySelectorAll("[data-when]");
    for (const el of parts) {
      el.hidden = (el.dataset.when === "items") !== hasItems;
    }
  }
}

document.addEventListener("click", (event) => {
  /** @type {HTMLElement | null} */
  const button = /** @type {Element} */ (event.target).closest("[data-action]");
  /** @type {HTMLFormElement | null} */
  const form = button?.closest("form.sb-inbox-decision");
  if (!form) return;
  if (button.dataset.action === "edit") {
    event.preventDefault();
    setEditing(form, true);
  } else if (button.dataset.action === "discard") {
    event.preventDefault();
    setEditing(form, false);
  }
});

document.body.addEventListener("htmx:afterSettle", markSelected);

document.body.addEventListener("htmx:confirm", (event) => {
  // The item already open in the pane: nothing to load, and loading it again would replace
  // the pane (and what the person had started typing in it) when the answer arrives.
  const item = /** @type {HTMLElement | null} */ (
    /** @type {Element} */ (event.target).closest("#approval-list [data-approval-id]")
  );
  if (item && pane()?.dataset.approvalId === item.dataset.approvalId) event.preventDefault();
});

document.body.addEventListener("approvals-changed", (event) => {
  // Someone else settled the approval on screen: show its final state (nothing to lose, since
  // it can no longer be decided).
  const message = /** @type {CustomEvent} */ (event).detail || {};
  const open = pane();
  if (
    message.kind === "approval.decided" &&
    message.data?.final &&
    message.data.by !== me &&
    open?.dataset.approvalId === String(message.data.approval_id) &&
    open.dataset.status === "pending"
  ) {
    window.htmx.ajax("GET", `/approvals/${open.dataset.approvalId}/`, {
      target: "#approval-detail",
      swap: "outerHTML",
    });
  }
});

document.body.addEventListener("htmx:responseError", (event) => {
  const status = /** @type {CustomEvent} */ (event).detail.xhr.status;
  if (status === 404) toast("That approval is not available to you any more.");
  else toast(`Something went wrong on our side (${status}). Try again in a moment.`);
});

document.body.addEventListener("htmx:sendError", () => {
  toast("Could not reach Switchboard. Check your connection and try again.");
});

markSelected();
