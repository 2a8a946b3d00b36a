// The period and workspace pickers apply at once (the form still works without script).
for (const select of /** @type {NodeListOf<HTMLSelectElement>} */ (
  document.querySelectorAll("select[data-autosubmit]")
)) {
  select.addEventListener("change", () => select.form?.requestSubmit());
}
