/* One colour per thing, on every chart: window.suitePalette.color(key) keys the colour by a
 * stable name (a series key such as "all" or "topic:3", a model such as "hybrid"), never by a
 * dataset's position, so a topic or model keeps its colour across charts and pages however
 * many others are shown, hidden or filtered out.
 *
 * Load it before the chart scripts: <script src="{% static 'js/palette.js' %}"></script>.
 */
(function () {
  "use strict";
  // Category-10 hues, darkened where needed to stand out on white.
  var HUES = ["#1f77b4", "#e8710a", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#d6479c", "#138d9c",
              "#9a9a1c", "#5f6b7a"];
  // Things every page names the same: the total, and the recommender's models.
  var FIXED = {
    all: "#1d2733",
    hybrid: "#1f77b4", popularity: "#e8710a", item_knn: "#2ca02c", content: "#9467bd",
    als: "#d62728", bpr: "#8c564b",
  };

  function hash(text) {  // FNV-1a: the same name gives the same colour in every browser
    var h = 2166136261;
    for (var i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 16777619); }
    return h >>> 0;
  }

  function color(key) {
    key = String(key);
    if (Object.prototype.hasOwnProperty.call(FIXED, key)) { return FIXED[key]; }
    // "topic:3", "ticker:12": the id picks the hue, so ids in a row never share one.
    var numbered = /:(\d+)$/.exec(key);
    var index = numbered ? Number(numbered[1]) - 1 : hash(key);
    return HUES[((index % HUES.length) + HUES.length) % HUES.length];
  }

  // The same colour, see-through: fills under lines, bars beside lines.
  function fill(key, alpha) {
    var hex = color(key);
    var rgb = [1, 3, 5].map(function (i) { return parseInt(hex.slice(i, i + 2), 16); });
    return "rgba(" + rgb.join(",") + "," + (alpha === undefined ? 0.35 : alpha) + ")";
  }

  window.suitePalette = { color: color, fill: fill, hues: HUES.slice() };

  // Swatches beside names in tables (<span class="swatch" data-palette-key="hybrid">) match the charts.
  function paintSwatches(root) {
    root.querySelectorAll("[data-palette-key]").forEach(function (el) {
      el.style.backgroundColor = color(el.dataset.paletteKey);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { paintSwatches(document); });
  } else {
    paintSwatches(document);
  }
})();
