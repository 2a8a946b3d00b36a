// The run page's canvas is resizable: drag the bar under it (or focus it and use the arrow
// keys); the height is remembered for the next run page.

const KEY = "switchboard.runCanvasHeight";
const MIN = 180;
const STEP = 40;

/**
 * Make `canvas` resizable by dragging `bar` vertically.
 * @param {HTMLElement} canvas
 * @param {HTMLElement} bar
 */
export function resizable(canvas, bar) {
  const max = () => Math.max(MIN, window.innerHeight - 160);
  /** @param {number} px */
  const apply = (px) => {
    const height = Math.round(Math.min(max(), Math.max(MIN, px)));
    canvas.style.flex = `0 0 ${height}px`;
    bar.setAttribute("aria-valuenow", String(height));
    return height;
  };
  const saved = Number(localStorage.getItem(KEY));
  if (saved) apply(saved);
  bar.setAttribute("aria-valuemin", String(MIN));
  bar.setAttribute("aria-valuemax", String(max()));
  const save = () => {
    try {
      localStorage.setItem(KEY, String(canvas.getBoundingClientRect().height));
    } catch {
      /* storage disabled: the size lasts for this page */
    }
  };
  bar.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    const startY = event.clientY;
    const startHeight = canvas.getBoundingClientRect().height;
    bar.setPointerCapture(event.pointerId);
    bar.classList.add("is-dragging");
    /** @param {PointerEvent} move */
    const onMove = (move) => apply(startHeight + move.clientY - startY);
    const onUp = () => {
      bar.removeEventListener("pointermove", onMove);
      bar.removeEventListener("pointerup", onUp);
      bar.classList.remove("is-dragging");
      save();
    };
    bar.addEventListener("pointermove", onMove);
    bar.addEventListener("pointerup", onUp);
  });
  bar.addEventListener("keydown", (event) => {
    const now = canvas.getBoundingClientRect().height;
    if (event.key === "ArrowDown") apply(now + STEP);
    else if (event.key === "ArrowUp") apply(now - STEP);
    else return;
    event.preventDefault();
    save();
  });
}
