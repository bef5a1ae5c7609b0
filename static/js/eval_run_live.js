/*
 * The eval run page while the run is queued or running: polls the run's API every two seconds, moves the
 * progress bar and reloads the page once the run has ended (the results and charts are drawn server-side).
 */
(function () {
  "use strict";
  const panel = document.querySelector("[data-live-run]");
  if (!panel) return;
  const url = panel.getAttribute("data-live-run");
  const bar = panel.querySelector("[data-run-progress]");
  const count = panel.querySelector("[data-run-count]");
  const terminal = ["succeeded", "failed", "cancelled"];

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (run) {
        if (!run) return setTimeout(poll, 5000);
        if (terminal.indexOf(run.status) >= 0) return window.location.reload();
        const total = run.examples_total || 0;
        if (bar && total) bar.style.width = Math.round((100 * run.examples_done) / total) + "%";
        if (count) count.textContent = run.examples_done + " of " + (total || "?") + " examples";
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1500);
})();
