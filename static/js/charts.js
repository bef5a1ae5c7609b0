/*
 * Draws every Plotly chart rendered by templates/includes/plotly_chart.html. plotly.min.js (large) is
 * loaded once, and only on pages that contain a chart; its URL comes from this script tag's
 * data-plotly-src so it follows the static files storage (hashed names in production).
 */
(function () {
  "use strict";
  if (window.StudioCharts) return;

  const script = document.currentScript;
  const plotlySrc = script && script.getAttribute("data-plotly-src");
  let loading = null;

  function loadPlotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        const tag = document.createElement("script");
        tag.src = plotlySrc;
        tag.onload = function () { resolve(window.Plotly); };
        tag.onerror = function () { reject(new Error("plotly.min.js could not be loaded")); };
        document.head.appendChild(tag);
      });
    }
    return loading;
  }

  function readFigure(el) {
    const holder = document.getElementById(el.getAttribute("data-figure-id"));
    let figure = JSON.parse(holder.textContent);
    // The include accepts the figure as a dict or as fig.to_json()'s string.
    if (typeof figure === "string") figure = JSON.parse(figure);
    return figure || {};
  }

  function draw(el) {
    if (el.dataset.rendered) return Promise.resolve();
    el.dataset.rendered = "true";
    let figure;
    try {
      figure = readFigure(el);
    } catch (err) {
      return Promise.reject(err);
    }
    const layout = Object.assign({ autosize: true }, figure.layout || {});
    const height = layout.height || parseInt(el.style.minHeight, 10) || 380;
    el.style.height = height + "px";
    el.style.minHeight = "";
    delete layout.height;
    delete layout.width;
    const config = Object.assign({}, figure.config || {}, { responsive: true, displaylogo: false });
    return loadPlotly().then(function (Plotly) {
      el.innerHTML = "";
      return Plotly.newPlot(el, figure.data || [], layout, config);
    }).then(function () {
      el.classList.remove("studio-chart-loading");
    });
  }

  function drawAll(root) {
    const charts = (root || document).querySelectorAll(".studio-chart");
    return Promise.all(Array.prototype.map.call(charts, function (el) {
      return draw(el).catch(function (err) {
        el.classList.remove("studio-chart-loading");
        el.classList.add("studio-chart-error");
        el.textContent = "This chart could not be drawn.";
        console.error(err);
      });
    }));
  }

  window.StudioCharts = { drawAll: drawAll };
  const ready = document.readyState === "loading"
    ? new Promise(function (r) { document.addEventListener("DOMContentLoaded", r); })
    : Promise.resolve();
  window.StudioCharts.ready = ready.then(function () { return drawAll(document); });
})();
