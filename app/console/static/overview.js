// The decisions-per-day chart, drawn from the table under it (the same numbers).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var canvas = document.getElementById("trend-chart");
  var table = document.getElementById("trend-table");
  if (!canvas || !table || typeof Chart === "undefined") { return; }
  var labels = [], series = [[], [], []];
  table.querySelectorAll("tbody tr").forEach(function (row) {
    labels.push(row.cells[0].textContent);
    for (var i = 0; i < 3; i++) { series[i].push(Number(row.cells[i + 1].textContent)); }
  });
  var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) { return th.textContent; });
  var colours = ["#1b7f3b", "#b3261e", "#8a5a00"];
  new Chart(canvas, {
    type: "bar",
    data: { labels: labels, datasets: series.map(function (data, i) {
      return { label: names[i + 1], data: data, backgroundColor: colours[i] };
    }) },
    options: { animation: false, responsive: true, maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
});
