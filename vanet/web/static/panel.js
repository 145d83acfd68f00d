// A node's status (its control endpoint's /status) as a panel: the node
// panel of the simulator's page and the whole of a node's own page.
"use strict";

// Fields of a route event shown after its name, in this order first.
const EVENT_FIELD_ORDER = ["target", "gateway", "next_hop", "previous", "hops", "latency_ms", "reason"];

function eventText(event, nameOf) {
  const keys = Object.keys(event).filter((k) => k !== "event" && k !== "s_ago");
  keys.sort((a, b) => {
    const ia = EVENT_FIELD_ORDER.indexOf(a), ib = EVENT_FIELD_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  const parts = keys.map((k) => {
    const v = event[k];
    const shown = typeof v === "string" && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(v) ? nameOf(v) : fmt(v);
    return `${k}=${shown}`;
  });
  return `${event.event} ${parts.join(" ")}`;
}

function section(key, heading, ...content) {
  return el("section", { "data-section": key }, el("h3", {}, heading), ...content);
}

// status: a node's /status; opts: {nameOf(mac), info (an /api/v1/node_info entry),
// onClose()}. Returns the panel's new children (the caller places them).
function nodePanel(status, opts) {
  const nameOf = opts.nameOf || ((mac) => mac);
  const info = opts.info || {};
  const name = status.name || info.name || "node";
  const role = status.role || info.role || "";
  const parts = [];
  const heading = el("h2", {}, `${name}`, el("span", { class: "muted" }, role.toUpperCase()));
  if (opts.onClose) {
    const close = el("button", { class: "close", type: "button", title: "Close" }, "×");
    close.addEventListener("click", opts.onClose);
    heading.append(close);
  }
  parts.push(heading);
  if (!status.role) {
    parts.push(el("p", { class: "bad" }, "No status: the node is not up."));
    return parts;
  }

  const summary = [["MAC", status.mac], ["strategy", status.strategy]];
  if (role === "obu") {
    const upstream = info.upstream;
    summary.push(["gateway", status.gateway ? nameOf(status.gateway) : null]);
    summary.push(["upstream", status.upstream ? nameOf(status.upstream) : null]);
    if (upstream) summary.push(["hops", upstream.hops]);
    if ("rtt_ms" in info) summary.push(["RTT via gateway", info.rtt_ms === null ? null : `${fmt(info.rtt_ms)} ms`]);
  } else if (role === "rsu") {
    summary.push(["uptime", status.uptime_s === undefined ? null : `${fmt(status.uptime_s, 0)} s`]);
    summary.push(["next heartbeat seq", status.next_seq]);
    summary.push(["vehicles", (status.vehicles || []).length]);
  }
  const dl = el("dl", { class: "summary" });
  for (const [key, value] of summary) {
    const lost = role === "obu" && (key === "upstream" || key === "gateway") && !value;
    dl.append(el("dt", {}, key), el("dd", { class: lost ? "bad" : null }, lost ? "none (no route)" : fmt(value)));
  }
  parts.push(dl);

  let candidates = status.candidates || [];
  if (!Array.isArray(candidates)) candidates = Object.values(candidates).flat();
  const lag = role === "obu";
  parts.push(section("candidates", role === "obu" ? "Upstream candidates" : "Route candidates",
    table(candidates, [
      [(c) => nameOf(c.target), role === "obu" ? "gateway" : "target"],
      [(c) => nameOf(c.next_hop), "next hop"],
      ["hops", "hops", "num"],
      ["min_ms", lag ? "lag ms" : "rtt ms", "num"],
      ["avg_ms", "avg ms", "num"],
      ["score", "score", "num"],
      ["samples", "samples", "num"],
    ])));

  const routes = Object.entries(status.routes || {}).map(([target, r]) => ({ target, ...r }));
  parts.push(section("routes", "Routes", table(routes, [
    [(r) => nameOf(r.target), "target"],
    [(r) => nameOf(r.next_hop), "next hop"],
    ["hops", "hops", "num"],
    ["latency_ms", "rtt ms", "num"],
    ["avg_ms", "avg ms", "num"],
  ])));

  if (status.neighbours) {
    const rows = Object.entries(status.neighbours).map(([mac, ago]) => ({ mac, ago }));
    parts.push(section("neighbours", "Neighbours", table(rows, [
      [(r) => nameOf(r.mac), "neighbour"], ["ago", "last heard s ago", "num"],
    ])));
  }
  if (status.sources) {
    const rows = Object.entries(status.sources).map(([mac, s]) => ({ mac, ...s }));
    parts.push(section("sources", "RSUs heard", table(rows, [
      [(r) => nameOf(r.mac), "RSU"], ["newest_seq", "seq", "num"], ["period_s", "period s", "num"],
      [(r) => (r.live_neighbours || []).map(nameOf), "via"], ["last_heard_s_ago", "s ago", "num"],
    ])));
  }
  const clients = Object.entries(status.clients || {}).map(([mac, c]) =>
    ({ mac, ...(c && typeof c === "object" ? c : { value: c }) }));
  parts.push(section("clients", "Clients", table(clients, [
    [(r) => nameOf(r.mac), "client"], [(r) => r.behind ? nameOf(r.behind) : r.value, "behind"], ["age_s", "age s", "num"],
  ])));

  const drops = Object.entries(status.drops || {}).filter(([, n]) => n).map(([reason, n]) => ({ reason, n }));
  const dropTable = table(drops, [["reason", "drop reason"], ["n", "frames", "num"]]);
  if (drops.length) dropTable.classList.add("bad");
  parts.push(section("drops", "Drops", dropTable));

  const counters = Object.entries(status.counters || {}).filter(([, n]) => n).map(([key, n]) => ({ key, n }));
  parts.push(section("counters", "Counters", table(counters, [["key", "counter"], ["n", "count", "num"]])));

  const events = Object.entries(status.events || {}).map(([event, n]) => ({ event, n }));
  parts.push(section("events", "Route events", table(events, [["event", "event"], ["n", "count", "num"]])));
  const recent = status.recent_events || [];
  const list = el("ul", { class: "events" }, ...recent.map((event) =>
    el("li", { "data-event": event.event }, el("span", { class: "age" }, `${fmt(event.s_ago, 1)} s ago`), eventText(event, nameOf))));
  parts.push(section("recent_events", "Latest route events", recent.length ? list : el("p", { class: "muted" }, "(none)")));
  return parts;
}
