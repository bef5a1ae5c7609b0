/*
 * The live job page (templates/training/job_detail.html). While the job is not finished, every
 * data-interval-ms (2 s) it reads the job and its curves from the REST API and updates, without a reload:
 * the status badge, the progress bar and numbers, the loss curves (Plotly.react on the figure that
 * static/js/charts.js drew: trace 0 train loss, trace 1 validation loss), the events list (only the new
 * events are fetched), the failure alert, and the Cancel / Retry / model-version controls.
 * Elements are found by data-live="…"; the URLs come from #job-live's data attributes.
 */
(function () {
  "use strict";

  const root = document.getElementById("job-live");
  if (!root) return;

  const TERMINAL = ["succeeded", "failed", "cancelled"];
  /* {status: {label, tone}} from training.choices.JobStatus, where each status's label and colour live. */
  const STATUSES = JSON.parse(document.getElementById("job-statuses").textContent);
  const EVENT_PAGE_SIZE = 100;
  const EVENTS_KEPT = 200;
  const interval = parseInt(root.dataset.intervalMs, 10) || 2000;
  const chart = document.getElementById("loss-chart");

  let status = root.dataset.status;
  let eventsSeen = parseInt(root.dataset.eventsCount, 10) || 0;
  let curvesShown = null;
  let failures = 0;
  const state = { polls: 0, stopped: false };
  window.StudioJobLive = state;

  function live(name) {
    return document.querySelector('[data-live="' + name + '"]');
  }

  function setText(name, text) {
    const el = live(name);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function show(name, visible) {
    const el = live(name);
    if (el) el.hidden = !visible;
  }

  function fixed(value, digits) {
    return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
  }

  function display(status) {
    return STATUSES[status] || { label: capitalise(status), tone: "light" };
  }

  function capitalise(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  /* Same wording as training.views.duration_text. */
  function durationText(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    let minutes = Math.floor(seconds / 60);
    const rest = seconds % 60;
    if (minutes < 10) return rest ? minutes + " min " + String(rest).padStart(2, "0") + " s" : minutes + " min";
    if (minutes < 60) return minutes + " min";
    const hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    if (hours < 48) return hours + " h " + String(minutes).padStart(2, "0") + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }

  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) {
        const error = new Error("GET " + url + " answered " + response.status);
        error.status = response.status;
        throw error;
      }
      return response.json();
    });
  }

  function renderBadge(job) {
    const holder = live("status");
    if (!holder) return;
    const shown = display(job.status);
    const badge = document.createElement("span");
    badge.className = "badge studio-status studio-status-" + job.status + " text-bg-" + shown.tone + (shown.tone === "light" ? " border" : "");
    badge.dataset.status = job.status;
    if (job.status === "running") {
      const pulse = document.createElement("span");
      pulse.className = "studio-pulse";
      pulse.setAttribute("aria-hidden", "true");
      badge.appendChild(pulse);
    }
    badge.appendChild(document.createTextNode(shown.label));
    holder.replaceChildren(badge);
  }

  /* The Hardware panel: the facts once the worker recorded them, else why there are none. */
  const HARDWARE_LABELS = { device: "Device", name: "Name", threads: "CPU threads", dtype: "Precision" };

  function updateHardware(job, terminal) {
    const panel = live("hardware");
    if (!panel) return;
    const keys = Object.keys(HARDWARE_LABELS).filter(function (key) {
      return job.hardware && job.hardware[key] !== undefined && job.hardware[key] !== null;
    });
    if (keys.length) {
      if (panel.dataset.shown === "facts") return;
      const list = document.createElement("dl");
      list.className = "studio-dl mb-0";
      keys.forEach(function (key) {
        const term = document.createElement("dt");
        term.textContent = HARDWARE_LABELS[key];
        const value = document.createElement("dd");
        value.className = "text-break";
        value.textContent = String(job.hardware[key]);
        list.append(term, value);
      });
      panel.replaceChildren(list);
      panel.dataset.shown = "facts";
    } else if (terminal && panel.dataset.shown !== "none") {
      const note = document.createElement("span");
      note.className = "text-body-secondary";
      note.textContent = "Not recorded: the job " + (job.status === "failed" ? "failed" : "was cancelled") +
        " before a worker finished it.";
      panel.replaceChildren(note);
      panel.dataset.shown = "none";
    }
  }

  function updateJob(job) {
    if (job.status !== status) {
      renderBadge(job);
      status = job.status;
      root.dataset.status = status;
    }
    const percent = Math.round((job.progress || 0) * 100);
    const progress = live("progress");
    const bar = live("progress-bar");
    if (progress && bar) {
      progress.setAttribute("aria-valuenow", String(percent));
      bar.style.width = percent + "%";
      bar.textContent = percent + "%";
      bar.classList.toggle("progress-bar-striped", job.status === "running");
      bar.classList.toggle("progress-bar-animated", job.status === "running");
      Object.keys(STATUSES).forEach(function (key) {
        bar.classList.remove("bg-" + STATUSES[key].tone);
      });
      bar.classList.add("bg-" + display(job.status).tone);
    }
    setText("step", String(job.step));
    setText("total-steps", job.total_steps ? String(job.total_steps) : "—");
    setText("epoch", fixed(job.epoch, 2));
    setText("eta", job.status === "running" ? durationText(job.eta_seconds) : "—");
    setText("tokens-per-second", job.tokens_per_second === null ? "—" : String(Math.round(job.tokens_per_second)));
    setText("train-loss", fixed(job.train_loss, 4));
    setText("val-loss", fixed(job.val_loss, 4));
    setText("attempt", String(job.attempt));

    const terminal = TERMINAL.indexOf(job.status) !== -1;
    show("cancelling", Boolean(job.cancel_requested_at) && !terminal);
    show("cancel-form", !terminal);
    show("retry-form", job.status === "failed" || job.status === "cancelled");
    if (job.status === "failed" && job.failure) {
      setText("failure-reason", job.failure.reason || "");
      setText("failure-hint", job.failure.hint || "");
      show("failure-hint", Boolean(job.failure.hint));
      setText("failure-traceback", job.failure.traceback || "");
      show("failure-details", Boolean(job.failure.traceback));
    }
    show("failure", job.status === "failed");
    updateHardware(job, terminal);
    const link = live("model-link");
    if (link && job.model_version) {
      link.href = root.dataset.modelUrlTemplate.replace(/\/0\/$/, "/" + job.model_version + "/");
      link.hidden = false;
    }
  }

  function updateCurves(points) {
    if (!chart || !window.StudioCharts) return Promise.resolve();
    const key = JSON.stringify(points);
    if (key === curvesShown) return Promise.resolve();
    return window.StudioCharts.ready.then(function () {
      if (!window.Plotly || !chart.data) return; // not drawn yet: the next poll tries again
      const series = [
        { x: [], y: [] },
        { x: [], y: [] },
      ];
      points.forEach(function (point) {
        if (point.train_loss !== null && point.train_loss !== undefined) {
          series[0].x.push(point.step);
          series[0].y.push(point.train_loss);
        }
        if (point.val_loss !== null && point.val_loss !== undefined) {
          series[1].x.push(point.step);
          series[1].y.push(point.val_loss);
        }
      });
      const data = chart.data.map(function (trace, index) {
        return Object.assign({}, trace, series[index] || {});
      });
      // The server's "no points yet" note goes once there are points.
      const layout = points.length ? Object.assign({}, chart.layout, { annotations: [] }) : chart.layout;
      return window.Plotly.react(chart, data, layout, { responsive: true, displaylogo: false }).then(function () {
        updateTable(series);
        curvesShown = key;
      });
    });
  }

  // The chart's table view (drawn by the server from the figure as it was) follows the curves: a row per step.
  function updateTable(series) {
    const body = chart.parentElement && chart.parentElement.querySelector("details.studio-chart-table tbody");
    if (!body) return;
    const rows = new Map();
    series.forEach(function (trace, index) {
      trace.x.forEach(function (step, i) {
        if (!rows.has(step)) rows.set(step, series.map(function () { return ""; }));
        rows.get(step)[index] = String(Number(trace.y[i].toPrecision(4)));
      });
    });
    const trs = Array.from(rows.entries()).map(function (entry) {
      const tr = document.createElement("tr");
      const head = document.createElement("th");
      head.scope = "row";
      head.textContent = String(entry[0]);
      tr.appendChild(head);
      entry[1].forEach(function (value) {
        const cell = document.createElement("td");
        cell.textContent = value;
        tr.appendChild(cell);
      });
      return tr;
    });
    body.replaceChildren.apply(body, trs);
  }

  function eventItem(event) {
    const item = document.createElement("li");
    item.className = "list-group-item d-flex gap-3 align-items-start small";
    item.dataset.event = String(event.id);
    const level = document.createElement("span");
    level.className = "badge " + (event.level === "error" ? "text-bg-danger" : event.level === "warning" ? "text-bg-warning" : "text-bg-light border");
    level.style.minWidth = "4.2rem";
    level.textContent = capitalise(event.level);
    const time = document.createElement("time");
    time.className = "text-body-secondary text-nowrap font-monospace";
    time.dateTime = event.created_at;
    time.textContent = String(event.created_at).slice(11, 19);
    const message = document.createElement("span");
    message.textContent = event.message;
    item.append(level, time, message);
    return item;
  }

  function updateEvents() {
    const list = live("events");
    if (!list) return Promise.resolve();
    const page = Math.floor(eventsSeen / EVENT_PAGE_SIZE) + 1;
    const url = root.dataset.eventsUrl + "?page_size=" + EVENT_PAGE_SIZE + "&page=" + page;
    return fetchJSON(url).then(function (body) {
      const fresh = body.results.slice(eventsSeen - (page - 1) * EVENT_PAGE_SIZE);
      if (fresh.length) {
        const empty = live("no-events");
        if (empty) empty.remove();
        fresh.forEach(function (event) { list.prepend(eventItem(event)); });
        while (list.children.length > EVENTS_KEPT) list.lastElementChild.remove();
        eventsSeen += fresh.length;
      }
      setText("events-count", String(body.count));
      setText("events-word", body.count === 1 ? "event" : "events");
      if (body.next && eventsSeen < body.count) return updateEvents();
    }, function (error) {
      if (error.status !== 404) throw error; // 404: a page past the end, no new events
    });
  }

  function schedule(delay) {
    if (!state.stopped) window.setTimeout(poll, delay);
  }

  function poll() {
    if (document.visibilityState === "hidden") {
      schedule(interval);
      return;
    }
    Promise.all([fetchJSON(root.dataset.jobUrl), fetchJSON(root.dataset.curvesUrl)])
      .then(function (answers) {
        updateJob(answers[0]);
        return Promise.all([updateCurves(answers[1]), updateEvents()]);
      })
      .then(function () {
        state.polls += 1;
        failures = 0;
        if (TERMINAL.indexOf(status) !== -1) state.stopped = true;
        schedule(interval);
      })
      .catch(function (error) {
        if ([401, 403, 404].indexOf(error.status) !== -1) {
          state.stopped = true; // signed out, or the job is gone: reloading would show why
          return;
        }
        failures += 1;
        console.warn("job page update failed; retrying", error);
        schedule(Math.min(30000, interval * Math.pow(2, failures)));
      });
  }

  schedule(interval);
})();
