/*
 * The dataset import page (templates/projects/dataset_import_detail.html): a large upload being checked
 * on a worker. Every data-interval-ms it reads the import from the REST API (data-import-url) and updates
 * the status badge, the progress bar, the rows and bytes read; when the import succeeds it opens the new
 * version's page, when it fails it lists each error (line, field, message). Status labels and colours
 * come from projects.choices.ImportStatus through #import-statuses.
 */
(function () {
  "use strict";

  const root = document.getElementById("dataset-import");
  if (!root) return;

  const STATUSES = JSON.parse(document.getElementById("import-statuses").textContent);
  const TERMINAL = ["succeeded", "failed"];
  const interval = parseInt(root.dataset.intervalMs, 10) || 1000;
  const state = { polls: 0, stopped: false };
  window.StudioImportLive = state;

  function live(name) {
    return root.querySelector('[data-live="' + name + '"]');
  }

  function formatBytes(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    const units = ["KB", "MB", "GB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
    return value.toFixed(1) + " " + units[unit];
  }

  function renderStatus(status) {
    const shown = STATUSES[status] || { label: status, tone: "secondary" };
    const badge = document.createElement("span");
    badge.className = "badge studio-status studio-status-" + status + " text-bg-" + shown.tone;
    badge.dataset.status = status;
    if (status === "running") {
      const pulse = document.createElement("span");
      pulse.className = "studio-pulse";
      pulse.setAttribute("aria-hidden", "true");
      badge.appendChild(pulse);
    }
    badge.appendChild(document.createTextNode(shown.label));
    live("status").replaceChildren(badge);
    return shown;
  }

  function renderProgress(record, shown) {
    const percent = Math.round(Math.max(0, Math.min(1, record.progress)) * 100);
    const outer = live("progress");
    const bar = outer.querySelector(".progress-bar");
    bar.style.width = percent + "%";
    bar.className = "progress-bar bg-" + shown.tone +
      (record.status === "running" ? " progress-bar-striped progress-bar-animated" : "");
    outer.setAttribute("aria-valuenow", String(percent));
    live("rows").textContent = String(record.rows_read);
    live("bytes").textContent = formatBytes(record.bytes_read);
    let stage = "";
    if (record.status === "queued") stage = "Waiting for a worker…";
    else if (record.status === "running") {
      stage = percent >= 100 ? "Splitting and looking for overlaps…" : "Checking every row… " + percent + "%";
    }
    live("stage").textContent = stage;
  }

  function renderErrors(error) {
    live("error-message").textContent = error.message;
    const table = live("error-table");
    const body = table.querySelector("tbody");
    body.replaceChildren();
    (error.errors || []).forEach(function (issue) {
      const row = document.createElement("tr");
      [issue.line == null ? "—" : String(issue.line), issue.field || "—", issue.message].forEach(function (text) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    table.hidden = !(error.errors && error.errors.length);
    live("failed").hidden = false;
  }

  function render(record) {
    const shown = renderStatus(record.status);
    renderProgress(record, shown);
    root.dataset.status = record.status;
    if (record.status === "succeeded" && record.dataset_version) {
      const url = root.dataset.versionUrl.replace("{id}", String(record.dataset_version));
      live("version-link").href = url;
      live("succeeded").hidden = false;
      window.location.assign(url);
    } else if (record.status === "failed" && record.error) {
      renderErrors(record.error);
    }
  }

  function poll() {
    state.polls += 1;
    fetch(root.dataset.importUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("GET " + root.dataset.importUrl + " answered " + response.status);
        return response.json();
      })
      .then(function (record) {
        render(record);
        if (TERMINAL.indexOf(record.status) === -1) window.setTimeout(poll, interval);
        else state.stopped = true;
      })
      .catch(function () {
        window.setTimeout(poll, interval * 2);
      });
  }

  poll();
})();
