/*
 * Gives Django's default form widgets their Bootstrap classes, so templates/includes/form.html can
 * render any form without a third-party form package, and keeps forms from being submitted twice
 * (opt out with data-allow-resubmit on the <form>). A field required only for one choice of another
 * (data-required-when="automation=human_review" on its label's note) says "(required)" or "(optional)"
 * as that choice changes, and its input carries aria-required to match.
 */
(function () {
  "use strict";

  function classFor(el) {
    const tag = el.tagName;
    const type = (el.getAttribute("type") || "").toLowerCase();
    if (tag === "SELECT") return "form-select";
    if (tag === "TEXTAREA") return "form-control";
    if (type === "checkbox" || type === "radio") return "form-check-input";
    if (type === "range") return "form-range";
    if (type === "color") return "form-control form-control-color";
    if (["hidden", "submit", "button", "reset", "image"].includes(type)) return null;
    return "form-control";
  }

  function decorate(root) {
    root.querySelectorAll(".studio-field input, .studio-field select, .studio-field textarea").forEach(function (el) {
      const known = ["form-control", "form-select", "form-check-input", "form-range"];
      if (!known.some(function (c) { return el.classList.contains(c); })) {
        const cls = classFor(el);
        if (cls) el.classList.add.apply(el.classList, cls.split(" "));
      }
      const field = el.closest(".studio-field");
      if (field && field.classList.contains("has-error")) {
        el.classList.add("is-invalid");
        el.setAttribute("aria-invalid", "true");
      }
    });
    root.querySelectorAll(".studio-choice-list label").forEach(function (label) {
      label.classList.add("form-check-label");
    });
  }

  // A rule's value for a form control: a checkbox's when ticked (its value, "on" by default), else "".
  function currentValue(control) {
    if (!control) return undefined;
    if (control.type === "checkbox") return control.checked ? control.value : "";
    return control.value;
  }

  function followRequiredWhen(root) {
    root.querySelectorAll("[data-required-when]").forEach(function (note) {
      const form = note.closest("form");
      if (!form) return;
      const rule = note.getAttribute("data-required-when").split("=");
      const input = form.elements.namedItem(note.getAttribute("data-required-for"));
      function update() {
        const required = currentValue(form.elements.namedItem(rule[0])) === rule[1];
        note.textContent = required ? "(required)" : "(optional)";
        if (input && input.setAttribute) input.setAttribute("aria-required", required ? "true" : "false");
      }
      form.addEventListener("change", function (event) {
        if (event.target.name === rule[0]) update();
      });
      update();
    });
  }

  function followShownWhen(root) {
    root.querySelectorAll("[data-shown-when]").forEach(function (field) {
      const form = field.closest("form");
      if (!form) return;
      const rule = field.getAttribute("data-shown-when").split("=");
      function update() {
        const shown = currentValue(form.elements.namedItem(rule[0])) === rule[1];
        // A field with an error stays in view so the error can be read.
        field.hidden = !field.classList.contains("has-error") && !shown;
      }
      form.addEventListener("change", function (event) {
        if (event.target.name === rule[0]) update();
      });
      update();
    });
  }

  function guardDoubleSubmit(event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.hasAttribute("data-allow-resubmit")) return;
    // A form that opens elsewhere (a download, a new tab) leaves this page in place: keep it usable.
    if (event.defaultPrevented || (form.target && form.target !== "_self")) return;
    if (form.dataset.submitting === "true") {
      event.preventDefault();
      return;
    }
    form.dataset.submitting = "true";
    // Disable after the browser has collected the form data, so the clicked button's name/value is sent.
    setTimeout(function () {
      form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]").forEach(function (b) {
        b.disabled = true;
      });
    }, 0);
  }

  // A page restored from the back/forward cache must be usable again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitting]").forEach(function (form) {
      delete form.dataset.submitting;
      form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]").forEach(function (b) {
        b.disabled = false;
      });
    });
  });

  document.addEventListener("submit", guardDoubleSubmit);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      decorate(document);
      followRequiredWhen(document);
      followShownWhen(document);
    });
  } else {
    decorate(document);
    followRequiredWhen(document);
    followShownWhen(document);
  }
  window.StudioForms = { decorate: decorate };
})();
