// The evaluation form shows only the fields of the chosen scorer, and the versions of the
// chosen flow (the form still works without script: every field is sent, the unused ignored).
const form = document.querySelector("[data-testid='evaluate-form']");
if (form) {
  /** @param {string} name */
  const select = (name) =>
    /** @type {HTMLSelectElement} */ (form.querySelector(`select[name='${name}']`));
  const scorer = select("scorer");
  const flow = select("flow");
  const version = select("version");
  const showScorerFields = () => {
    for (const field of /** @type {NodeListOf<HTMLElement>} */ (
      form.querySelectorAll("[data-scorer-field]")
    )) {
      field.hidden = field.dataset.scorerField !== scorer.value;
    }
  };
  const showVersions = () => {
    for (const option of version.options) {
      if (option.dataset.flow) option.hidden = option.dataset.flow !== flow.value;
    }
    if (version.selectedOptions[0]?.hidden) version.value = "draft";
  };
  scorer.addEventListener("change", showScorerFields);
  flow.addEventListener("change", showVersions);
  showScorerFields();
  showVersions();
}
