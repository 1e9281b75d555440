/* Shelfwise dashboard behaviour, in a file because the Content-Security-Policy allows no inline
   script or onclick="" handler. Charts: each <canvas data-chart="…" data-source="id"> reads its
   data from the json_script element with that id (Chart.js is vendored, no network). A
   <select data-autosubmit> submits its form when changed. */
(function () {
  "use strict";
  var PALETTE = ["#2f6fed", "#12805c", "#b54708", "#c01048", "#7a5af8", "#0e9384", "#667085"];

  function colour(index) { return PALETTE[index % PALETTE.length]; }

  function config(kind, data) {
    var stacked = kind === "bar-stacked";
    var datasets = data.datasets.map(function (set, i) {
      return Object.assign({}, set, {
        backgroundColor: colour(i),
        borderColor: colour(i),
        borderWidth: stacked ? 0 : 2,
        pointRadius: stacked ? 0 : 3,
        spanGaps: true,
        tension: 0.2
      });
    });
    return {
      type: stacked ? "bar" : "line",
      data: { labels: data.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { stacked: stacked, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
          y: { stacked: stacked, beginAtZero: true }
        }
      }
    };
  }

  function draw(root) {
    if (typeof Chart === "undefined") { return; }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) { return; }
      var source = document.getElementById(canvas.dataset.source);
      if (!source) { return; }
      new Chart(canvas, config(canvas.dataset.chart, JSON.parse(source.textContent)));
      canvas.dataset.drawn = "1";
    });
  }

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches("select[data-autosubmit]") && field.form) { field.form.requestSubmit(); }
  });
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
