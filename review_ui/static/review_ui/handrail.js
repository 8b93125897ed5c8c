/* Handrail review UI: countdowns, lease renewal while the reviewer works, keyboard shortcuts.
   No dependencies; the pages work without it (forms post normally). */
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function remaining(seconds) {
    if (seconds >= 86400) return Math.floor(seconds / 86400) + " d " + Math.floor((seconds % 86400) / 3600) + " h";
    if (seconds >= 3600) return Math.floor(seconds / 3600) + " h " + pad(Math.floor((seconds % 3600) / 60)) + " min";
    return Math.floor(seconds / 60) + ":" + pad(seconds % 60);
  }

  /* Every [data-countdown] shows the time left to its ISO instant, each second. */
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var until = Date.parse(el.getAttribute("data-countdown"));
      if (isNaN(until)) return;
      var left = Math.round((until - now) / 1000);
      var time = el.querySelector("time");
      if (left <= 0) {
        el.textContent = el.getAttribute("data-expired-text") || "expired";
        el.classList.add("countdown-late");
      } else if (time) {
        time.textContent = remaining(left);
        el.classList.toggle("countdown-soon", left < 120);
      }
    });
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* Renew the claim while the reviewer is active: any key, click or scroll since the last renewal. */
  function startRenewal() {
    var holder = document.querySelector("[data-renew-url]");
    if (!holder) return;
    var url = holder.getAttribute("data-renew-url");
    var every = (parseInt(holder.getAttribute("data-renew-every"), 10) || 60) * 1000;
    var active = true;
    ["keydown", "pointerdown", "scroll", "input"].forEach(function (name) {
      window.addEventListener(name, function () { active = true; }, { passive: true });
    });
    function renew() {
      if (!active) return;
      active = false;
      fetch(url, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
        credentials: "same-origin",
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        var countdown = document.getElementById("lease-countdown");
        if (!countdown) return;
        if (result.ok && result.body.lease_expires_at) {
          countdown.setAttribute("data-countdown", result.body.lease_expires_at);
          countdown.classList.remove("countdown-late");
          holder.setAttribute("data-renewed-at", new Date().toISOString());
        } else {
          countdown.setAttribute("data-countdown", new Date(0).toISOString());
        }
        tick();
      }).catch(function () { active = true; });
    }
    holder.renewNow = renew;
    window.setInterval(renew, every);
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function openDetails(id, focusSelector) {
    var details = document.getElementById(id);
    if (!details) return;
    details.open = true;
    var field = details.querySelector(focusSelector || "input, select, textarea");
    if (field) field.focus();
  }

  function shortcuts() {
    var help = document.getElementById("help");
    document.querySelectorAll("[data-help-open]").forEach(function (button) {
      button.addEventListener("click", function () { if (help) help.showModal(); });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
      if (help && help.open) return;
      var button;
      switch (event.key) {
        case "a":
        case "r":
          button = document.querySelector('[data-shortcut="' + event.key + '"]');
          if (button) { event.preventDefault(); button.click(); }
          break;
        case "m":
          event.preventDefault(); openDetails("modify");
          break;
        case "s":
          event.preventDefault(); openDetails("skip", "textarea");
          break;
        case "c":
          var comment = document.getElementById("id_text");
          if (comment) { event.preventDefault(); comment.focus(); }
          break;
        case "?":
          if (help) { event.preventDefault(); help.showModal(); }
          break;
      }
    });
  }

  function selectAll() {
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        box.closest("form").querySelectorAll('input[name="tasks"]').forEach(function (item) { item.checked = box.checked; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    startRenewal();
    shortcuts();
    selectAll();
  });
})();
