// Live events for the console's /live page, through server-sent events.
// Every value from the store is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var table = document.getElementById("live");
  if (!table || !window.EventSource) { return; }
  var body = table.querySelector("tbody");
  var status = document.getElementById("live-status");
  var keep = 200;
  function cell(row, text, href) {
    var td = document.createElement("td");
    if (href) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  }
  var source = new EventSource(table.getAttribute("data-source"));
  source.onopen = function () { status.textContent = "connected, waiting for events"; };
  source.addEventListener("caughtup", function () { status.textContent = "live"; });
  source.addEventListener("problem", function (m) {
    status.textContent = "stopped: " + JSON.parse(m.data);
    source.close();
  });
  source.onerror = function () { status.textContent = "reconnecting…"; };
  source.onmessage = function (m) {
    var e = JSON.parse(m.data);
    var row = document.createElement("tr");
    row.className = "event";
    cell(row, e.position);
    cell(row, e.stream + "@" + e.revision, e.link);
    cell(row, e.type);
    cell(row, e.schema).className = e.schema === "valid" ? "ok" : (e.schema === "no schema" ? "none" : "bad");
    cell(row, e.created);
    var pre = document.createElement("pre");
    pre.textContent = e.data;
    cell(row, "").appendChild(pre);
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > keep) { body.deleteRow(body.rows.length - 1); }
    status.textContent = "live";
  };
})();
