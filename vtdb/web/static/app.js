// Video Tagging DB web app: the player (start at ?t=, chapters and windows seek, the current window
// highlighted), thumbnails that failed hidden, and the live status table. No inline scripts (CSP).
(function () {
  "use strict";

  function pageData() {
    var el = document.getElementById("page-data");
    if (!el) return {};
    try { return JSON.parse(el.textContent || "{}"); } catch (e) { return {}; }
  }

  document.querySelectorAll("img.thumb").forEach(function (img) {
    img.addEventListener("error", function () { img.classList.add("missing"); });
  });

  var player = document.getElementById("player");
  if (player) {
    var start = Number(pageData().start || player.dataset.start || 0);
    var windows = Array.prototype.slice.call(document.querySelectorAll("li.window"));
    var seek = function (t) {
      player.currentTime = t;
      var p = player.play();
      if (p && p.catch) p.catch(function () { /* autoplay refused: the position is set all the same */ });
    };
    player.addEventListener("loadedmetadata", function () {
      // The #t= fragment already starts there; set it again where a browser ignored the fragment.
      if (start > 0 && Math.abs(player.currentTime - start) > 0.5) player.currentTime = start;
    });
    var highlight = function () {
      var t = player.currentTime, current = null;
      windows.forEach(function (w) {
        if (Number(w.dataset.start) <= t + 0.01 && t < Number(w.dataset.end)) current = w;
      });
      windows.forEach(function (w) { w.classList.toggle("current", w === current); });
    };
    player.addEventListener("timeupdate", highlight);
    player.addEventListener("seeked", highlight);
    document.querySelectorAll("[data-seek]").forEach(function (button) {
      button.addEventListener("click", function () { seek(Number(button.dataset.seek)); });
    });
  }

  var live = document.getElementById("status-live");
  if (live && live.dataset.src) {
    var every = Math.max(1, Number(live.dataset.every || 3)) * 1000;
    var inFlight = false;  // one request at a time: a slow server never gets a pile of them from one tab
    var next = function () { setTimeout(refresh, document.hidden ? every * 5 : every); };
    var refresh = function () {
      // Not while a form in the table is being used: the user's choice would vanish under them.
      if (inFlight || (live.contains(document.activeElement) && document.activeElement.tagName === "SELECT")) {
        next();
        return;
      }
      inFlight = true;
      live.dataset.requests = String(Number(live.dataset.requests || 0) + 1);
      fetch(live.dataset.src, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          // Server-rendered and escaped there; forms keep their tokens only when the session has one.
          if (live.querySelector("form.action") && html.indexOf("form") === -1) return;
          live.innerHTML = html;
          live.classList.remove("offline");
          live.dataset.updated = String(Date.now());
        })
        .catch(function () { live.classList.add("offline"); })
        .then(function () { inFlight = false; next(); });  // the next one only once this one is done
    };
    if (live.querySelector(".loading")) refresh(); else next();  // a page made while the server still read: at once
  }
})();
