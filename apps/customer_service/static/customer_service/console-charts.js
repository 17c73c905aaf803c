/* Charts of the customer-service analytics page (Chart.js, vendored). Data: <script> JSON blocks. */
(function () {
  "use strict";
  function data(id) { var el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; }
  var COLORS = ["#1f4e79", "#2e8540", "#b7791f", "#c0392b", "#2c6ea6", "#8a5fbf", "#66707c", "#2a9d8f", "#e76f51", "#264653"];
  var SOURCE_COLORS = { template: "#2e8540", retrieval: "#2c6ea6", clarify: "#b7791f", generated: "#8a5fbf", handoff: "#c0392b",
                        open: "#e76f51", smalltalk: "#66707c" };

  function draw() {
    var series = data("cs-series") || [], intents = data("cs-intents") || [], sources = data("cs-sources") || {};
    var days = series.map(function (r) { return r.day.slice(5); });
    document.querySelectorAll("canvas[data-cs-chart]").forEach(function (canvas) {
      var kind = canvas.dataset.csChart, config;
      var base = { animation: false, responsive: true, maintainAspectRatio: false };
      if (kind === "volume") {
        config = { type: "bar", data: { labels: days, datasets: [
          { label: "conversations", data: series.map(function (r) { return r.conversations; }), backgroundColor: COLORS[0] },
          { label: "questions", data: series.map(function (r) { return r.questions; }), backgroundColor: COLORS[4] },
          { label: "outside the knowledge base", data: series.map(function (r) { return r.open || 0; }), backgroundColor: COLORS[3] },
          { label: "small talk", data: series.map(function (r) { return r.smalltalk || 0; }), backgroundColor: COLORS[5] }] },
          options: base };
      } else if (kind === "rates") {
        var pct = function (key) { return series.map(function (r) { return r[key] === null ? null : 100 * r[key]; }); };
        config = { type: "line", data: { labels: days, datasets: [
          { label: "containment %", data: pct("containment_rate"), borderColor: COLORS[1], backgroundColor: COLORS[1], spanGaps: true },
          { label: "handoff %", data: pct("handoff_rate"), borderColor: COLORS[3], backgroundColor: COLORS[3], spanGaps: true },
          { label: "helpful %", data: pct("helpful_rate"), borderColor: COLORS[2], backgroundColor: COLORS[2], spanGaps: true }] },
          options: Object.assign({ scales: { y: { min: 0, max: 100 } } }, base) };
      } else if (kind === "intents") {
        config = { type: "bar", data: { labels: intents.map(function (r) { return r.intent; }), datasets: [
          { label: "replies", data: intents.map(function (r) { return r.n; }), backgroundColor: COLORS[0] }] },
          options: Object.assign({ indexAxis: "y", plugins: { legend: { display: false } } }, base) };
      } else if (kind === "sources") {
        var names = Object.keys(sources);
        config = { type: "doughnut", data: { labels: names, datasets: [{ data: names.map(function (n) { return sources[n]; }),
          backgroundColor: names.map(function (n, i) { return SOURCE_COLORS[n] || COLORS[i % COLORS.length]; }) }] },
          options: base };
      }
      if (kind === "calibration") {
        var points = data("cs-calibration") || [];
        var threshold = parseFloat(canvas.dataset.threshold), target = parseFloat(canvas.dataset.target);
        config = { type: "line", data: { datasets: [
          { label: "P(right intent) at this similarity", data: points.map(function (p) { return { x: p[0], y: p[1] }; }),
            stepped: true, borderColor: COLORS[0], backgroundColor: COLORS[0], pointRadius: 0 },
          { label: "threshold " + threshold.toFixed(3), data: [{ x: threshold, y: 0 }, { x: threshold, y: 1 }],
            borderColor: COLORS[3], backgroundColor: COLORS[3], borderDash: [5, 4], pointRadius: 0 },
          { label: "target " + target.toFixed(2), data: [{ x: points.length ? points[0][0] : 0, y: target }, { x: 1, y: target }],
            borderColor: COLORS[2], backgroundColor: COLORS[2], borderDash: [2, 3], pointRadius: 0 }] },
          options: Object.assign({ scales: { x: { type: "linear", title: { display: true, text: "similarity of the nearest text" } },
                                             y: { min: 0, max: 1, title: { display: true, text: "probability" } } } }, base) };
      }
      if (kind === "open-calibration") {
        var curve = data("cs-open-calibration") || [];
        var chosen = parseFloat(canvas.dataset.threshold), share = parseFloat(canvas.dataset.target);
        var datasets = [{ label: "share of known questions refused", data: curve.map(function (p) { return { x: p[0], y: p[1] }; }),
          borderColor: COLORS[0], backgroundColor: COLORS[0], pointRadius: 0 }];
        if (!isNaN(chosen)) {
          datasets.push({ label: "threshold " + chosen.toFixed(3), data: [{ x: chosen, y: 0 }, { x: chosen, y: 1 }],
            borderColor: COLORS[3], backgroundColor: COLORS[3], borderDash: [5, 4], pointRadius: 0 });
          datasets.push({ label: "at most " + (100 * share).toFixed(1) + " % refused", data: [{ x: curve.length ? curve[0][0] : 0, y: share }, { x: chosen, y: share }],
            borderColor: COLORS[2], backgroundColor: COLORS[2], borderDash: [2, 3], pointRadius: 0 });
        }
        config = { type: "line", data: { datasets: datasets },
          options: Object.assign({ scales: { x: { type: "linear", title: { display: true, text: "threshold (score of the message)" } },
                                             y: { min: 0, max: 1, title: { display: true, text: "known questions refused" } } } }, base) };
      }
      if (config) { new window.Chart(canvas, config); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
