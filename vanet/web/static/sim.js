// The simulator's page: the network drawn in SVG from the snapshots the
// server pushes (/events), with node, link and flow panels.
"use strict";

const W = 1000;          // the picture's width in SVG units
const MARGIN = 70;
const R_OBU = 13;
const R_RSU = 15;
const PALETTE = ["#1d6fe0", "#e0701d", "#2a9d5a", "#9b3fc0", "#c0392b", "#0f9fb0", "#8a6d00", "#d6439b"];
const NO_GATEWAY = "#8a94a6";
const NODE_REFRESH_MS = 1000;
const FLASH_MS = 2000;

const svg = document.getElementById("graph");
const layers = {
  road: document.getElementById("layer-road"),
  links: document.getElementById("layer-links"),
  arrows: document.getElementById("layer-arrows"),
  nodes: document.getElementById("layer-nodes"),
  legend: document.getElementById("legend"),
};
const defs = svg.insertBefore(svgEl("defs"), svg.firstChild);

const state = {
  snap: null,
  info: {},            // name -> /api/v1/node_info entry
  upstreams: null,     // name -> upstream node name or null (previous snapshot)
  nameOfMac: {},
  colours: {},         // gateway name -> colour
  points: {},          // name -> [x, y] in SVG units
  bounds: null,        // positions' and the road's running bounds (map mode)
  map: false,          // drawn at the nodes' positions (else the graph layout)
  toPicture: null,     // metres -> SVG units, in map mode
  frame: "",           // the bounds toPicture maps from
  road: [],            // the road's polylines in metres (/api/v1/road, once)
  roadDrawn: "",       // the transform the road was last drawn with
  selected: null,      // {kind: "node", name} | {kind: "link", a, b}
  nodeStatus: null,
  nodeFetchedAt: 0,
  nodeFetching: 0,     // the number of the fetch in flight (0: none)
  fetches: 0,
};

const nameOf = (mac) => state.nameOfMac[mac] || mac;
const pairKey = (a, b) => JSON.stringify(a < b ? [a, b] : [b, a]);

// -- geometry ---------------------------------------------------------------

