// Model providers page: "+ Another model" adds an empty row to a provider's models table.
// Without this script the form still offers three empty rows.

for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ (
  document.querySelectorAll("[data-add-model]")
)) {
  const table = button.previousElementSibling;
  const body = table?.querySelector("tbody");
  if (!(body instanceof HTMLElement)) continue;
  button.hidden = false;
  button.addEventListener("click", () => {
    const last = body.querySelector("tr[data-model-row]:last-of-type");
    if (!(last instanceof HTMLElement)) return;
    const row = /** @type {HTMLElement} */ (last.cloneNode(true));
    for (const input of row.querySelectorAll("input")) {
      input.value = "";
      input.placeholder = input.name === "model_name" ? "" : input.placeholder;
    }
    body.append(row);
    row.querySelector("input")?.focus();
  });
}
