// The Requests page, live: every two seconds while the page is visible and "Update live" is
// ticked, fetch the newest requests and redraw the table. Every value goes in as text
// (textContent), never as markup.
"use strict";
(function () {
  var table = document.getElementById("requests");
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  var none = document.getElementById("no-requests");
  if (!table || !live) {
    return;
  }
  var source = table.getAttribute("data-source");
  var columns = ["time", "virtualTime", "operation", "account", "region", "accessKeyId", "status", "error", "duration", "resources"];
  var busy = false;

  function draw(requests) {
    var body = document.createElement("tbody");
    requests.forEach(function (r) {
      var tr = document.createElement("tr");
      columns.forEach(function (c) {
        var td = document.createElement("td");
        td.textContent = r[c] === undefined || r[c] === null ? "" : String(r[c]);
        if (c === "accessKeyId") {
          td.className = "akid";
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.replaceChild(body, table.tBodies[0]);
    none.hidden = requests.length > 0;
  }

  function poll() {
    if (busy || !live.checked || document.hidden) {
      return;
    }
    busy = true;
    fetch(source, { credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (!res.ok) {
          throw new Error("the server answered " + res.status + (res.status === 401 ? ": log in again" : ""));
        }
        return res.json();
      })
      .then(function (body) {
        draw(body.requests || []);
        status.textContent = "";
      })
      .catch(function (err) {
        status.textContent = "Not updated: " + err.message;
      })
      .finally(function () {
        busy = false;
      });
  }

  window.setInterval(poll, 2000);
  live.addEventListener("change", poll);
})();
