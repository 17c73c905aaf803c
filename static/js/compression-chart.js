/* The compression chart of a model version: one bubble per variant, latency at batch 1 across,
 * accuracy up, the bubble's area proportional to the file size; the promoted variant in green.
 * Reads the report from the JSON script named by data-compression-chart; Chart.js is vendored. */
(function () {
  "use strict";
  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.compressionChart);
    var report = source ? JSON.parse(source.textContent) : null;
    var rows = report ? report.variants : null;
    if (!rows || !rows.length || !window.Chart) { return; }
    var batch = Object.keys(rows[0].latency).sort(function (a, b) { return a - b; })[0];
    var largest = Math.max.apply(null, rows.map(function (r) { return r.size_mb; }));
    var points = rows.map(function (r) {
      return { x: r.latency[batch].p50_ms, y: 100 * r.accuracy, r: 4 + 22 * Math.sqrt(r.size_mb / largest),
               label: r.label, size: r.size_mb, isPromoted: r.name === report.promoted };
    });
    new window.Chart(canvas, {
      type: "bubble",
      data: { datasets: [{ label: "variants", data: points,
        backgroundColor: points.map(function (p) { return p.isPromoted ? "rgba(46,133,64,0.6)" : "rgba(44,110,166,0.45)"; }),
        borderColor: points.map(function (p) { return p.isPromoted ? "#2e8540" : "#2c6ea6"; }) }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (ctx) {
          var p = ctx.raw;
          return p.label + ": " + p.y.toFixed(2) + "% accuracy, " + p.x.toFixed(1) + " ms, " + p.size.toFixed(1) + " MB";
        } } } },
        scales: { x: { type: "logarithmic", title: { display: true, text: "p50 latency at batch " + batch + " (ms, log scale)" } },
                  y: { title: { display: true, text: "accuracy (%)" } } },
      },
    });
  }
  function init() { document.querySelectorAll("canvas[data-compression-chart]").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
