/*
 * Small behaviours shared by every page:
 *   data-confirm="Message"       on a link, a submit button or a <form>: asks in a dialog first
 *                                (data-confirm-label="Delete" names the button, data-confirm-dismiss-label
 *                                "Keep running" the one that backs out; a btn-danger/outline-danger
 *                                element, or data-confirm-danger, gets a red confirm button).
 *   data-copy="text"             on a button: copies the text; data-copy-target="#id" (or data-copy="#id"
 *                                when that element exists) copies the element's value or text instead
 *                                (used when a token is shown once).
 *   data-autodismiss="ms"        on an alert: closes it after that many milliseconds (success messages).
 *   data-width="42"              on a progress bar: its width in percent (set here, since the
 *                                Content-Security-Policy allows no inline style attribute).
 *   data-refresh-seconds="10"    on any element: reloads the page every N seconds while the tab is
 *                                visible (pages following a running job).
 */
(function () {
  "use strict";

  /* ---------- confirm dialogs ---------- */
  const modalEl = document.getElementById("studio-confirm");
  let pendingAction = null;

  function askConfirm(source, onConfirm) {
    const message = source.getAttribute("data-confirm") || "Are you sure?";
    if (!modalEl || !window.bootstrap) {
      if (window.confirm(message)) onConfirm();
      return;
    }
    const accept = modalEl.querySelector("[data-confirm-accept]");
    modalEl.querySelector("[data-confirm-message]").textContent = message;
    accept.textContent = source.getAttribute("data-confirm-label") || "Confirm";
    const dismiss = modalEl.querySelector("[data-confirm-dismiss]");
    if (dismiss) dismiss.textContent = source.getAttribute("data-confirm-dismiss-label") || "Cancel";
    const danger = source.hasAttribute("data-confirm-danger") ||
      source.classList.contains("btn-danger") || source.classList.contains("btn-outline-danger");
    accept.classList.toggle("btn-danger", danger);
    accept.classList.toggle("btn-primary", !danger);
    pendingAction = onConfirm;
    window.bootstrap.Modal.getOrCreateInstance(modalEl).show();
  }

  if (modalEl) {
    modalEl.querySelector("[data-confirm-accept]").addEventListener("click", function () {
      const action = pendingAction;
      pendingAction = null;
      window.bootstrap.Modal.getOrCreateInstance(modalEl).hide();
      if (action) action();
    });
    modalEl.addEventListener("shown.bs.modal", function () {
      modalEl.querySelector("[data-confirm-accept]").focus();
    });
  }

  document.addEventListener("click", function (event) {
    const el = event.target.closest("a[data-confirm], button[data-confirm], input[type=submit][data-confirm]");
    if (!el || el.dataset.confirmed === "true") return;
    event.preventDefault();
    event.stopPropagation();
    askConfirm(el, function () {
      if (el.tagName === "A") {
        window.location.assign(el.href);
        return;
      }
      const form = el.form;
      if (!form) return;
      el.dataset.confirmed = "true";
      form.requestSubmit(el);
      delete el.dataset.confirmed;
    });
  }, true);

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-confirm") || form.dataset.confirmed === "true") return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const submitter = event.submitter || null;
    askConfirm(form, function () {
      form.dataset.confirmed = "true";
      form.requestSubmit(submitter);
      delete form.dataset.confirmed;
    });
  }, true);

  /* ---------- copy to clipboard ---------- */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP deployments have no clipboard API: fall back to a hidden textarea.
    return new Promise(function (resolve, reject) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      const ok = document.execCommand("copy");
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy failed"));
    });
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy], [data-copy-target]");
    if (!button) return;
    event.preventDefault();
    let text = button.getAttribute("data-copy");
    let targetSelector = button.getAttribute("data-copy-target");
    // data-copy="#some-id" names an element to copy from, like data-copy-target.
    if (!targetSelector && text && /^#[A-Za-z][\w-]*$/.test(text) && document.querySelector(text)) {
      targetSelector = text;
    }
    if (targetSelector) {
      const target = document.querySelector(targetSelector);
      if (target) text = "value" in target && target.value !== undefined ? target.value : target.textContent;
    }
    if (text === null || text === undefined) return;
    const original = button.innerHTML;
    copyText(text.trim()).then(function () {
      button.innerHTML = '<i class="bi bi-check2" aria-hidden="true"></i> Copied';
      button.classList.add("studio-copied");
    }, function () {
      button.innerHTML = "Press Ctrl+C to copy";
      if (targetSelector) {
        const target = document.querySelector(targetSelector);
        if (target && target.select) target.select();
      }
    }).finally(function () {
      setTimeout(function () {
        button.innerHTML = original;
        button.classList.remove("studio-copied");
      }, 2000);
    });
  });

  /* ---------- auto-dismiss of alerts ---------- */
  document.querySelectorAll("[data-autodismiss]").forEach(function (alert) {
    const delay = parseInt(alert.getAttribute("data-autodismiss"), 10) || 6000;
    setTimeout(function () {
      if (window.bootstrap && document.body.contains(alert)) {
        window.bootstrap.Alert.getOrCreateInstance(alert).close();
      }
    }, delay);
  });

  /* ---------- periodic refresh for pages following running work ---------- */
  const refresher = document.querySelector("[data-refresh-seconds]");
  if (refresher) {
    const seconds = Math.max(2, parseInt(refresher.getAttribute("data-refresh-seconds"), 10) || 10);
    setInterval(function () {
      const modalOpen = document.querySelector(".modal.show");
      const typing = document.activeElement && /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName);
      if (document.visibilityState === "visible" && !modalOpen && !typing) window.location.reload();
    }, seconds * 1000);
  }

  /* ---------- scroll cue: a wide table that scrolls sideways fades at the edge with more ---------- */
  function markScrollable(box) {
    const more = box.scrollLeft + box.clientWidth < box.scrollWidth - 2;
    box.classList.toggle("studio-scroll-more", more);
  }
  document.querySelectorAll(".table-responsive").forEach(function (box) {
    markScrollable(box);
    box.addEventListener("scroll", function () { markScrollable(box); }, { passive: true });
  });
  window.addEventListener("resize", function () {
    document.querySelectorAll(".table-responsive").forEach(markScrollable);
  });

  /* ---------- widths (no inline style attributes under the CSP) ---------- */
  document.querySelectorAll("[data-width]").forEach(function (el) {
    const percent = Math.min(100, Math.max(0, parseFloat(el.getAttribute("data-width")) || 0));
    el.style.width = percent + "%";
  });
})();
