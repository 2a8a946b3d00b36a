// A waiting approval, inline on the run page: what the flow produced and why, and for assignees
// Approve / Reject (with a comment, and edits where the approval allows them). Others see who
// it is waiting for.
import { api } from "./api.js";
import { el, pretty } from "./run_dom.js";

function waitingFor(approval) {
  const people = [...(approval.assignees || []), ...(approval.groups || []).map((g) => `group ${g}`)];
  return people.length ? people.join(", ") : "an approver";
}

/** A failed step handed to a person: what went wrong, and where to settle it (the inbox). */
function fallbackPanel(approval, title) {
  const problem = approval.payload?.error || {};
  let status;
  if (approval.can_decide) status = "You can settle it: type its output, retry it, or fail it.";
  else if (approval.can_decide === undefined) status = "Loading who can settle it…";
  else status = `Waiting for ${waitingFor(approval)}.`;
  return el(
    "section",
    { class: "sb-approval sb-approval-fallback", "data-approval": approval.id, "data-kind": "fallback", "aria-label": `Failed step ${title}` },
    el(
      "div",
      { class: "sb-approval-head" },
      el("span", { class: "sb-approval-icon", "aria-hidden": "true" }),
      el("div", {}, el("h2", { text: `${title} failed and is waiting for a person` }), el("p", { class: "sb-small sb-muted", "data-approval-status": true, text: status })),
    ),
    problem.message ? el("p", { class: "sb-error", "data-fallback-error": true, text: problem.message }) : null,
    el("p", {}, el("a", { class: "sb-btn sb-btn-primary", href: `/approvals/${approval.id}/`, "data-fallback-link": true, text: approval.can_decide ? "Settle it in the inbox" : "Open in the inbox" })),
  );
}

function panel(approval, { labelOf, onDecided }) {
  const title = approval.title || labelOf(approval.node_id);
  if (approval.kind === "fallback") return fallbackPanel(approval, title);
  const mine = approval.my_decision;
  const approved = (approval.decisions || []).filter((d) => d.decision === "approved").length;
  let status;
  if (approval.submitting) status = "Sending your decision…";
  else if (mine) status = `You ${mine} this. ${approval.quorum > 1 ? `${approved} of ${approval.quorum} approvals so far.` : "The run continues."}`;
  else if (approval.can_decide) status = `You can decide.${approval.quorum > 1 ? ` Needs ${approval.quorum} approvals (${approved} so far).` : ""}`;
  else if (approval.can_decide === undefined) status = "Loading who can decide…";
  else status = `Waiting for ${waitingFor(approval)}.`;
  const section = el(
    "section",
    { class: `sb-approval${mine ? " is-decided" : ""}`, "data-approval": approval.id, "aria-label": `Approval ${title}` },
    el(
      "div",
      { class: "sb-approval-head" },
      el("span", { class: "sb-approval-icon", "aria-hidden": "true" }),
      el("div", {}, el("h2", { text: `${title} is waiting for a decision` }), el("p", { class: "sb-small sb-muted", "data-approval-status": true, text: status })),
    ),
    approval.instructions ? el("p", { class: "sb-approval-instructions", text: approval.instructions }) : null,
  );
  const payload = el("pre", { class: "sb-pre", "data-approval-payload": true, text: pretty(approval.payload ?? {}) });
  section.append(payload);
  if (!approval.can_decide || mine) return section;

  const error = el("p", { class: "sb-error", role: "alert", hidden: true });
  const comment = el("textarea", { class: "sb-input", id: `approval-comment-${approval.id}`, rows: "2", maxlength: "5000", "data-approval-comment": true });
  let editor = null;
  const form = el(
    "form",
    { class: "sb-approval-form", "data-approval-form": true, onsubmit: (e) => e.preventDefault() },
    el("label", { class: "sb-field-label", for: comment.id }, "Comment ", el("span", { class: "sb-muted", text: "(optional)" })),
    comment,
  );
  if (approval.allow_edit) {
    const toggle = el("button", {
      type: "button",
      class: "sb-link-btn",
      text: "Edit the content first",
      onclick: () => {
        if (editor) return;
        editor = el("textarea", { class: "sb-input sb-code", rows: "8", "aria-label": "Edited payload (JSON)", "data-approval-edit": true });
        editor.value = JSON.stringify(approval.payload ?? {}, null, 2);
        payload.replaceWith(editor);
        toggle.remove();
        editor.focus();
      },
    });
    form.append(toggle);
  }
  const decide = async (decision, button) => {
    error.hidden = true;
    const body = { decision, comment: comment.value };
    if (editor && decision === "approved") {
      try {
        body.payload = JSON.parse(editor.value);
      } catch {
        error.textContent = "The edited payload is not valid JSON.";
        error.hidden = false;
        return;
      }
    }
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    button.textContent = decision === "approved" ? "Approving…" : "Rejecting…";
    try {
      const out = await api("POST", `/approvals/${approval.id}/decision`, body);
      onDecided(approval.id, out);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      for (const b of form.querySelectorAll("button")) b.disabled = false;
      button.textContent = decision === "approved" ? "Approve" : "Reject";
    }
  };
  const approve = el("button", { type: "button", class: "sb-btn sb-btn-primary", "data-decision": "approved", text: "Approve" });
  const reject = el("button", { type: "button", class: "sb-btn sb-btn-danger-text", "data-decision": "rejected", text: "Reject" });
  approve.addEventListener("click", () => decide("approved", approve));
  reject.addEventListener("click", () => decide("rejected", reject));
  form.append(el("div", { class: "sb-approval-actions" }, approve, reject), error);
  section.append(form);
  return section;
}

export class Approvals {
  constructor(container, { labelOf }) {
    this.container = container;
    this.labelOf = labelOf;
    this.loaded = new Map();
    this.shown = "";
  }

  /** Fetch who may decide (and what they decided) for an approval requested live. */
  async load(model, id, rerender) {
    if (this.loaded.has(id)) return;
    this.loaded.set(id, true);
    try {
      const full = await api("GET", `/approvals/${id}`);
      Object.assign(model.approvals.get(id) || {}, {
        title: full.title,
        kind: full.kind,
        can_decide: full.can_decide,
        assignees: full.assignees,
        groups: full.groups,
        allow_edit: full.allow_edit,
        quorum: full.quorum,
        my_decision: full.my_decision,
        decisions: full.decisions.map((d) => ({ user: d.user, decision: d.decision, comment: d.comment })),
      });
    } catch {
      this.loaded.delete(id);
    }
    rerender();
  }

  render(model, { interactive = true } = {}) {
    const pending = [...model.approvals.values()].filter((a) => a.status === "pending");
    const key = JSON.stringify(pending.map((a) => [a.id, a.can_decide, a.my_decision, a.submitting, a.quorum, (a.decisions || []).length, interactive]));
    if (key === this.shown) return;
    this.shown = key;
    const onDecided = (id, out) => {
      const approval = model.approvals.get(id);
      if (approval) {
        approval.my_decision = out.my_decision || out.decisions?.find((d) => d.user === out.me)?.decision || "decided";
        approval.can_decide = false;
      }
      this.render(model, { interactive });
    };
    this.container.replaceChildren(
      ...pending.map((a) => panel(interactive ? a : { ...a, can_decide: false }, { labelOf: this.labelOf, onDecided })),
    );
  }
}
