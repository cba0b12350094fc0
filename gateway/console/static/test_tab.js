// The Test tab: the event is checked as JSON before it is sent (the error by the editor),
// and "Format" indents it. Wired by data attributes; no inline script.
(function () {
  "use strict";

  function errorOf(textarea) {
    return document.getElementById(textarea.getAttribute("aria-describedby") || "");
  }

  function say(textarea, message) {
    var error = errorOf(textarea);
    if (error) error.textContent = message;
    if (message) textarea.setAttribute("aria-invalid", "true");
    else textarea.removeAttribute("aria-invalid");
  }

  // The fault of ``text`` as JSON, or "" when it is JSON.
  function fault(text) {
    if (!text.trim()) return "Write an event: JSON, such as {}.";
    try {
      JSON.parse(text);
      return "";
    } catch (e) {
      return "The event is not JSON: " + e.message;
    }
  }

  // A form marked data-checks-event sends nothing while its event is not JSON.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail.elt;
    if (!source || !source.matches || !source.matches("[data-checks-event]")) return;
    var textarea = document.getElementById(source.dataset.checksEvent);
    if (!textarea) return;
    var problem = fault(textarea.value);
    say(textarea, problem);
    if (problem) {
      event.preventDefault();
      textarea.focus();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-format-for]") : null;
    if (!button) return;
    var textarea = document.getElementById(button.dataset.formatFor);
    if (!textarea) return;
    var problem = fault(textarea.value);
    say(textarea, problem);
    if (!problem) textarea.value = JSON.stringify(JSON.parse(textarea.value), null, 2);
  });
})();
