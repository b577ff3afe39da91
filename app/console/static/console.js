// The console's behaviour that needs a script: the CSRF header on htmx requests, and times
// shown in the viewer's zone (UTC on hover). No inline handlers: the CSP forbids them.
"use strict";
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
});
function localTimes(root) {
  root.querySelectorAll("time[datetime]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when.getTime())) { return; }
    el.title = when.toISOString().replace(".000Z", "Z") + " UTC";
    el.textContent = when.toLocaleString(document.documentElement.lang || undefined);
  });
}
document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
document.addEventListener("htmx:afterSettle", function (event) { localTimes(event.target); });
