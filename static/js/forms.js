// One submission per form at a time: a second click on "Create flow" or "Log in" while the
// first is on its way does nothing. Native and htmx forms are guarded here for every page;
// forms a script submits itself call `guard` and `release` (see flows.js).

/**
 * Mark a form as submitting; return false if it already is.
 * @param {HTMLFormElement} form
 * @returns {boolean}
 */
export function guard(form) {
  if (form.dataset.submitting === "true") return false;
  form.dataset.submitting = "true";
  form.setAttribute("aria-busy", "true");
  // After this event: a disabled submitter would be left out of the submitted data.
  window.setTimeout(() => {
    for (const button of form.querySelectorAll('button[type="submit"], button:not([type]), input[type="submit"]')) {
      const b = /** @type {HTMLButtonElement} */ (button);
      if (!b.disabled) {
        b.disabled = true;
        b.dataset.guarded = "true";
      }
    }
  }, 0);
  return true;
}

/**
 * Let a form be submitted again (its request finished or failed).
 * @param {HTMLFormElement} form
 */
export function release(form) {
  delete form.dataset.submitting;
  form.removeAttribute("aria-busy");
  for (const button of form.querySelectorAll("[data-guarded]")) {
    const b = /** @type {HTMLButtonElement} */ (button);
    b.disabled = false;
    delete b.dataset.guarded;
  }
}

/** @param {HTMLFormElement} form */
function guarded(form) {
  const method = (form.getAttribute("method") || "get").toLowerCase();
  const htmx = form.hasAttribute("hx-post") || form.hasAttribute("hx-put") || form.hasAttribute("hx-delete");
  return !form.hasAttribute("data-no-guard") && (method === "post" || htmx);
}

document.addEventListener(
  "submit",
  (event) => {
    const form = /** @type {HTMLFormElement} */ (event.target);
    if (!(form instanceof HTMLFormElement) || !guarded(form)) return;
    if (!guard(form)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true,
);

document.addEventListener("htmx:afterRequest", (event) => {
  const form = /** @type {HTMLElement} */ (event.target)?.closest?.("form");
  if (form) release(form);
});

// Back from the next page (bfcache): the form is usable again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-submitting]")) release(/** @type {HTMLFormElement} */ (form));
});
