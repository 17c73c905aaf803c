// Charts of the recommendation dashboard (Chart.js, vendored). Data comes from a json_script tag.
(function () {
  const source = document.getElementById("rec-chart-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const palette = ["#1f4e79", "#2e8540", "#b7791f", "#8e44ad", "#c0392b", "#2c6ea6", "#66707c"];
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
        datasets: data.models.map((model, n) => ({
          label: label(model), backgroundColor: palette[n % palette.length],
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
    const datasets = (metric) => data.models.map((model, n) => ({
      label: label(model), backgroundColor: palette[n % palette.length],
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
      data: { labels: keys.map(label), datasets: [{ data: keys.map((k) => weights[k]), backgroundColor: keys.map((_, n) => palette[n % palette.length]) }] },
      options: { responsive: true, animation: false, plugins: { title: { display: true, text: "Hybrid blend weights" } } },
    }));
  }
  window.recommendationCharts = charts;
})();
