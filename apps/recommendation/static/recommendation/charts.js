// Charts of the recommendation dashboard (Chart.js, vendored). Data comes from a json_script tag.
(function () {
  const source = document.getElementById("rec-chart-data");
  if (!source || typeof Chart === "undefined" || !window.suitePalette) return;
  const data = JSON.parse(source.textContent);
  // One colour per model on every chart (static/js/palette.js, keyed by the model's name).
  const color = (model) => window.suitePalette.color(model);
  const label = (key) => data.labels[key] || key;
  const metricLabel = (m) => ({ map: "MAP", coverage: "Coverage" }[m] || m.replace("ndcg", "nDCG").replace("precision", "P").replace("recall", "R"));
  const charts = [];

  // One version, every model side by side on each metric.
  const modelsCanvas = document.getElementById("rec-models-chart");
  if (modelsCanvas && data.versions.length) {
    const version = modelsCanvas.dataset.version || data.versions[data.versions.length - 1];
    charts.push(new Chart(modelsCanvas, {
      type: "bar",
      data: {
        labels: data.metrics.map(metricLabel),
        datasets: data.models.map((model) => ({
          label: label(model), backgroundColor: color(model),
          data: data.metrics.map((m) => (data.values[version][model] || {})[m]),
        })),
      },
      options: { responsive: true, animation: false, plugins: { title: { display: true, text: `Models of ${version}` } },
                 scales: { y: { beginAtZero: true } } },
    }));
  }

  // Every version side by side, for the metric chosen in the select.
  const versionsCanvas = document.getElementById("rec-versions-chart");
  const select = document.getElementById("rec-versions-metric");
  if (versionsCanvas && data.versions.length) {
    const datasets = (metric) => data.models.map((model) => ({
      label: label(model), backgroundColor: color(model),
      data: data.versions.map((v) => (data.values[v][model] || {})[metric]),
    }));
    const chart = new Chart(versionsCanvas, {
      type: "bar",
      data: { labels: data.versions, datasets: datasets(select ? select.value : data.metrics[1]) },
      options: { responsive: true, animation: false, scales: { y: { beginAtZero: true } } },
    });
    charts.push(chart);
    if (select) select.addEventListener("change", () => { chart.data.datasets = datasets(select.value); chart.update(); });
  }

  // Blend weights of one version.
  const weightsCanvas = document.getElementById("rec-weights-chart");
  const weightsSource = document.getElementById("rec-weights-data");
  if (weightsCanvas && weightsSource) {
    const weights = JSON.parse(weightsSource.textContent);
    const keys = Object.keys(weights);
    charts.push(new Chart(weightsCanvas, {
      type: "doughnut",
      data: { labels: keys.map(label), datasets: [{ data: keys.map((k) => weights[k]), backgroundColor: keys.map(color) }] },
      options: { responsive: true, animation: false, plugins: { title: { display: true, text: "Hybrid blend weights" } } },
    }));
  }
  window.recommendationCharts = charts;
})();
