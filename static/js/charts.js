/*
 * Draws every Plotly chart rendered by templates/includes/plotly_chart.html. plotly.min.js (large) is
 * loaded once, and only on pages that contain a chart; its URL comes from this script tag's
 * data-plotly-src so it follows the static files storage (hashed names in production). Before it, the
 * stylesheet in data-plotly-css is linked with the id and class that tell plotly not to add its own
 * inline <style> (the Content-Security-Policy allows none).
 */
(function () {
  "use strict";
  if (window.StudioCharts) return;

  const script = document.currentScript;
  const plotlySrc = script && script.getAttribute("data-plotly-src");
  const plotlyCss = script && script.getAttribute("data-plotly-css");
  // plotly.min.js also puts maplibre's stylesheet (map traces) into a <style> with this id unless an
  // element with the id exists. The studio draws no maps, so an empty marker stands in for it; after a
  // plotly upgrade the browser CSP test says if the id changed.
  const MAPLIBRE_STYLE_ID = "9f215cf04c5486422605d13261cb87401f4e7763b6296af81e98efbc0130da53";
  let loading = null;

  function loadPlotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        if (plotlyCss && !document.getElementById("plotly.js-style-global")) {
          const sheet = document.createElement("link");
          sheet.id = "plotly.js-style-global";
          sheet.className = "no-inline-styles";
          sheet.rel = "stylesheet";
          sheet.href = plotlyCss;
          document.head.appendChild(sheet);
        }
        if (!document.getElementById(MAPLIBRE_STYLE_ID)) {
          const marker = document.createElement("meta");
          marker.id = MAPLIBRE_STYLE_ID;
          document.head.appendChild(marker);
        }
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
    const height = layout.height || parseInt(el.getAttribute("data-height"), 10) || 380;
    el.style.height = height + "px";
    delete layout.height;
    delete layout.width;
    const config = Object.assign({}, figure.config || {}, { responsive: true, displaylogo: false });
    return loadPlotly().then(function (Plotly) {
      el.innerHTML = "";
      // Out of the placeholder's style before Plotly measures the box: its min-height (380px) would make
      // a shorter chart draw taller than its box, over the table view and text below it.
      el.classList.remove("studio-chart-loading");
      return Plotly.newPlot(el, figure.data || [], layout, config);
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
