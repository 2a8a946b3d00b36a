// Re-run actions of a finished run: "Re-run" (same version or the current draft, optionally with
// edited inputs), "Re-run from this step" (upstream steps reused), "Reproduce" (recorded
// responses, no external calls). Each opens the new run's page.
import { api } from "./api.js";
import { el } from "./run_dom.js";
import { inputsForm } from "./run_inputs_form.js";

export class Reruns {
  constructor({ runId, schema, inputs, labelOf }) {
    this.runId = runId;
    this.schema = schema;
    this.inputs = inputs;
    this.labelOf = labelOf;
    /** @type {HTMLDialogElement | null} */
    this.dialog = document.querySelector('[data-dialog="rerun"]');
    /** @type {HTMLFormElement | null} */
    this.form = this.dialog?.querySelector('[data-form="rerun"]');
    /** @type {string | null} */
    this.fromNode = null;
    /** @type {ReturnType<typeof inputsForm> | null} */
    this.inputsForm = null;
    if (!this.dialog) return;
    this.dialog.querySelector("[data-close]")?.addEventListener("click", () => this.dialog.close());
    this.form.querySelector("[data-edit-inputs]").addEventListener("change", (e) => this._toggleInputs(/** @type {HTMLInputElement} */ (e.target).checked));
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this._submit();
    });
  }

  _toggleInputs(on) {
    /** @type {HTMLElement} */
    const holder = this.form.querySelector("[data-rerun-inputs]");
    holder.hidden = !on;
    if (on && !this.inputsForm) {
      this.inputsForm = inputsForm(this.schema, this.inputs, { idPrefix: "rerun-input" });
      holder.replaceChildren(this.inputsForm.element);
    }
  }

  /** Open the dialog: from scratch, or from `fromNode` reusing what ran before it. */
  open(fromNode = null) {
    if (!this.dialog) return;
    this.fromNode = fromNode;
    const title = this.form.querySelector("[data-rerun-title]");
    const explain = this.form.querySelector("[data-rerun-explain]");
    if (fromNode) {
      title.textContent = `Re-run from “${this.labelOf(fromNode)}”`;
      explain.textContent = "The steps before it are reused as they are (no model calls, no cost); it and everything after it run again. This run stays as it is.";
    } else {
      title.textContent = "Re-run";
      explain.textContent = "A new run from the start with the same inputs. This run stays as it is.";
    }
    /** @type {HTMLElement} */ (this.form.querySelector("[data-form-error]")).hidden = true;
    /** @type {HTMLButtonElement} */
    const submit = this.form.querySelector("[data-rerun-submit]");
    submit.disabled = false;
    submit.textContent = fromNode ? "Re-run from this step" : "Start re-run";
    this.dialog.showModal();
  }

  async _submit() {
    /** @type {HTMLElement} */
    const error = this.form.querySelector("[data-form-error]");
    /** @type {HTMLButtonElement} */
    const submit = this.form.querySelector("[data-rerun-submit]");
    error.hidden = true;
    const target = /** @type {RadioNodeList} */ (this.form.elements.namedItem("target"));
    /** @type {Record<string, unknown>} */
    const body = { use_draft: target.value === "draft" };
    if (this.fromNode) body.from_node = this.fromNode;
    const editInputs = /** @type {HTMLInputElement} */ (this.form.querySelector("[data-edit-inputs]"));
    if (editInputs.checked && this.inputsForm) {
      const { values, errors } = this.inputsForm.read();
      if (!values) {
        error.replaceChildren(el("strong", { text: "Check the inputs:" }), el("ul", {}, errors.map((p) => el("li", { text: p.message }))));
        error.hidden = false;
        return;
      }
      body.inputs = values;
    }
    submit.disabled = true;
    submit.textContent = "Starting…";
    try {
      const started = await api("POST", `/runs/${this.runId}/rerun`, body);
      window.location.assign(started.url);
    } catch (e) {
      const items = Array.isArray(e.body?.errors) ? e.body.errors.map((p) => (typeof p === "string" ? p : p.message)) : [];
      error.replaceChildren(el("strong", { text: e.message }), items.length ? el("ul", {}, items.map((t) => el("li", { text: t }))) : "");
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = this.fromNode ? "Re-run from this step" : "Start re-run";
    }
  }

  /** @param {HTMLButtonElement} button */
  async reproduce(button) {
    button.disabled = true;
    try {
      const started = await api("POST", `/runs/${this.runId}/reproduce`);
      window.location.assign(started.url);
    } catch (e) {
      button.disabled = false;
      throw e;
    }
  }
}
