/*
 * "Add a row" for a Django formset rendered as a table:
 *   <div data-formset data-formset-prefix="measures"> … {{ formset.management_form }} …
 *     <tbody data-formset-rows> rows </tbody>
 *     <template data-formset-template> a row with __prefix__ in its names </template>
 *     <button type="button" data-formset-add>Add a row</button>
 * Each click appends the template with the next index and raises TOTAL_FORMS (up to MAX_NUM_FORMS).
 */
(function () {
  "use strict";
  document.querySelectorAll("[data-formset]").forEach(function (root) {
    const prefix = root.getAttribute("data-formset-prefix");
    const total = root.querySelector('input[name="' + prefix + '-TOTAL_FORMS"]');
    const max = root.querySelector('input[name="' + prefix + '-MAX_NUM_FORMS"]');
    const rows = root.querySelector("[data-formset-rows]");
    const template = root.querySelector("template[data-formset-template]");
    const add = root.querySelector("[data-formset-add]");
    if (!total || !rows || !template || !add) return;
    add.addEventListener("click", function () {
      const index = parseInt(total.value, 10) || 0;
      if (max && index >= parseInt(max.value, 10)) return;
      const html = template.innerHTML.replace(/__prefix__/g, String(index));
      rows.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      const first = rows.lastElementChild && rows.lastElementChild.querySelector("input");
      if (first) first.focus();
    });
  });
})();
