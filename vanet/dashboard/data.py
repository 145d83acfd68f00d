"""What the terminal dashboard shows, read from a simulation's HTTP API or a
node's control endpoint and turned into plain tables, an event log and a
tree. No Twisted and no Textual here: ``vanetctl`` stays quick to start and
this part is tested on its own.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

#: the most bytes one answer may have (a big simulation's /channels is a few MB)
MAX_ANSWER = 32 * 1024 * 1024
#: the most nodes whose route events a refresh reads (one request each)
MAX_EVENT_NODES = 64


def fetch_json(url: str, timeout: float = 5.0) -> Any:
    """GET ``url`` as JSON; ``OSError``/``ValueError`` on any failure."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        raw = response.read(MAX_ANSWER + 1)
    if len(raw) > MAX_ANSWER:
        raise ValueError(f"{url}: answer larger than {MAX_ANSWER} bytes")
    return json.loads(raw)


@attrs.frozen
class Table:
    columns: tuple[str, ...]
    rows: list[tuple] = attrs.field(factory=list)


@attrs.frozen
class Event:
    s_ago: float
    node: str
    event: str
    details: str

    def text(self) -> str:
        return f"{self.node} {self.event} {self.details}"


@attrs.frozen
class Branch:
    label: str
    children: list[Branch] = attrs.field(factory=list)


@attrs.frozen
class Views:
    """Everything one refresh shows, by view."""

    title: str
    metrics: Table
    flows: Table
    channels: Table
    upstreams: Table
    events: list[Event]
    nodes: Table
    tree: list[Branch]


def _ms(value: Any) -> float | None:
    return round(value, 2) if isinstance(value, int | float) else None


def _drops(drops: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(drops.items()) if v) or "-"


