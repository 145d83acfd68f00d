// Small helpers shared by the simulator's page and a node's page.
// Every text from the server goes into the page as text, never as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  return node;
}

function fmt(value, digits) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    return value.toFixed(digits === undefined ? 2 : digits);
  }
  if (Array.isArray(value)) return value.map((v) => fmt(v, digits)).join(", ") || "–";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? "–" : (100 * ratio).toFixed(1) + "%";
}

// A table of rows (objects); columns: [[key, heading, format?], ...].
function table(rows, columns) {
  if (!rows.length) return el("p", { class: "muted" }, "(none)");
  const head = el("tr", {}, ...columns.map(([, heading, f]) =>
    el("th", { class: f === "num" ? "num" : null }, heading)));
  const body = rows.map((row) => el("tr", {}, ...columns.map(([key, , f]) => {
    const value = typeof key === "function" ? key(row) : row[key];
    return el("td", { class: f === "num" ? "num" : null }, fmt(value));
  })));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

// A live JSON stream: calls onData(snapshot) per message and onState
// ("live" | "connecting" | "gone") when the connection changes. A page
// whose server stopped sending for `staleAfterMs` counts it as gone too.
function liveStream(url, onData, onState, staleAfterMs) {
  let timer = null;
  const stale = () => {
    clearTimeout(timer);
    timer = setTimeout(() => onState("gone"), staleAfterMs || 5000);
  };
  const source = new EventSource(url);
  source.addEventListener("open", () => { onState("live"); stale(); });
  source.addEventListener("snapshot", (event) => {
    onState("live");
    stale();
    onData(JSON.parse(event.data));
  });
  source.addEventListener("error", () => onState("gone"));
  return source;
}

// Show the connection state in the header (#connection) and banner (#gone).
function showConnection(state) {
  const badge = document.getElementById("connection");
  badge.className = "connection " + state;
  badge.textContent = { live: "live", connecting: "connecting…", gone: "disconnected" }[state];
  document.getElementById("gone").hidden = state !== "gone";
  document.body.classList.toggle("disconnected", state === "gone");
}
