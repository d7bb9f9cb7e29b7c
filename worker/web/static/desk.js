// Desk page: "select all", the selected count, and a quiet refresh of waiting times.
(function () {
  "use strict";
  var form = document.getElementById("pickup-form");
  var all = document.getElementById("select-all");
  var button = document.getElementById("call-courier");
  var countText = document.getElementById("selected-count");

  function boxes() {
    return Array.prototype.slice.call(
      document.querySelectorAll('#pickup-form input[name="code"]'));
  }

  function update() {
    var list = boxes();
    var n = list.filter(function (b) { return b.checked; }).length;
    list.forEach(function (b) { b.closest("tr").classList.toggle("selected", b.checked); });
    if (button) { button.disabled = n === 0; }
    if (countText) { countText.textContent = n ? "Đã chọn " + n + " hồ sơ" : "Chưa chọn hồ sơ nào"; }
    if (all) {
      all.checked = n > 0 && n === list.length;
      all.indeterminate = n > 0 && n < list.length;
    }
  }

  // The agency filter submits on change (an inline onchange would break the CSP).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  if (form) {
    form.addEventListener("change", function (e) {
      if (e.target === all) {
        boxes().forEach(function (b) { if (!b.disabled) { b.checked = all.checked; } });
      }
      update();
    });
    form.addEventListener("submit", function () {
      // one click, one request: a second click cannot send the batch again
      if (button) { button.disabled = true; button.textContent = "Đang gửi…"; }
    });
    // coming back with the browser's Back button must not leave the button stuck
    window.addEventListener("pageshow", function () {
      if (button) { button.textContent = "Gọi bưu tá"; }
      update();
    });
    update();
  }

  // Every 15 s: refresh "Đã chờ" and tell the clerk about new or already-called dossiers,
  // without reloading (a reload would lose the selection).
  function refresh() {
    fetch("/desk/pending.json" + window.location.search, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        var now = {};
        data.items.forEach(function (it) { now[it.dossierCode] = it.waited; });
        var shown = {};
        document.querySelectorAll("#waiting tbody tr[data-code]").forEach(function (tr) {
          var code = tr.getAttribute("data-code");
          shown[code] = true;
          var cell = tr.querySelector("td.waited");
          if (code in now) {
            if (cell) { cell.textContent = now[code]; }
          } else if (!tr.classList.contains("gone")) {
            tr.classList.add("gone");
            var box = tr.querySelector('input[name="code"]');
            if (box) { box.checked = false; box.disabled = true; }
            if (cell) { cell.textContent = "đã được gọi"; }
          }
        });
        var fresh = data.items.filter(function (it) { return !shown[it.dossierCode]; }).length;
        var news = document.getElementById("waiting-news");
        if (news) {
          news.hidden = fresh === 0;
          news.textContent = fresh ? "Có " + fresh + " hồ sơ mới đang chờ. Tải lại trang để xem." : "";
        }
        update();
      })
      .catch(function () { /* offline for a moment: try again next time */ });
  }
  if (document.getElementById("waiting")) { window.setInterval(refresh, 15000); }
})();
