/* Shadow comparison: agreement of the candidate with the active version, per label the active
 * version gave (bars), with the number of live inputs per label in the tooltip. Reads the rows
 * from the JSON script named by the canvas's data-shadow-chart attribute; Chart.js is vendored. */
(function () {
  "use strict";
  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.shadowChart);
    var rows = source ? JSON.parse(source.textContent) : null;
    if (!rows || !rows.length || !window.Chart) { return; }
    rows = rows.slice().sort(function (a, b) { return b.n - a.n; }).slice(0, 30);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.label; }),
        datasets: [{ label: "agreement", data: rows.map(function (r) { return r.agreement; }),
                     backgroundColor: rows.map(function (r) { return r.agreement < 0.8 ? "#c0392b" : "#2e8540"; }) }],
      },
      options: {
        indexAxis: "y", animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { display: false },
                   tooltip: { callbacks: { afterLabel: function (ctx) { return rows[ctx.dataIndex].n + " inputs"; } } } },
        scales: { x: { min: 0, max: 1, title: { display: true, text: "share with the same answer" } } },
      },
    });
  }
  function init() { document.querySelectorAll("canvas[data-shadow-chart]").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
