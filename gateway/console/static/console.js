// The console's own script: upload progress, the drop zone, and errors htmx does not swap.
// No inline handlers: everything is wired here, by class and data attributes.
(function () {
  "use strict";

  // An upload's progress, from htmx's XMLHttpRequest events, on the form's <progress>.
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest ? event.target.closest(".upload-form") : null;
    var bar = form && form.querySelector("progress.upload");
    if (!bar || !event.detail.lengthComputable || !event.detail.total) return;
    bar.hidden = false;
    bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
  });

  // A 401 (the session ended) goes to the login form; a 403 is shown at the top.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 401) {
      window.location.assign("/ui/login?next=" + encodeURIComponent(window.location.pathname));
      return;
    }
    var message = "The request failed (" + xhr.status + ").";
    try { message = JSON.parse(xhr.responseText).message || message; } catch (e) { /* not JSON */ }
    var flash = document.getElementById("flash");
    if (flash) flash.textContent = message;
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var flash = document.getElementById("flash");
    if (flash) flash.textContent = "";
  });

  // A zip dropped on a drop zone becomes its file input's file.
  function wireDropZones(root) {
    root.querySelectorAll(".drop-zone[data-drop-for]").forEach(function (zone) {
      if (zone.dataset.wired) return;
      zone.dataset.wired = "1";
      var input = document.getElementById(zone.dataset.dropFor);
      zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
      zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
      zone.addEventListener("drop", function (e) {
        e.preventDefault();
        zone.classList.remove("over");
        if (input && e.dataTransfer && e.dataTransfer.files.length) {
          input.files = e.dataTransfer.files;
          var name = zone.querySelector("p");
          if (name) name.textContent = e.dataTransfer.files[0].name;
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { wireDropZones(document); });
  document.addEventListener("htmx:afterSettle", function (e) { wireDropZones(e.target); });
})();
