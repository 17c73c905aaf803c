// Charts of the finance sentiment console (Chart.js, vendored; no date adapter: labels are text).
// Colours come from static/js/palette.js, keyed by the series ("all", "topic:<id>"), so a topic
// has the same colour in every chart whichever topics are shown.
(function () {
  if (typeof Chart === "undefined") return;
  const palette = window.suitePalette;  // static/js/palette.js, loaded first
  // Buckets are UTC hours or days: their labels are read in UTC too.
  const dayFormat = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short" });
  const hourFormat = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", day: "numeric", month: "short",
                                                        hour: "2-digit", minute: "2-digit" });
  const label = (iso, bucket) => (bucket === "day" ? dayFormat : hourFormat).format(new Date(iso));
  const percent = (v) => `${Math.round(v * 100)} %`;
  // Fixed ticks with headroom above and below: a line at exactly 1 or -1 (a bucket of one
  // document) is drawn whole instead of being cut by the chart's edge.
  const fixedTicks = (values) => (axis) => { axis.ticks = values.map((value) => ({ value })); };

  // --- dashboard: score, negative share and volume per topic over time ---
  const box = document.getElementById("fin-charts");
  if (box) {
    const charts = {};
    const build = (id, type, title, yOptions, pick, format) => {
      const canvas = document.getElementById(id);
      if (!canvas) return;
      const stacked = type === "bar";
      charts[id] = { pick, chart: new Chart(canvas, { type, data: { labels: [], datasets: [] }, options: {
        responsive: true, maintainAspectRatio: false, animation: false, spanGaps: true,
        interaction: { mode: "index", intersect: false },
        plugins: { title: { display: true, text: title }, legend: { position: "bottom" },
                   tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.parsed.y === null ? "–" : format(c.parsed.y)}` } } },
        scales: { x: { stacked, ticks: { maxTicksLimit: 8, maxRotation: 0 } }, y: { ...yOptions, stacked } },
      } }) };
    };
    build("fin-score-chart", "line", "Mean sentiment score, P(positive) − P(negative)",
          { min: -1.1, max: 1.1, afterBuildTicks: fixedTicks([-1, -0.5, 0, 0.5, 1]) },
          (p) => p.mean_score, (v) => v.toFixed(2));
    build("fin-share-chart", "line", "Share of negative documents",
          { min: -0.05, max: 1.05, afterBuildTicks: fixedTicks([0, 0.25, 0.5, 0.75, 1]), ticks: { callback: percent } },
          (p) => p.negative_share, percent);
    build("fin-volume-chart", "bar", `Scored documents per ${box.dataset.bucket} of publication`,
          { beginAtZero: true, ticks: { precision: 0 } },
          (p) => p.volume, (v) => String(v));

    const refresh = () => {
      const params = { bucket: box.dataset.bucket, range: box.dataset.range };
      if (box.dataset.topic) params.topic = box.dataset.topic;
      fetch(`${box.dataset.url}?${new URLSearchParams(params)}`, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((data) => {
          const labels = data.series.length ? data.series[0].points.map((p) => label(p.start, data.bucket)) : [];
          const dots = labels.length <= 31 ? 2.5 : 0;  // few buckets: mark each one
          Object.entries(charts).forEach(([id, { pick, chart }]) => {
            const hidden = new Set(chart.data.datasets.filter((d, i) => !chart.isDatasetVisible(i)).map((d) => d.key));
            chart.data.labels = labels;
            chart.data.datasets = data.series
              .filter((s) => id !== "fin-volume-chart" || s.key !== "all")  // the stack is the total
              .map((s) => ({
                key: s.key, label: s.label, data: s.points.map(pick), hidden: hidden.has(s.key),
                borderColor: palette.color(s.key), backgroundColor: palette.color(s.key),
                borderWidth: s.key === "all" ? 3 : 1.5, pointRadius: dots,
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
        labels: data.points.map((p) => label(p.start, data.granularity || "hour")),
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
                 scales: { y: share ? { min: -0.05, max: 1.05, afterBuildTicks: fixedTicks([0, 0.25, 0.5, 0.75, 1]),
                                        ticks: { callback: percent } }
                                    : { beginAtZero: true } },
                 plugins: { legend: { position: "bottom" } } },
    });
  }
})();
