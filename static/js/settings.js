// Workspace settings pages: the workspace switcher, selects that save on change, confirmations
// before destructive actions, the token expiry date field, and copying a new token once.
// Every form also works without this script (plain POST and a Submit button).

/** @param {string} text */
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "sb-visually-hidden";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

// The workspace switcher goes straight to the same page of the chosen workspace.
for (const select of document.querySelectorAll("[data-workspace-select]")) {
  const form = select.closest("form");
  form?.querySelector("[data-switch-submit]")?.setAttribute("hidden", "");
  select.addEventListener("change", () => form?.requestSubmit());
}

// A select marked data-autosubmit submits its form when changed; its button is then redundant.
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  const form = select.closest("form");
  if (!form) continue;
  form.querySelector("[data-autosubmit-button]")?.setAttribute("hidden", "");
  select.addEventListener("change", () => form.requestSubmit());
}

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.getAttribute("data-confirm") || "Are you sure?")) {
      event.preventDefault();
    }
  });
}

const expiry = document.querySelector("[data-expiry-select]");
const expiryDate = document.querySelector("[data-expiry-date]");
if (expiry instanceof HTMLSelectElement && expiryDate instanceof HTMLElement) {
  const sync = () => {
    const custom = expiry.value === "custom";
    expiryDate.hidden = !custom;
    const input = expiryDate.querySelector("input");
    if (input) input.required = custom;
  };
  expiry.addEventListener("change", sync);
  sync();
}

for (const button of document.querySelectorAll("[data-copy]")) {
  button.addEventListener("click", async () => {
    const field = document.querySelector(button.getAttribute("data-copy") || "");
    if (!(field instanceof HTMLInputElement)) return;
    const label = button.textContent;
    try {
      await copyText(field.value);
      button.textContent = "Copied";
      button.setAttribute("data-copied", "true");
    } catch {
      field.select();
      button.textContent = "Press Ctrl+C";
    }
    setTimeout(() => {
      button.textContent = label;
    }, 2500);
  });
}

// The new token's value is not kept in the page history: going back shows no token.
if (document.querySelector("[data-token-once]")) {
  window.history.replaceState(null, "", window.location.pathname.replace(/create\/$/, ""));
}
