// Keyboard review: j/k move between versions, a approves, r rejects (focuses the reason
// first; Enter sends), x selects for `Approve selected` / `Reject selected`, ? lists the keys.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var items = Array.prototype.slice.call(document.querySelectorAll(".queue .version"));
  var counter = document.getElementById("selected-count");
  var current = -1;
  function focus(i) {
    if (!items.length) { return; }
    current = Math.max(0, Math.min(items.length - 1, i));
    items.forEach(function (el) { el.classList.remove("current"); });
    items[current].classList.add("current");
    items[current].focus();
  }
  function showSelection() {
    var chosen = 0;
    items.forEach(function (el) {
      var box = el.querySelector("input[data-select]");
      var on = !!(box && box.checked);
      el.classList.toggle("selected", on);
      if (on) { chosen += 1; }
    });
    if (counter) { counter.textContent = counter.getAttribute("data-template").replace("{n}", String(chosen)); }
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[data-select]")) { showSelection(); }
  });
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var item = items[current];
    if (event.key === "j") { focus(current + 1); }
    else if (event.key === "k") { focus(current - 1); }
    else if (event.key === "a" && item) { var a = item.querySelector('[data-key="a"]'); if (a) { a.click(); } }
    else if (event.key === "r" && item) { var reason = item.querySelector('input[name="reason"]'); if (reason) { event.preventDefault(); reason.focus(); } }
    else if (event.key === "x" && item) { var box = item.querySelector("input[data-select]"); if (box) { box.checked = !box.checked; showSelection(); } }
    else if (event.key === "?") { var help = document.getElementById("keys-help"); if (help) { help.hidden = !help.hidden; } }
    else { return; }
    event.preventDefault();
  });
  showSelection();  // a reloaded page may come back with boxes the browser kept ticked
});
