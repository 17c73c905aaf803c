/* The robustness bar chart of a model version: accuracy on clean texts, under each perturbation
 * and under the word-substitution attack. Reads the report from the JSON script named by the
 * canvas's data-robustness-chart attribute; Chart.js is vendored. */
(function () {
  "use strict";
  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.robustnessChart);
    var report = source ? JSON.parse(source.textContent) : null;
    if (!report || !window.Chart) { return; }
    var labels = ["clean"], values = [report.clean_accuracy];
    Object.keys(report.perturbations || {}).forEach(function (name) {
      labels.push(name.replace(/_/g, " "));
      values.push(report.perturbations[name].accuracy);
    });
    if (report.attack) { labels.push("word-substitution attack"); values.push(report.attack.accuracy_under_attack); }
    var colors = values.map(function (_, i) {
      return i === 0 ? "#2e8540" : (report.attack && i === values.length - 1 ? "#c0392b" : "#2c6ea6");
    });
    // Kept on the element: other sections may load Chart.js again, which replaces window.Chart.
    canvas.robustnessChart = new window.Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "accuracy", data: values, backgroundColor: colors }] },
      options: { indexAxis: "y", animation: false, responsive: true, maintainAspectRatio: false,
                 plugins: { legend: { display: false } },
                 scales: { x: { min: 0, max: 1, title: { display: true, text: "accuracy" } } } },
    });
  }
  function init() { document.querySelectorAll("canvas[data-robustness-chart]").forEach(draw); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
