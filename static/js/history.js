// Run history: live status updates. A run event for a run on this page, or a new run while the
// first page is shown, refreshes the results (table and chart) from the server, at most once a
// second.

const REFRESH_DELAY_MS = 700;
let timer = null;

function results() {
  return document.getElementById("history-results");
}

function refresh() {
  timer = null;
  const current = results();
  if (!current || !window.htmx) return;
  window.htmx.ajax("GET", window.location.pathname + window.location.search, {
    target: "#history-results",
    select: "#history-results",
    swap: "outerHTML",
  });
}

function schedule() {
  if (timer === null) timer = window.setTimeout(refresh, REFRESH_DELAY_MS);
}

document.body.addEventListener("sb:workspace-event", (event) => {
  const message = /** @type {CustomEvent} */ (event).detail;
  if (!message.kind?.startsWith("run.")) return;
  const onPage = results()?.querySelector(`tr[data-run-id="${message.run_id}"]`);
  const firstPage = results()?.dataset.page === "1";
  if (onPage || (firstPage && message.kind === "run.queued")) schedule();
});

document.body.addEventListener("sb:workspace-resync", schedule);
