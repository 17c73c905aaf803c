// Charts of the finance sentiment console (Chart.js, vendored; no date adapter: labels are text).
(function () {
  if (typeof Chart === "undefined") return;
  const palette = ["#1d2733", "#1f4e79", "#2e8540", "#b7791f", "#8e44ad", "#c0392b", "#2c6ea6", "#16a085",
                   "#d35400", "#7f8c8d"];
  const label = (iso, bucket) => {
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    return bucket === "day" ? day : `${day} ${pad(d.getUTCHours())}:00`;
  };

  // --- dashboard: score, negative share and volume per topic over time ---
  const box = document.getElementById("fin-charts");
  if (box) {
    const charts = {};
    const common = (title, yOptions) => ({
      responsive: true, maintainAspectRatio: false, animation: false, spanGaps: true,
      interaction: { mode: "index", intersect: false },
      plugins: { title: { display: true, text: title }, legend: { position: "bottom" } },
      scales: { x: { ticks: { maxTicksLimit: 12 } }, y: yOptions },
    });
    const build = (id, type, title, yOptions, pick, stacked) => {
      const canvas = document.getElementById(id);
      if (!canvas) return;
      charts[id] = { pick, chart: new Chart(canvas, { type, data: { labels: [], datasets: [] },
        options: { ...common(title, yOptions), scales: { x: { stacked, ticks: { maxTicksLimit: 12 } },
                                                          y: { ...yOptions, stacked } } } }) };
    };
    build("fin-score-chart", "line", "Mean sentiment score, P(positive) − P(negative)",
          { min: -1, max: 1 }, (p) => p.mean_score, false);
    build("fin-share-chart", "line", "Share of negative documents",
          { min: 0, max: 1, ticks: { callback: (v) => `${Math.round(v * 100)}%` } }, (p) => p.negative_share, false);
    build("fin-volume-chart", "bar", "Documents per bucket", { beginAtZero: true }, (p) => p.volume, true);

    const refresh = () => {
      fetch(`${box.dataset.url}?${new URLSearchParams({ bucket: box.dataset.bucket, range: box.dataset.range })}`,
            { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((data) => {
          const labels = data.series.length ? data.series[0].points.map((p) => label(p.start, data.bucket)) : [];
          Object.entries(charts).forEach(([id, { pick, chart }]) => {
            const hidden = new Set(chart.data.datasets.filter((d, i) => !chart.isDatasetVisible(i)).map((d) => d.label));
            chart.data.labels = labels;
            chart.data.datasets = data.series
              .filter((s) => id !== "fin-volume-chart" || s.key !== "all")
              .map((s, n) => ({
                label: s.label, data: s.points.map(pick), hidden: hidden.has(s.label),
                borderColor: palette[(s.key === "all" ? 0 : n + 1) % palette.length],
                backgroundColor: palette[(s.key === "all" ? 0 : n + 1) % palette.length],
                borderWidth: s.key === "all" ? 3 : 1.5, pointRadius: 0,
              }));
            chart.update();
          });
          box.dataset.loaded = "true";
        })
        .catch(() => { box.dataset.loaded = "error"; });
    };
    refresh();
    setInterval(refresh, 30000);
  }

  // --- alert detail: the series around the alert, with the expected value and its band ---
  const source = document.getElementById("fin-alert-chart-data");
  const canvas = document.getElementById("fin-alert-chart");
  if (source && canvas) {
    const data = JSON.parse(source.textContent);
    const share = data.metric === "negative_share";
    const values = data.points.map((p) => (share ? p.negative_share : p.volume));
    const start = new Date(data.window_start), end = new Date(data.window_end);
    const inWindow = data.points.map((p) => { const t = new Date(p.start); return t >= start && t < end; });
    new Chart(canvas, {
      data: {
        labels: data.points.map((p) => label(p.start, "hour")),
        datasets: [
          { type: "bar", label: share ? "Negative share" : "Volume", data: values,
            backgroundColor: inWindow.map((w) => (w ? "#c0392b" : "#8fa9c4")) },
          { type: "line", label: "Expected", data: values.map(() => data.expected), borderColor: "#2e8540",
            borderDash: [6, 4], pointRadius: 0 },
          { type: "line", label: "Expected + 3σ", data: values.map(() => data.expected + 3 * data.sigma),
            borderColor: "#b7791f", borderDash: [2, 3], pointRadius: 0 },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
                 scales: { y: share ? { min: 0, max: 1, ticks: { callback: (v) => `${Math.round(v * 100)}%` } }
                                    : { beginAtZero: true } },
                 plugins: { legend: { position: "bottom" } } },
    });
  }
})();
