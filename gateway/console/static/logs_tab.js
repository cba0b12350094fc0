// The Logs tab's live tail: server-sent events from logs/tail, filtered on the server by
// the form's request id, level and text. A new filter closes the stream and opens another.
(function () {
  "use strict";
  var list = document.getElementById("log-lines");
  var form = document.getElementById("logs-filter");
  if (!list || !form || !window.EventSource) return;
  var status = document.getElementById("logs-status");
  var pause = document.getElementById("logs-pause");
  var clear = document.getElementById("logs-clear");
  var MAX_LINES = 2000;
  var source = null;
  var paused = false;
  var held = [];
  // Records shown, by request id and start: a reconnected stream sends its history again.
  var seen = new Set();
  var current = null;

  function setState(state, text) {
    list.dataset.state = state;
    if (status) status.textContent = text;
  }

  function filters() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (String(value).trim()) params.set(key, String(value).trim());
    });
    return params.toString();
  }

  function line(record, entry) {
    var item = document.createElement("li");
    item.className = "lvl-" + entry.level.toLowerCase();
    item.dataset.requestId = record.requestId;
    var meta = document.createElement("button");
    meta.type = "button";
    meta.className = "link meta";
    meta.title = "Show only request " + record.requestId;
    meta.dataset.requestId = record.requestId;
    meta.textContent = record.start.slice(11, 23) + " " + record.requestId.slice(0, 8);
    var level = document.createElement("span");
    level.className = "level";
    level.textContent = entry.level;
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = entry.text;
    item.append(meta, " ", level, " ", text);
    return item;
  }

  function show(record) {
    var key = record.requestId + "|" + record.start;
    if (seen.has(key)) return;
    if (seen.size > 20000) seen.clear();
    seen.add(key);
    var atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    record.lines.forEach(function (entry) { list.appendChild(line(record, entry)); });
    while (list.childElementCount > MAX_LINES) list.removeChild(list.firstElementChild);
    if (atEnd) list.scrollTop = list.scrollHeight;
  }

  function connect() {
    var query = filters();
    // A change then a submit (Enter in a field) ask for the same tail: keep the open one.
    if (source && source.readyState !== EventSource.CLOSED && query === current) return;
    current = query;
    if (source) source.close();
    list.textContent = "";
    seen = new Set();
    held = [];
    history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    setState("connecting", "Connecting…");
    source = new EventSource(list.dataset.tailUrl + (query ? "?" + query : ""));
    source.addEventListener("record", function (event) {
      var record = JSON.parse(event.data);
      if (paused) held.push(record);
      else show(record);
    });
    source.addEventListener("live", function () {
      setState("live", paused ? "Paused." : "Live: new lines appear as they are logged.");
    });
    source.addEventListener("failed", function (event) {
      setState("connecting", "The tail stopped (" + JSON.parse(event.data).message + "); reconnecting…");
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        setState("closed", "The tail was refused: reload the page (your session may have ended).");
      } else {
        setState("connecting", "Reconnecting…");
      }
    };
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    connect();
  });
  form.addEventListener("change", connect);
  list.addEventListener("click", function (event) {
    var meta = event.target.closest ? event.target.closest("button.meta") : null;
    if (!meta) return;
    form.elements.namedItem("request_id").value = meta.dataset.requestId;
    connect();
  });
  if (pause) pause.addEventListener("click", function () {
    paused = !paused;
    pause.setAttribute("aria-pressed", paused ? "true" : "false");
    pause.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      held.forEach(show);
      held = [];
    }
    if (list.dataset.state === "live") {
      setState("live", paused ? "Paused." : "Live: new lines appear as they are logged.");
    }
  });
  if (clear) clear.addEventListener("click", function () { list.textContent = ""; });
  window.addEventListener("pagehide", function () { if (source) source.close(); });
  connect();
})();
