// The Versions and aliases tab: a weighted split's slider and its number input kept equal,
// and the share shown beside the slider. The server reads the number input ("weight").
(function () {
  "use strict";

  function wire(root) {
    root.querySelectorAll("[data-split]").forEach(function (box) {
      if (box.dataset.wired) return;
      box.dataset.wired = "1";
      var slider = box.querySelector("[data-split-slider]");
      var number = box.querySelector("[data-split-number]");
      var shown = box.querySelector("[data-split-shown]");
      if (!slider || !number) return;
      function show(value) { if (shown) shown.textContent = value + " %"; }
      slider.addEventListener("input", function () {
        number.value = slider.value;
        show(slider.value);
      });
      number.addEventListener("input", function () {
        if (number.value === "" || isNaN(Number(number.value))) return;
        slider.value = Math.round(Number(number.value));
        show(number.value);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { wire(document); });
  document.addEventListener("htmx:afterSettle", function () { wire(document); });
})();