function place(snap) {
  const names = snap.nodes.map((n) => n.name);
  const positions = snap.positions || {};
  const placed = names.filter((n) => positions[n]);
  state.map = placed.length > 0;
  const scale = W - 2 * MARGIN;
  const points = {};
  let maxY = 0;
  if (state.map) {
    // Map mode: the nodes' own positions over the road, in bounds that
    // only grow, so a moving vehicle moves and the rest of the picture
    // stays put. A node without a position now (a vehicle off the road)
    // is not drawn.
    const b = state.bounds || { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity };
    const grow = ([x, y]) => {
      b.x0 = Math.min(b.x0, x); b.x1 = Math.max(b.x1, x);
      b.y0 = Math.min(b.y0, y); b.y1 = Math.max(b.y1, y);
    };
    for (const n of placed) grow(positions[n]);
    for (const line of state.road) for (const point of line) grow(point);
    state.bounds = b;
    const span = Math.max(b.x1 - b.x0, b.y1 - b.y0, 1e-9);
    // north up: y grows up in metres, down in the picture
    state.toPicture = ([x, y]) => [MARGIN + (x - b.x0) / span * scale, MARGIN + 20 + (b.y1 - y) / span * scale];
    state.frame = [b.x0, b.x1, b.y0, b.y1].join(",");
    for (const n of placed) points[n] = state.toPicture(positions[n]);
    maxY = MARGIN + 20 + (b.y1 - b.y0) / span * scale;
  } else {
    state.toPicture = null;
    const unit = snap.layout || {};
    names.forEach((n, i) => {
      const [x, y] = unit[n] || [i / Math.max(1, names.length - 1), 0];
      points[n] = [MARGIN + x * scale, MARGIN + 20 + y * scale];
    });
  }
  for (const n in points) maxY = Math.max(maxY, points[n][1]);
  const height = Math.max(260, maxY + MARGIN);
  svg.setAttribute("viewBox", `0 0 ${W} ${height}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", height);
  return points;
}

// The road (fetched once: it does not change), under everything else.
function loadRoad() {
  fetch("api/v1/road")
    .then((r) => (r.ok ? r.json() : { polylines: [] }))
    .then((body) => {
      state.road = Array.isArray(body.polylines) ? body.polylines : [];
      if (state.snap) update(state.snap);
    })
    .catch(() => {});
}

function radius(name) {
  return (state.info[name] || {}).role === "rsu" ? R_RSU + 2 : R_OBU;
}

// Keyed children: find or make the element for `key` in `layer`.
function keyed(layer, key, make) {
  for (const child of layer.children) if (child.dataset.key === key) return child;
  const made = make();
  made.dataset.key = key;
  layer.append(made);
  return made;
}

function prune(layer, keep) {
  for (const child of [...layer.children]) if (!keep.has(child.dataset.key)) child.remove();
}

function flash(element) {
  element.classList.remove("flash");
  void element.getBoundingClientRect();  // restart the animation
  element.classList.add("flash");
  setTimeout(() => element.classList.remove("flash"), FLASH_MS);
}

function marker(colour) {
  const id = "arrow-" + colour.slice(1);
  if (!document.getElementById(id)) {
    // Sized in picture units, so a flashing (thicker) arrow keeps its head.
    const m = svgEl("marker", { id, viewBox: "0 0 10 10", refX: 8, refY: 5, markerUnits: "userSpaceOnUse", markerWidth: 16, markerHeight: 16, orient: "auto-start-reverse" });
    m.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }));
    defs.append(m);
  }
  return `url(#${id})`;
}

// -- drawing ----------------------------------------------------------------

function drawRoad() {
  if (!state.map || !state.road.length) {
    layers.road.replaceChildren();
    state.roadDrawn = "";
    return;
  }
  if (state.roadDrawn === state.frame) return;  // the same picture as before
  layers.road.replaceChildren(...state.road.map((line, i) => svgEl("polyline", {
    class: "road",
    "data-lane": i,
    points: line.map((p) => state.toPicture(p).map((v) => v.toFixed(1)).join(",")).join(" "),
  })));
  state.roadDrawn = state.frame;
}

function drawLinks(snap) {
  const pairs = new Map();
  for (const c of snap.channels) {
    if (c.from === c.to || !state.points[c.from] || !state.points[c.to]) continue;
    const key = pairKey(c.from, c.to);
    if (!pairs.has(key)) pairs.set(key, { a: c.from < c.to ? c.from : c.to, b: c.from < c.to ? c.to : c.from, dirs: {} });
    pairs.get(key).dirs[`${c.from}>${c.to}`] = c;
  }
  const keep = new Set();
  for (const [key, pair] of pairs) {
    keep.add(key);
    const g = keyed(layers.links, key, () => {
      const group = svgEl("g", { class: "link" });
      group.append(svgEl("line", { class: "wire" }), svgEl("line", { class: "hit" }), svgEl("text", { "text-anchor": "middle" }));
      group.addEventListener("click", () => select({ kind: "link", a: pair.a, b: pair.b }));
      return group;
    });
    g.dataset.a = pair.a;
    g.dataset.b = pair.b;
    const [x1, y1] = state.points[pair.a];
    const [x2, y2] = state.points[pair.b];
    for (const line of g.querySelectorAll("line")) {
      line.setAttribute("x1", x1); line.setAttribute("y1", y1);
      line.setAttribute("x2", x2); line.setAttribute("y2", y2);
    }
    const dirs = Object.values(pair.dirs);
    const cut = dirs.filter((c) => c.loss >= 1).length;
    const loss = Math.max(...dirs.map((c) => c.loss));
    g.classList.toggle("cut", cut === dirs.length && dirs.length === 2);
    g.classList.toggle("half-cut", cut > 0 && !(cut === dirs.length && dirs.length === 2));
    g.classList.toggle("lossy", loss > 0 && cut === 0);
    const sel = state.selected;
    g.classList.toggle("selected", !!sel && sel.kind === "link" && pairKey(sel.a, sel.b) === key);
    const lat = [...new Set(dirs.map((c) => fmt(c.latency_ms, 1)))].join("/");
    const jit = Math.max(...dirs.map((c) => c.jitter_ms));
    let label = `${lat} ms` + (jit > 0 ? ` ±${fmt(jit, 1)}` : "");
    if (cut === 2 || (cut && dirs.length === 1)) label += " · cut";
    else if (cut) label += " · cut one way";
    else if (loss > 0) label += ` · ${percent(loss)} loss`;
    const text = g.querySelector("text");
    text.textContent = label;
    text.setAttribute("x", (x1 + x2) / 2);
    text.setAttribute("y", (y1 + y2) / 2 - 6);
  }
  prune(layers.links, keep);
}

function drawArrows(snap, changed) {
  const keep = new Set();
  for (const node of snap.node_info) {
    const up = node.upstream;
    if (node.role !== "obu" || !up || !up.node || !state.points[up.node] || !state.points[node.name]) continue;
    const key = node.name;
    keep.add(key);
    const path = keyed(layers.arrows, key, () => svgEl("path", { class: "upstream" }));
    const colour = state.colours[node.gateway_node] || NO_GATEWAY;
    const [px, py] = state.points[node.name];
    const [qx, qy] = state.points[up.node];
    const len = Math.hypot(qx - px, qy - py) || 1;
    const ux = (qx - px) / len, uy = (qy - py) / len;
    const sx = px + ux * (radius(node.name) + 2), sy = py + uy * (radius(node.name) + 2);
    const ex = qx - ux * (radius(up.node) + 4), ey = qy - uy * (radius(up.node) + 4);
    const bend = Math.min(22, len / 5);
    const cx = (px + qx) / 2 - uy * bend, cy = (py + qy) / 2 + ux * bend;
    path.setAttribute("d", `M${sx.toFixed(1)},${sy.toFixed(1)} Q${cx.toFixed(1)},${cy.toFixed(1)} ${ex.toFixed(1)},${ey.toFixed(1)}`);
    path.setAttribute("stroke", colour);
    path.setAttribute("marker-end", marker(colour));
    path.dataset.from = node.name;
    path.dataset.to = up.node;
    path.dataset.gateway = node.gateway_node || "";
    path.dataset.hops = up.hops;
    if (changed.has(node.name)) flash(path);
  }
  prune(layers.arrows, keep);
}

function drawNodes(snap, changed) {
  const keep = new Set();
  for (const node of snap.nodes) {
    const name = node.name;
    if (!state.points[name]) continue;
    keep.add(name);
    const info = state.info[name] || {};
    const role = ["rsu", "obu"].includes(node.role) ? node.role : "other";
    const g = keyed(layers.nodes, name, () => {
      const group = svgEl("g", { class: `node ${role}`, tabindex: 0, role: "button" });
      const shape = role === "rsu"
        ? svgEl("rect", { class: "shape", x: -R_RSU, y: -R_RSU, width: 2 * R_RSU, height: 2 * R_RSU, rx: 3 })
        : svgEl("circle", { class: "shape", r: role === "obu" ? R_OBU : R_RSU });
      // An RSU's label above it: its vehicles' arrows come in from below.
      const [nameY, detailY] = role === "rsu" ? [-R_RSU - 20, -R_RSU - 7] : [R_RSU + 16, R_RSU + 29];
      group.append(svgEl("circle", { class: "ring", r: R_RSU + 7 }), shape,
        svgEl("text", { class: "name", y: nameY }), svgEl("text", { class: "detail", y: detailY }));
      const open = () => select({ kind: "node", name });
      group.addEventListener("click", open);
      group.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") open(); });
      return group;
    });
    g.dataset.node = name;
    g.dataset.role = node.role;
    const [x, y] = state.points[name];
    g.setAttribute("transform", `translate(${x.toFixed(1)},${y.toFixed(1)})`);
    const shape = g.querySelector(".shape");
    const lost = role === "obu" && !info.upstream;
    g.classList.toggle("lost", lost);
    const sel = state.selected;
    g.classList.toggle("selected", !!sel && sel.kind === "node" && sel.name === name);
    let detail = "";
    if (role === "rsu") {
      shape.setAttribute("fill", state.colours[name] || NO_GATEWAY);
      detail = `${info.routes ?? 0} routes`;
    } else if (role === "obu") {
      shape.setAttribute("stroke", lost ? "#b3261e" : (state.colours[info.gateway_node] || NO_GATEWAY));
      detail = lost ? "no route" : `${info.upstream.hops} hop${info.upstream.hops === 1 ? "" : "s"}` +
        (info.rtt_ms === null || info.rtt_ms === undefined ? "" : ` · ${fmt(info.rtt_ms, 1)} ms`);
    }
    g.querySelector("text.name").textContent = name;
    g.querySelector("text.detail").textContent = detail;
    if (changed.has(name)) flash(g);
  }
  prune(layers.nodes, keep);
}

function drawLegend(snap) {
  layers.legend.replaceChildren();
  let x = 12;
  const y = 18;
  const entry = (colour, text, dash) => {
    layers.legend.append(svgEl("line", { x1: x, y1: y - 4, x2: x + 22, y2: y - 4, stroke: colour, "stroke-width": 3, "stroke-dasharray": dash }));
    const t = svgEl("text", { x: x + 27, y, class: "legend" });
    t.textContent = text;
    layers.legend.append(t);
    x += 40 + text.length * 6.2;
  };
  for (const node of snap.nodes) if (node.role === "rsu") entry(state.colours[node.name], `via ${node.name}`);
  entry("#d08a00", "lossy link", "8 4");
  entry("#b3261e", "cut link", "3 5");
}

// -- panels -----------------------------------------------------------------

function select(what) {
  state.selected = what;
  state.nodeStatus = null;
  state.nodeFetchedAt = 0;
  document.getElementById("panel-node").hidden = what?.kind !== "node";
  document.getElementById("panel-link").hidden = what?.kind !== "link";
  // The selection is in the address (#node=NAME, #link=A,B): a link to it
  // opens the same panel.
  const hash = !what ? "" : what.kind === "node" ? `#node=${encodeURIComponent(what.name)}`
    : `#link=${encodeURIComponent(what.a)},${encodeURIComponent(what.b)}`;
  history.replaceState(null, "", hash || location.pathname);
  if (what?.kind === "link") buildLinkPanel(what.a, what.b);
  if (state.snap) render(state.snap, new Set());
  nodePanelRefresh(true);
}

function selectFromAddress() {
  const node = /^#node=([^,]+)$/.exec(location.hash);
  const link = /^#link=([^,]+),([^,]+)$/.exec(location.hash);
  if (node && state.info[decodeURIComponent(node[1])]) {
    select({ kind: "node", name: decodeURIComponent(node[1]) });
  } else if (link) {
    const [a, b] = [decodeURIComponent(link[1]), decodeURIComponent(link[2])];
    if (channel(a, b) || channel(b, a)) select({ kind: "link", a: a < b ? a : b, b: a < b ? b : a });
  }
}

function nodePanelRefresh(force) {
  const sel = state.selected;
  if (!sel || sel.kind !== "node") return;
  const panel = document.getElementById("panel-node");
  const info = state.info[sel.name] || { name: sel.name };
  const close = () => select(null);
  if (state.nodeStatus && state.nodeStatus.name === sel.name) {
    panel.replaceChildren(...nodePanel(state.nodeStatus, { nameOf, info, onClose: close }));
  } else {
    panel.replaceChildren(el("h2", {}, sel.name), el("p", { class: "muted" }, "loading…"));
  }
  panel.dataset.node = sel.name;
  const now = Date.now();
  if (!force && (state.nodeFetching || now - state.nodeFetchedAt < NODE_REFRESH_MS)) return;
  const number = ++state.fetches;
  state.nodeFetching = number;
  state.nodeFetchedAt = now;
  fetch(`api/v1/node/${encodeURIComponent(sel.name)}`)
    .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
    .then(({ ok, body }) => {
      if (state.selected?.kind !== "node" || state.selected.name !== sel.name) return;
      if (!ok) {
        panel.replaceChildren(el("h2", {}, sel.name), el("p", { class: "bad" }, body.error || "error"));
        return;
      }
      state.nodeStatus = { name: sel.name, ...body };
      panel.replaceChildren(...nodePanel(state.nodeStatus, { nameOf, info: state.info[sel.name] || {}, onClose: close }));
    })
    .catch(() => {})
    .finally(() => { if (state.nodeFetching === number) state.nodeFetching = 0; });
}

const PARAMS = [["latency_ms", "latency ms", "0.1", null], ["jitter_ms", "jitter ms", "0.1", null], ["loss", "loss (0–1)", "0.01", "1"]];

function channel(a, b) {
  return (state.snap?.channels || []).find((c) => c.from === a && c.to === b);
}

function buildLinkPanel(a, b) {
  const panel = document.getElementById("panel-link");
  const close = el("button", { class: "close", type: "button", title: "Close" }, "×");
  close.addEventListener("click", () => select(null));
  const form = el("form", { class: "edit" });
  form.append(el("span"), ...PARAMS.map(([, label]) => el("strong", {}, label)));
  const dirs = [[a, b], [b, a]];
  for (const [from, to] of dirs) {
    const c = channel(from, to) || {};
    form.append(el("span", {}, `${from} → ${to}`));
    for (const [param, label, step, max] of PARAMS) {
      form.append(el("input", {
        type: "number", min: "0", max, step, required: "", name: `${from}>${to}:${param}`,
        "data-from": from, "data-to": to, "data-param": param, "aria-label": `${from} → ${to} ${label}`,
        value: c[param] === undefined ? "" : String(c[param]),
      }));
    }
  }
  const same = el("input", { type: "checkbox", id: "same-both-ways" });
  const ab = channel(a, b), ba = channel(b, a);
  same.checked = !!ab && !!ba && PARAMS.every(([p]) => ab[p] === ba[p]);
  const message = el("span", { class: "message" });
  form.append(el("div", { class: "row" }, same, el("label", { for: "same-both-ways" }, "same both ways"),
    el("span", { class: "spacer" }), el("button", { type: "submit" }, "Apply")), el("div", { class: "row" }, message));
  form.addEventListener("input", (event) => {
    const input = event.target;
    if (!same.checked || !input.dataset.param) return;
    const twin = form.querySelector(`input[data-from="${CSS.escape(input.dataset.to)}"][data-to="${CSS.escape(input.dataset.from)}"][data-param="${input.dataset.param}"]`);
    if (twin) twin.value = input.value;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    applyLink(form, dirs, message);
  });
  panel.replaceChildren(el("h2", {}, `${a} ↔ ${b}`, close), el("div", { class: "counters" }), form);
  panel.dataset.a = a;
  panel.dataset.b = b;
}

async function applyLink(form, dirs, message) {
  message.className = "message";
  message.textContent = "applying…";
  const done = [];
  try {
    for (const [from, to] of dirs) {
      const current = channel(from, to);
      const body = {};
      for (const [param] of PARAMS) {
        const input = form.querySelector(`input[data-from="${CSS.escape(from)}"][data-to="${CSS.escape(to)}"][data-param="${param}"]`);
        if (input.value === "") continue;
        const value = Number(input.value);
        if (!current || current[param] !== value) body[param] = value;
      }
      if (!Object.keys(body).length) continue;
      const response = await fetch(`api/v1/channel/${encodeURIComponent(from)}/${encodeURIComponent(to)}`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(`${from} → ${to}: ${answer.error || response.status}`);
      done.push(`${from} → ${to}`);
    }
    message.className = "message good";
    message.textContent = done.length ? `changed ${done.join(", ")}` : "nothing to change";
  } catch (error) {
    message.className = "message bad";
    message.textContent = String(error.message || error);
  }
}

function linkPanelRefresh() {
  const sel = state.selected;
  if (!sel || sel.kind !== "link") return;
  const rows = [channel(sel.a, sel.b), channel(sel.b, sel.a)].filter(Boolean);
  document.querySelector("#panel-link .counters").replaceChildren(table(rows, [
    [(c) => `${c.from} → ${c.to}`, "direction"], ["latency_ms", "lat ms", "num"], ["jitter_ms", "jit ms", "num"],
    ["loss", "loss", "num"], ["frames_sent", "sent", "num"], ["frames_delivered", "delivered", "num"],
    ["frames_lost", "lost", "num"], ["frames_filtered", "filtered", "num"], ["frames_in_flight", "in flight", "num"],
  ]));
}

function flowsRefresh(snap) {
  const rows = Object.values(snap.flows || {});
  const t = table(rows, [
    ["flow", "flow"], ["sent", "sent", "num"], ["received", "recv", "num"],
    [(f) => percent(f.delivery_ratio), "delivery", "num"],
    [(f) => f.latency_ms?.p50, "p50 ms", "num"], [(f) => f.latency_ms?.p90, "p90 ms", "num"],
    [(f) => f.latency_ms?.p99, "p99 ms", "num"],
  ]);
  const total = snap.traffic && snap.traffic.delivery_ratio !== null && snap.traffic.delivery_ratio !== undefined
    ? el("p", { class: "muted" }, `total ${snap.traffic.received}/${snap.traffic.sent} delivered (${percent(snap.traffic.delivery_ratio)})`)
    : null;
  document.getElementById("flows").replaceChildren(t, ...(total ? [total] : []));
}

// -- the loop ---------------------------------------------------------------

function render(snap, changed) {
  drawRoad();
  drawLinks(snap);
  drawArrows(snap, changed);
  drawNodes(snap, changed);
  drawLegend(snap);
  linkPanelRefresh();
  flowsRefresh(snap);
}

function update(snap) {
  state.snap = snap;
  state.info = Object.fromEntries(snap.node_info.map((n) => [n.name, n]));
  state.nameOfMac = {};
  for (const n of snap.nodes) {
    state.nameOfMac[n.mac] = n.name;
    if (n.tap_mac) state.nameOfMac[n.tap_mac] = `${n.name} (tap)`;
  }
  let i = 0;
  state.colours = {};
  for (const n of snap.nodes) if (n.role === "rsu") state.colours[n.name] = PALETTE[i++ % PALETTE.length];
  state.points = place(snap);
  const upstreams = Object.fromEntries(snap.node_info.filter((n) => n.role === "obu")
    .map((n) => [n.name, n.upstream ? (n.upstream.node || n.upstream.mac) : null]));
  const changed = new Set();
  if (state.upstreams) {
    for (const [name, up] of Object.entries(upstreams)) if (name in state.upstreams && state.upstreams[name] !== up) changed.add(name);
  }
  state.upstreams = upstreams;
  document.getElementById("title").textContent = snap.title;
  document.title = `vanet-sim: ${snap.title}`;
  document.getElementById("clock").textContent = `t = ${fmt(snap.time_s, 1)} s`;
  const first = !state.rendered;
  state.rendered = true;
  render(snap, changed);
  if (first && location.hash) selectFromAddress();
  else nodePanelRefresh(false);
}

async function exportSvg() {
  const css = await (await fetch("ui/graph.css")).text();
  const clone = svg.cloneNode(true);
  clone.setAttribute("xmlns", SVG_NS);
  for (const node of clone.querySelectorAll(".flash")) node.classList.remove("flash");
  for (const node of clone.querySelectorAll("line.hit")) node.remove();
  const style = svgEl("style");
  style.textContent = css;
  const [, , width, height] = (svg.getAttribute("viewBox") || `0 0 ${W} 300`).split(" ");
  const background = svgEl("rect", { x: 0, y: 0, width, height, fill: "#ffffff" });
  const caption = svgEl("text", { x: W - 10, y: Number(height) - 8, "text-anchor": "end", class: "legend" });
  caption.textContent = `${state.snap?.title || "vanet"} at t = ${fmt(state.snap?.time_s, 1)} s`;
  clone.insertBefore(background, clone.firstChild);
  clone.insertBefore(style, clone.firstChild);
  clone.append(caption);
  const text = '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(clone);
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  const slug = (state.snap?.title || "vanet").replace(/.*\//, "").replace(/[^A-Za-z0-9_-]+/g, "-");
  const link = el("a", { href: url, download: `vanet-${slug}-t${Math.round(state.snap?.time_s || 0)}.svg` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

document.getElementById("export").addEventListener("click", exportSvg);
document.addEventListener("keydown", (e) => { if (e.key === "Escape") select(null); });
const source = liveStream("events", update, showConnection, 5000);
loadRoad();
