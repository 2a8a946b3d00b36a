// The flows list: create, import, duplicate, delete and demo flows, all through the JSON API.
import { api } from "./api.js";

const workspaceId = JSON.parse(document.getElementById("workspace-id")?.textContent || "null");
/** @type {HTMLElement} */
const toasts = document.querySelector("[data-toasts]");

function toast(message, kind = "error") {
  const item = document.createElement("div");
  item.className = `sb-toast sb-toast-${kind}`;
  item.textContent = message;
  toasts.append(item);
  setTimeout(() => item.remove(), 6000);
}

function openEditor(flow) {
  window.location.assign(`/flows/${flow.id}/`);
}

/** @returns {HTMLDialogElement} */
function dialog(name) {
  return document.querySelector(`[data-dialog="${name}"]`);
}

for (const el of document.querySelectorAll("dialog [data-close]")) {
  el.addEventListener("click", () => el.closest("dialog").close());
}

document.querySelector("[data-workspace-switch]")?.addEventListener("change", (event) => {
  window.location.assign(`/?workspace=${encodeURIComponent(/** @type {HTMLSelectElement} */ (event.target).value)}`);
});

async function importDocument(document_, name) {
  const flow = await api("POST", "/flows/import", { workspace: workspaceId, document: document_, name });
  openEditor(flow);
}

/** @type {HTMLInputElement} */
const fileInput = document.querySelector("[data-import-file]");
fileInput?.addEventListener("change", async () => {
  const file = fileInput.files[0];
  fileInput.value = "";
  if (!file) return;
  if (file.size > 6 * 1024 * 1024) return toast("That file is larger than 6 MB.");
  let document_;
  try {
    document_ = JSON.parse(await file.text());
  } catch {
    return toast(`${file.name} is not a JSON file.`);
  }
  try {
    await importDocument(document_);
  } catch (error) {
    toast(`Could not import ${file.name}: ${error.message}`);
  }
});

/** @type {HTMLFormElement} */
const newForm = document.querySelector('[data-form="new"]');
// Picking a starter fills in its name and description unless the person typed their own.
newForm?.addEventListener("change", (event) => {
  const picked = /** @type {HTMLInputElement} */ (event.target);
  if (picked.name !== "template") return;
  /** @type {HTMLElement} */
  const card = picked.closest("[data-starter-name]");
  for (const [field, value] of [
    ["name", card?.dataset.starterName || ""],
    ["description", card?.dataset.starterDescription || ""],
  ]) {
    const input = /** @type {HTMLInputElement} */ (newForm.elements.namedItem(field));
    if (!input.value || input.dataset.filled === "true") {
      input.value = value;
      input.dataset.filled = "true";
    }
  }
});
for (const field of ["name", "description"]) {
  /** @type {HTMLInputElement} */ (newForm?.elements.namedItem(field))?.addEventListener("input", (event) => {
    /** @type {HTMLInputElement} */ (event.target).dataset.filled = "false";
  });
}
newForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  /** @type {HTMLButtonElement} */
  const submit = newForm.querySelector("[data-create]");
  if (submit.disabled) return;
  submit.disabled = true; // a double click sends one request; the token guards the rest
  const data = new FormData(newForm);
  /** @type {HTMLElement} */
  const errorEl = newForm.querySelector("[data-form-error]");
  errorEl.hidden = true;
  /** @type {Record<string, unknown>} */
  const body = {
    workspace: workspaceId,
    name: String(data.get("name")).trim(),
    description: String(data.get("description") || ""),
    request_token: String(data.get("request_token") || ""),
  };
  if (data.get("template")) body.template = String(data.get("template"));
  try {
    openEditor(await api("POST", "/flows", body));
  } catch (error) {
    errorEl.textContent = error.message;
    errorEl.hidden = false;
    submit.disabled = false;
  }
});

/** @type {HTMLElement | null} */
let pendingDelete = null;
const deleteForm = document.querySelector('[data-form="delete"]');
deleteForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const row = pendingDelete;
  dialog("delete").close();
  if (!row) return;
  try {
    await api("DELETE", `/flows/${row.dataset.flowId}`);
    row.remove();
    toast(`Deleted “${row.dataset.flowName}”.`, "success");
    if (!document.querySelector("[data-flow-id]")) window.location.reload();
  } catch (error) {
    toast(error.message);
  }
});

document.addEventListener("click", async (event) => {
  /** @type {HTMLButtonElement} */
  const button = /** @type {Element} */ (event.target).closest("[data-action]");
  if (!button) return;
  const action = button.dataset.action;
  /** @type {HTMLElement} */
  const row = button.closest("[data-flow-id]");
  if (action === "new") {
    dialog("new").showModal();
    document.getElementById("new-flow-name").focus();
  } else if (action === "import") {
    fileInput.click();
  } else if (action === "delete") {
    pendingDelete = row;
    dialog("delete").querySelector("[data-flow-name]").textContent = row.dataset.flowName;
    dialog("delete").showModal();
  } else if (action === "duplicate") {
    button.disabled = true;
    try {
      openEditor(await api("POST", `/flows/${row.dataset.flowId}/duplicate`));
    } catch (error) {
      toast(error.message);
      button.disabled = false;
    }
  } else if (action === "duplicate-selected") {
    button.disabled = true;
    const source = /** @type {HTMLSelectElement} */ (document.querySelector("[data-duplicate-source]")).value;
    try {
      openEditor(await api("POST", `/flows/${source}/duplicate`));
    } catch (error) {
      toast(error.message);
      button.disabled = false;
    }
  } else if (action === "demo") {
    button.disabled = true;
    try {
      const demos = JSON.parse(document.getElementById("demo-flows").textContent);
      const demo = demos[Number(button.dataset.demoIndex)];
      await importDocument(demo.document || (await (await fetch(demo.url)).json()));
    } catch (error) {
      toast(`Could not add the demo flow: ${error.message}`);
      button.disabled = false;
    }
  }
});
