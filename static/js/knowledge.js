// The knowledge pages: switch workspace on change, show the meaning/words balance of a query.
/** @type {NodeListOf<HTMLSelectElement>} */ (
  document.querySelectorAll("form[data-autosubmit] select")
).forEach((select) => {
  select.addEventListener("change", () => select.form?.requestSubmit());
});

const weight = /** @type {HTMLInputElement | null} */ (document.querySelector("[data-weight]"));
const shown = document.querySelector("[data-weight-value]");
if (weight && shown) {
  const update = () => {
    shown.textContent = `${Math.round(Number(weight.value) * 100)}%`;
  };
  weight.addEventListener("input", update);
  update();
}
