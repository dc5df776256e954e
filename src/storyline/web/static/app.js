// storyline web UI: link passages and quotes to their places in the article columns.
// Reads only data-* attributes holding ids; never builds markup from page text.
"use strict";
(function () {
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  function attrSel(name, value) { return "[" + name + '="' + CSS.escape(value) + '"]'; }

  function showGroup(group, from) {
    all(".active").forEach(function (el) { el.classList.remove("active"); });
    var segs = all(".text " + attrSel("data-group", group));
    segs.forEach(function (el) { el.classList.add("active"); });
    // Scroll each column to its first piece of the passage; the page follows the last one.
    var seen = {};
    segs.forEach(function (el) {
      var col = el.closest(".col");
      var key = col ? col.getAttribute("data-article") : "single";
      if (!seen[key] && el !== from) { seen[key] = true; el.scrollIntoView({ block: "nearest" }); }
    });
  }

  function flash(segs) {
    segs.forEach(function (el) { el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash"); });
    if (segs.length) { segs[0].scrollIntoView({ block: "center" }); }
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-group], [data-quote], [data-figure]");
    if (!el) { return; }
    var inText = !!el.closest(".text");
    if (el.hasAttribute("data-group") && (inText || el.classList.contains("group-link"))) {
      if (!inText) { ev.preventDefault(); }
      showGroup(el.getAttribute("data-group"), inText ? el : null);
      if (!inText) { flash(all(".text " + attrSel("data-group", el.getAttribute("data-group")))); }
      return;
    }
    if (!inText && el.hasAttribute("data-quote")) {
      ev.preventDefault();
      flash(all(".text " + attrSel("data-quote", el.getAttribute("data-quote"))));
      return;
    }
    if (!inText && el.hasAttribute("data-figure")) {
      ev.preventDefault();
      flash(all(".text " + attrSel("data-figure", el.getAttribute("data-figure"))));
    }
  });

  var toggle = document.getElementById("toggle-raw");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var raw = document.getElementById("raw"), clean = document.getElementById("clean");
      var showRaw = raw.hidden;
      raw.hidden = !showRaw;
      clean.hidden = showRaw;
      toggle.setAttribute("aria-pressed", String(showRaw));
      toggle.textContent = toggle.getAttribute(showRaw ? "data-hide" : "data-show");
    });
  }
})();
