/* Charts of the ML pages: training curves, search trials, confusion heat map, reliability.
 *
 * Elements with data-ml-chart="curves|trials|confusion|reliability" read their data from the
 * <script type="application/json"> whose id is data-source; with data-poll they refetch a JSON
 * URL every few seconds until it says the job has finished. Chart.js (vendored) draws the line
 * and bar charts; the heat map is drawn on a plain canvas so it scales to 77+ labels.
 */
(function () {
  "use strict";
  if (window.mlCharts) { window.mlCharts.init(document); return; }
  // Partials include this file each; Chart.js is fetched once (a second copy would replace
  // window.Chart and orphan the charts made with the first).
  var CHART_SRC = document.currentScript ? document.currentScript.dataset.chartjs : null;

  var COLORS = { train: "#c0392b", valid: "#2c6ea6", accuracy: "#2e8540", f1: "#b7791f", ink: "#1d2733", line: "#dde3ea" };
  var POLL_MS = 3000;

  function readJSON(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function epochLabel(record) { return record.epoch === 0 ? "head" : String(record.epoch); }

  function lineChart(canvas, datasets, yTitle, extra) {
    return new window.Chart(canvas, {
      type: "line",
      data: { labels: [], datasets: datasets },
      options: Object.assign({
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: { x: { title: { display: true, text: "epoch" } }, y: { title: { display: true, text: yTitle } } },
      }, extra || {}),
    });
  }

  function series(label, color, dashed) {
    return { label: label, data: [], borderColor: color, backgroundColor: color, tension: 0.15, spanGaps: true,
             borderDash: dashed ? [5, 4] : [] };
  }

  function polling(el, apply) {
    var url = el.dataset.poll;
    if (!url) { return; }
    var timer = setInterval(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (payload) {
          if (!payload) { return; }
          apply(payload);
          if (payload.finished) { clearInterval(timer); }
        })
        .catch(function () { /* a missed poll is retried at the next tick */ });
    }, POLL_MS);
  }

  function curves(el) {
    var canvases = el.querySelectorAll("canvas");
    var loss = lineChart(canvases[0], [series("train loss", COLORS.train), series("validation loss", COLORS.valid, true)], "loss");
    var score = lineChart(canvases[1], [series("validation accuracy", COLORS.accuracy), series("validation macro-F1", COLORS.f1, true)],
                          "score");
    function draw(records) {
      records = records || [];
      var labels = records.map(epochLabel);
      loss.data.labels = labels; score.data.labels = labels;
      loss.data.datasets[0].data = records.map(function (r) { return r.train_loss; });
      loss.data.datasets[1].data = records.map(function (r) { return r.valid_loss; });
      score.data.datasets[0].data = records.map(function (r) { return r.valid_accuracy; });
      score.data.datasets[1].data = records.map(function (r) { return r.valid_macro_f1; });
      loss.update(); score.update();
      var empty = el.querySelector(".ml-chart-empty");
      if (empty) { empty.hidden = records.length > 0; }
    }
    draw(readJSON(el.dataset.source));
    polling(el, function (payload) { draw(payload.curves); });
  }

  function trials(el) {
    var canvas = el.querySelector("canvas");
    var chart = new window.Chart(canvas, {
      type: "bar",
      data: { labels: [], datasets: [{ label: "validation macro-F1", data: [], backgroundColor: [] }] },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
                 scales: { x: { title: { display: true, text: "trial" } }, y: { title: { display: true, text: "macro-F1" } } },
                 plugins: { tooltip: { callbacks: { afterLabel: function (ctx) { return ctx.chart.$details[ctx.dataIndex]; } } } } },
    });
    function draw(records) {
      records = records || [];
      chart.data.labels = records.map(function (t) { return "#" + t.number + " " + t.config.method; });
      chart.data.datasets[0].data = records.map(function (t) { return t.metrics ? t.metrics.macro_f1 : null; });
      chart.data.datasets[0].backgroundColor = records.map(function (t) {
        return t.state === "complete" ? COLORS.valid : t.state === "pruned" ? "#8a8f98" : COLORS.train; });
      chart.$details = records.map(function (t) {
        return t.state + (t.config.method !== "head" ? ", lr " + Number(t.config.learning_rate).toExponential(1) + ", " + t.config.epochs + " epochs" : ""); });
      chart.update();
    }
    draw(readJSON(el.dataset.source));
    polling(el, function (payload) { draw(payload.trials); });
  }

  function reliability(el) {
    var bins = readJSON(el.dataset.source) || [];
    var used = bins.filter(function (b) { return b.n > 0; });
    new window.Chart(el.querySelector("canvas"), {
      type: "bar",
      data: {
        labels: used.map(function (b) { return b.low.toFixed(2) + "–" + b.high.toFixed(2); }),
        datasets: [
          { type: "bar", label: "accuracy in bin", data: used.map(function (b) { return b.accuracy; }), backgroundColor: COLORS.valid },
          { type: "line", label: "mean confidence", data: used.map(function (b) { return b.confidence; }), borderColor: COLORS.train,
            backgroundColor: COLORS.train, pointRadius: 2 },
        ],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false,
                 scales: { y: { min: 0, max: 1, title: { display: true, text: "accuracy" } },
                           x: { title: { display: true, text: "confidence" } } },
                 plugins: { tooltip: { callbacks: { afterLabel: function (ctx) { return used[ctx.dataIndex].n + " texts"; } } } } },
    });
  }

  function confusion(el) {
    var data = readJSON(el.dataset.source);
    if (!data || !data.labels || !data.labels.length) { return; }
    var labels = data.labels, matrix = data.matrix, n = labels.length;
    var canvas = el.querySelector("canvas"), tip = el.querySelector(".ml-heatmap-tip");
    var showNames = n <= 25;
    var cell = Math.max(5, Math.min(28, Math.floor(560 / n)));
    var font = Math.min(12, cell) + "px system-ui, sans-serif";
    var margin = 30;
    if (showNames) {  // as wide as the longest name in the font it is drawn in (a guess per character clipped words)
      var probe = canvas.getContext("2d");
      probe.font = font;
      margin = Math.min(220, 8 + Math.ceil(Math.max.apply(null, labels.map(function (l) { return probe.measureText(l).width; }))));
    }
    var size = margin + cell * n;
    var ratio = window.devicePixelRatio || 1;
    canvas.width = size * ratio; canvas.height = size * ratio;
    canvas.style.width = size + "px"; canvas.style.height = size + "px";
    var ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    var rowSums = matrix.map(function (row) { return row.reduce(function (a, b) { return a + b; }, 0) || 1; });
    for (var i = 0; i < n; i++) {
      for (var j = 0; j < n; j++) {
        var share = matrix[i][j] / rowSums[i];
        // Blue for right answers (the diagonal), red for confusions; stronger means a larger share.
        var hue = i === j ? "31, 78, 121" : "192, 57, 43";
        var alpha = matrix[i][j] ? Math.max(0.08, i === j ? share : Math.min(1, share * 2.5)) : 0;
        ctx.fillStyle = "rgba(" + hue + ", " + alpha + ")";
        ctx.fillRect(margin + j * cell, margin + i * cell, cell, cell);
      }
    }
    ctx.strokeStyle = COLORS.line;
    ctx.strokeRect(margin, margin, cell * n, cell * n);
    ctx.fillStyle = COLORS.ink;
    ctx.font = font;
    if (showNames) {
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      labels.forEach(function (label, k) { ctx.fillText(label, margin - 4, margin + k * cell + cell / 2); });
      ctx.save();
      labels.forEach(function (label, k) {
        ctx.save(); ctx.translate(margin + k * cell + cell / 2, margin - 4); ctx.rotate(-Math.PI / 2);
        ctx.textAlign = "left"; ctx.fillText(label, 0, 0); ctx.restore();
      });
      ctx.restore();
    } else {
      ctx.textAlign = "left"; ctx.textBaseline = "top";
      ctx.fillText("predicted →", margin, 4);
      ctx.save(); ctx.translate(4, margin); ctx.rotate(Math.PI / 2); ctx.fillText("true →", 0, -14); ctx.restore();
    }
    canvas.addEventListener("mousemove", function (event) {
      var box = canvas.getBoundingClientRect();
      var col = Math.floor((event.clientX - box.left - margin) / cell);
      var row = Math.floor((event.clientY - box.top - margin) / cell);
      if (row < 0 || col < 0 || row >= n || col >= n) { tip.textContent = "\u00a0"; return; }
      var count = matrix[row][col];
      tip.textContent = "true " + labels[row] + " → predicted " + labels[col] + ": " + count + " of " + rowSums[row] +
        " (" + Math.round(100 * count / rowSums[row]) + "%)";
    });
    canvas.addEventListener("mouseleave", function () { tip.textContent = "\u00a0"; });
  }

  var builders = { curves: curves, trials: trials, confusion: confusion, reliability: reliability };

  function init(root) {
    if (!window.Chart) { return; }
    (root || document).querySelectorAll("[data-ml-chart]:not([data-ml-ready])").forEach(function (el) {
      var build = builders[el.dataset.mlChart];
      if (!build) { return; }
      el.dataset.mlReady = "1";
      try { build(el); } catch (error) { el.dataset.mlError = String(error); console.error("ml chart", error); }
    });
  }

  function withChartJs(done) {
    if (window.Chart) { done(); return; }
    if (!CHART_SRC) { console.error("ml-charts.js: no data-chartjs URL and no Chart.js on the page"); return; }
    var script = document.querySelector("script[data-ml-chartjs]");
    if (!script) {
      script = document.createElement("script");
      script.src = CHART_SRC;
      script.dataset.mlChartjs = "1";
      document.head.appendChild(script);
    }
    script.addEventListener("load", done);
  }

  window.mlCharts = { init: init };
  // After DOMContentLoaded every deferred script has run, including a Chart.js that the page
  // loads itself: use that one rather than fetching a second copy.
  function start() { withChartJs(function () { init(document); }); }
  if (document.readyState === "complete") {
    start();
  } else {
    document.addEventListener("DOMContentLoaded", start);
    window.addEventListener("load", start);
  }
  document.addEventListener("htmx:afterSettle", function (event) { withChartJs(function () { init(event.target); }); });
})();
