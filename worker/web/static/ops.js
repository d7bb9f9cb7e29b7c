// Ops pages: the overview refreshes itself every 10 s; "select all" on the dead-letter list.
(function () {
  "use strict";
  var live = document.getElementById("ops-live");
  if (live) {
    var busy = false;
    var refresh = function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(live.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          // A lapsed session answers with the login page: stop quietly, keep what is shown.
          if (!r.ok || r.redirected) throw new Error("refresh " + r.status);
          return r.json();
        })
        .then(function (data) {
          live.innerHTML = data.html;
          var at = document.getElementById("live-at");
          if (at) at.textContent = data.at;
          live.dataset.refreshed = String(Number(live.dataset.refreshed || 0) + 1);
        })
        .catch(function () { /* try again at the next tick */ })
        .then(function () { busy = false; });
    };
    setInterval(refresh, 10000);
    document.addEventListener("visibilitychange", refresh);
  }
  var all = document.getElementById("all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=job]").forEach(function (box) { box.checked = all.checked; });
    });
  }
})();
