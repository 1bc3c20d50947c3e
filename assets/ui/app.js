// Machinist dashboard: the few things a page does in the browser. Every
// page works without this file for reading; it adds confirmation before
// costly actions, live refresh with a pause control, "select all" boxes and
// times in the viewer's own zone. No inline scripts: the pages' CSP forbids
// them.
(function () {
  "use strict";

  // Forms with data-confirm ask first (stop, destroy, bulk actions).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Live parts: an element with data-refresh="URL" is replaced by what URL
  // answers every few seconds, unless the page is paused or a box in it is
  // ticked (a selection in progress).
  var PAUSE_KEY = "machinist.paused";
  function paused() {
    return window.sessionStorage && sessionStorage.getItem(PAUSE_KEY) === "1";
  }
  function showPause() {
    document.querySelectorAll("[data-pause]").forEach(function (button) {
      button.setAttribute("aria-pressed", paused() ? "true" : "false");
      button.textContent = paused() ? "Resume live updates" : "Pause live updates";
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-pause]");
    if (!button) return;
    event.preventDefault();
    sessionStorage.setItem(PAUSE_KEY, paused() ? "0" : "1");
    showPause();
  });
  function refresh() {
    if (paused() || document.hidden || !window.htmx) return;
    document.querySelectorAll("[data-refresh]").forEach(function (el) {
      if (el.querySelector("input[type=checkbox]:checked")) return;
      htmx.ajax("GET", el.getAttribute("data-refresh"), { target: el, swap: "outerHTML" });
    });
  }
  setInterval(refresh, 5000);

  // A box with data-check-all="NAME" ticks every box named NAME in its form.
  document.addEventListener("change", function (event) {
    var all = event.target;
    var name = all.getAttribute && all.getAttribute("data-check-all");
    if (!name) return;
    var scope = all.form || document;
    scope.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });

  // <time data-local datetime="…"> also shows the viewer's own zone.
  function localTimes(root) {
    (root || document).querySelectorAll("time[data-local]:not([data-localized])").forEach(function (t) {
      var at = new Date(t.getAttribute("datetime"));
      if (isNaN(at)) return;
      var span = document.createElement("span");
      span.className = "local";
      span.textContent = " · " + at.toLocaleString(undefined, {
        weekday: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
      });
      t.appendChild(span);
      t.setAttribute("data-localized", "");
    });
  }

  // htmx requests carry the session's CSRF token (from the page's meta).
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
  });
  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.target); });
  document.addEventListener("DOMContentLoaded", function () { showPause(); localTimes(); });
})();
