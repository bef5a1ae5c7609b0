/*
 * The new-job form (templates/training/job_form.html):
 *   - choosing another project reloads the page for it (its dataset versions differ);
 *   - the card beside the form shows what the chosen preset resolves to for the chosen dataset version,
 *     and each empty Advanced field shows that value as its placeholder (filled fields override it).
 * The settings come from the page (json_script "preset-settings"): {labels: {key: label},
 * versions: {versionId: {preset: {key: value}}}}.
 */
(function () {
  "use strict";

  const form = document.getElementById("job-form");
  const holder = document.getElementById("preset-settings");
  if (!form || !holder) return;
  const settings = JSON.parse(holder.textContent);
  const table = document.querySelector("[data-resolved-table]");
  const presetName = document.querySelector("[data-resolved-preset]");

  const project = form.querySelector("[data-navigate-param]");
  if (project) {
    project.addEventListener("change", function () {
      const url = new URL(window.location.href);
      url.searchParams.set(project.getAttribute("data-navigate-param"), project.value);
      window.location.assign(url.toString());
    });
  }

  function chosen(name) {
    const field = form.elements[name];
    if (!field) return "";
    return field.value !== undefined ? field.value : "";
  }

  function cell(tag, text, className) {
    const el = document.createElement(tag);
    el.textContent = text;
    if (className) el.className = className;
    return el;
  }

  function render() {
    const preset = chosen("preset");
    const values = ((settings.versions || {})[chosen("dataset_version")] || {})[preset];
    table.replaceChildren();
    if (presetName) presetName.textContent = preset ? preset.charAt(0).toUpperCase() + preset.slice(1) : "";
    if (!values) {
      const row = document.createElement("tr");
      row.appendChild(cell("td", "Choose a dataset version to see them.", "text-body-secondary"));
      table.appendChild(row);
    }
    Object.keys(settings.labels).forEach(function (key) {
      if (values) {
        const row = document.createElement("tr");
        const head = cell("th", settings.labels[key], "fw-normal text-body-secondary");
        head.scope = "row";
        const value = values[key];
        row.appendChild(head);
        row.appendChild(cell("td", value === null || value === undefined ? "—" : String(value), "text-end font-monospace"));
        table.appendChild(row);
      }
      const input = form.elements[key];
      if (input && input.tagName === "INPUT") {
        input.placeholder = values && values[key] !== null && values[key] !== undefined ? String(values[key]) : "";
      }
    });
  }

  form.addEventListener("change", function (event) {
    if (event.target.name === "dataset_version" || event.target.name === "preset") render();
  });
  render();
})();
