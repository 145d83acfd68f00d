// A node's own page on its control endpoint: its status, pushed live.
"use strict";

function showStatus(status) {
  const name = status.name || status.mac || "node";
  document.getElementById("title").textContent = `${name} (${(status.role || "").toUpperCase()})`;
  document.title = `vanet node ${name}`;
  // This node's own MAC is named; others are MACs (a node knows no names).
  const nameOf = (mac) => (mac === status.mac ? `${mac} (${name})` : mac);
  document.getElementById("panel-node").replaceChildren(...nodePanel(status, { nameOf }));
}

liveStream("events", showStatus, showConnection, 10000);
