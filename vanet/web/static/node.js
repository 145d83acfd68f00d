// A node's own page on its control endpoint: its status, pushed live.
"use strict";

function showStatus(status) {
  const name = status.name || status.mac || "node";
  document.getElementById("title").textContent = `${name} (${(status.role || "").toUpperCase()})`;
  document.title = `vanet node ${name}`;
  document.getElementById("panel-node").replaceChildren(...nodePanel(status, {}));
}

liveStream("events", showStatus, showConnection, 10000);
