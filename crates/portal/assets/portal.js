// Progressive enhancement for the teleTAN page: a copy button and a visible countdown. Without JavaScript
// the page still works: the teleTAN is shown and a meta refresh clears it after the display time.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var tan = document.getElementById("teletan");
  var copy = document.getElementById("copy-teletan");
  var status = document.getElementById("copy-status");
  if (tan && copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(tan.dataset.value).then(
        function () { status.textContent = copy.dataset.done; },
        function () { status.textContent = copy.dataset.failed; }
      );
    });
  }
  var countdown = document.getElementById("countdown");
  if (!tan || !countdown) { return; }
  var deadline = Date.now() + parseInt(countdown.dataset.seconds, 10) * 1000;
  var timer = setInterval(function () {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left === 0) {
      clearInterval(timer);
      // Clear the teleTAN from the page (and the clipboard button) before leaving.
      tan.textContent = tan.dataset.cleared;
      tan.dataset.value = "";
      tan.classList.add("cleared");
      if (copy) { copy.hidden = true; }
      window.location.replace("/start");
    }
  }, 1000);
});
