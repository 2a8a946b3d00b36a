// Small DOM and formatting helpers for the run page. Everything a run produced (model text,
// tool output, inputs) goes into the page as text nodes, never as HTML.

/** Create an element: `el("pre", { class: "sb-pre", text: output })`. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function money(value) {
  const n = Number(value || 0);
  return `$${n.toFixed(n > 0 && n < 0.0001 ? 6 : 4)}`;
}

export function count(value) {
  return Number(value || 0).toLocaleString("en-US");
}

/** A value as readable text: strings as they are, everything else as indented JSON. */
export function pretty(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** A `<pre>` holding a value as text (LLM text in the body font, data as JSON). */
export function block(value, extra = "") {
  const text = pretty(value);
  return el("pre", { class: `sb-pre${typeof value === "string" ? " is-text" : ""}${extra ? ` ${extra}` : ""}`, text: text || "—" });
}

export function toast(message, kind = "error") {
  const region = document.querySelector("[data-toasts]");
  if (!region) return;
  const item = el("div", { class: `sb-toast sb-toast-${kind}`, text: message });
  region.append(item);
  setTimeout(() => item.remove(), 6000);
}

export const STATE_LABELS = {
  queued: "Queued",
  running: "Running",
  waiting: "Waiting",
  succeeded: "Succeeded",
  failed: "Failed",
  skipped: "Skipped",
  cancelled: "Cancelled",
  needs_attention: "Needs attention",
  reused: "Reused",
  dead_letter: "Dead-lettered",
};
