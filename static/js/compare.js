// The compare page: when a run still in progress ends, reload to show the final comparison.

const watched = new Set(JSON.parse(document.getElementById("compare-watch")?.textContent || "[]"));
const ENDED = new Set(["run.succeeded", "run.failed", "run.cancelled", "run.dead_letter"]);

if (watched.size) {
  const reload = () => window.location.reload();
  document.body.addEventListener("sb:workspace-event", (event) => {
    const message = /** @type {CustomEvent} */ (event).detail;
    if (watched.has(message.run_id) && ENDED.has(message.kind)) reload();
  });
  // Events missed while the stream was down: the page may be stale.
  document.body.addEventListener("sb:workspace-resync", reload);
}