def _detail(value: Any, name_of) -> str:
    if isinstance(value, str):
        return name_of(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _hops(name: str, hops: Mapping[str, int]) -> str:
    if name not in hops:
        return name
    return f"{name} ({hops[name]} hop{'' if hops[name] == 1 else 's'})"


def _event(node: str, entry: Mapping[str, Any], name_of) -> Event:
    details = " ".join(
        f"{key}={_detail(value, name_of)}"
        for key, value in entry.items()
        if key not in ("event", "s_ago")
    )
    return Event(
        float(entry.get("s_ago", 0.0)), node, str(entry.get("event", "?")), details
    )


def events_of(statuses: Mapping[str, Mapping[str, Any]], name_of) -> list[Event]:
    """Every node's ``recent_events``, newest first."""
    events = [
        _event(node, entry, name_of)
        for node, status in statuses.items()
        for entry in status.get("recent_events", [])
        if isinstance(entry, Mapping)
    ]
    return sorted(events, key=lambda e: (e.s_ago, e.node))


def upstream_tree(
    parents: Mapping[str, str | None], roots: Iterable[str], label
) -> list[Branch]:
    """Each root (gateway) with the vehicles whose upstream it is, and theirs
    below them; vehicles without an upstream (or in a loop) under
    ``(no route)``."""
    children: dict[str, list[str]] = {}
    for child, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    placed: set[str] = set()

    def grow(name: str) -> Branch:
        placed.add(name)
        kids = [
            grow(kid) for kid in sorted(children.get(name, [])) if kid not in placed
        ]
        return Branch(label(name), kids)

    tree = [grow(root) for root in roots]
    lost = sorted(name for name in parents if name not in placed)
    if lost:
        tree.append(Branch("(no route)", [Branch(label(name)) for name in lost]))
    return tree


class _Source:
    """Where the views are read from: ``read()`` answers them, ``LABELS``
    names each view's tab."""

    LABELS: dict[str, str]

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def read(self) -> Views:
        raise NotImplementedError


class SimSource(_Source):
    """A running ``vanet-sim``'s HTTP API (``http://127.0.0.1:3030``)."""

    #: each view's tab label
    LABELS = {
        "metrics": "Metrics",
        "channels": "Channels",
        "upstreams": "Upstreams",
        "events": "Route events",
        "nodes": "Nodes",
        "topology": "Topology",
    }

    def _get(self, path: str) -> Any:
        return fetch_json(f"{self.url}/api/v1/{path}", self.timeout)

    def read(self) -> Views:
        nodes = self._get("nodes")
        info = self._get("node_info")
        channels = self._get("channels")
        stats = self._get("stats")
        names = {n["mac"]: n["name"] for n in nodes}
        names.update(
            {n["tap_mac"]: f"{n['name']}(tap)" for n in nodes if "tap_mac" in n}
        )

        def name_of(text: str) -> str:
            return names.get(text, text)

        statuses = {
            n["name"]: self._get(f"node/{urllib.parse.quote(n['name'], safe='')}")
            for n in nodes[:MAX_EVENT_NODES]
        }
        metrics = Table(
            (
                "node",
                "role",
                "frames_in",
                "frames_out",
                "bytes_in",
                "bytes_out",
                "drops",
            ),
            [
                (
                    n["name"],
                    n["role"],
                    stats.get(n["name"], {}).get("frames_in"),
                    stats.get(n["name"], {}).get("frames_out"),
                    stats.get(n["name"], {}).get("bytes_in"),
                    stats.get(n["name"], {}).get("bytes_out"),
                    _drops(stats.get(n["name"], {}).get("drops", {})),
                )
                for n in nodes
            ],
        )
        flows = Table(
            ("flow", "sent", "received", "delivery", "p50_ms", "p90_ms", "p99_ms"),
            [
                (
                    name,
                    f["sent"],
                    f["received"],
                    None
                    if f.get("delivery_ratio") is None
                    else f"{100 * f['delivery_ratio']:.1f}%",
                    _ms(f["latency_ms"].get("p50")),
                    _ms(f["latency_ms"].get("p90")),
                    _ms(f["latency_ms"].get("p99")),
                )
                for name, f in stats.get("flows", {}).items()
            ],
        )
        channel_table = Table(
            (
                "from",
                "to",
                "latency_ms",
                "jitter_ms",
                "loss",
                "sent",
                "delivered",
                "lost",
            ),
            [
                (
                    c["from"],
                    c["to"],
                    c["latency_ms"],
                    c["jitter_ms"],
                    c["loss"],
                    c.get("frames_sent"),
                    c.get("frames_delivered"),
                    c.get("frames_lost"),
                )
                for c in channels
            ],
        )
        vehicles = [n for n in info if n["role"] == "obu"]
        upstreams = Table(
            ("vehicle", "gateway", "next_hop", "hops", "rtt_ms"),
            [
                (
                    n["name"],
                    n.get("gateway_node") or n.get("gateway"),
                    (n["upstream"]["node"] or n["upstream"]["mac"])
                    if n.get("upstream")
                    else None,
                    n["upstream"]["hops"] if n.get("upstream") else None,
                    _ms(n.get("rtt_ms")),
                )
                for n in vehicles
            ],
        )
        node_table = Table(
            ("name", "role", "mac", "strategy", "tap_address"),
            [
                (
                    n["name"],
                    n["role"],
                    n["mac"],
                    n.get("strategy"),
                    n.get("tap_address"),
                )
                for n in nodes
            ],
        )
        hops = {n["name"]: n["upstream"]["hops"] for n in vehicles if n.get("upstream")}
        parents = {
            n["name"]: (n["upstream"]["node"] if n.get("upstream") else None)
            for n in vehicles
        }
        rsus = [n["name"] for n in nodes if n["role"] == "rsu"]
        tree = upstream_tree(parents, rsus, lambda name: _hops(name, hops))
        return Views(
            title=f"vanet-sim {self.url}",
            metrics=metrics,
            flows=flows,
            channels=channel_table,
            upstreams=upstreams,
            events=events_of(statuses, name_of),
            nodes=node_table,
            tree=tree,
        )


class NodeSource(_Source):
    """A node's control endpoint (``http://127.0.0.1:7070``)."""

    #: a node has no channels and knows no other nodes' upstreams: its
    #: routes, candidates and neighbours fill those views
    LABELS = {
        "metrics": "Metrics",
        "channels": "Routes",
        "upstreams": "Candidates",
        "events": "Route events",
        "nodes": "Neighbours",
        "topology": "Routes tree",
    }

    def read(self) -> Views:
        status = fetch_json(f"{self.url}/status", self.timeout)
        name = status.get("name") or status.get("mac") or "node"
        counters = status.get("counters", {})
        metrics = Table(
            ("counter", "value"),
            [(k, v) for k, v in sorted(counters.items())]
            + [(f"drop:{k}", v) for k, v in sorted(status.get("drops", {}).items())],
        )
        candidates = status.get("candidates") or []
        if isinstance(candidates, dict):
            candidates = [c for cands in candidates.values() for c in cands]
        upstreams = Table(
            ("target", "next_hop", "hops", "min_ms", "avg_ms", "score", "samples"),
            [
                (
                    c.get("target"),
                    c.get("next_hop"),
                    c.get("hops"),
                    c.get("min_ms"),
                    c.get("avg_ms"),
                    c.get("score"),
                    c.get("samples"),
                )
                for c in candidates
                if isinstance(c, dict)
            ],
        )
        routes = status.get("routes", {})
        channels = Table(
            ("target", "next_hop", "hops", "rtt_ms", "avg_ms"),
            [
                (
                    t,
                    r.get("next_hop"),
                    r.get("hops"),
                    r.get("latency_ms"),
                    r.get("avg_ms"),
                )
                for t, r in routes.items()
            ],
        )
        neighbours = Table(
            ("neighbour", "last_heard_s_ago"),
            [(mac, ago) for mac, ago in sorted(status.get("neighbours", {}).items())],
        )
        # A node's tree: itself, its routes grouped under their next hops.
        by_hop: dict[str, list[str]] = {}
        for target, route in routes.items():
            by_hop.setdefault(route.get("next_hop", "?"), []).append(
                f"{target} ({route.get('hops')} hops)"
            )
        tree = [
            Branch(
                f"{name} ({status.get('role', '?')})",
                [
                    Branch(f"via {hop}", [Branch(t) for t in sorted(targets)])
                    for hop, targets in sorted(by_hop.items())
                ],
            )
        ]
        return Views(
            title=f"{name} {self.url}",
            metrics=metrics,
            flows=Table(("flow",)),
            channels=channels,
            upstreams=upstreams,
            events=events_of({name: status}, lambda text: text),
            nodes=neighbours,
            tree=tree,
        )
