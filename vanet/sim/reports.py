"""Helpers an ``ISimulation`` can answer ``topology()`` and ``metrics()``
with: a NetJSON NetworkGraph and Prometheus text from plain dicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from vanet.node.metrics import MetricsWriter

#: What ``rtt_ms`` in ``/api/v1/node_info`` and RTT_MS in ``vanet-sim``'s table mean.
RTT_MEANING = (
    "round trip via the gateway RSU: from the RSU sending a heartbeat to it "
    "receiving this vehicle's reply to it, the minimum over the RSU's live "
    "history, in ms (docs/protocol.md §4)"
)


def vehicle_rtt_ms(gateway_status: Mapping[str, Any], vehicle_mac: str) -> float | None:
    """A vehicle's round-trip time as its gateway RSU measured it: the
    RSU's route to it (``status()["routes"][mac]["latency_ms"]``), or None
    while the RSU has none."""
    route = gateway_status.get("routes", {}).get(vehicle_mac)
    return None if route is None else route.get("latency_ms")


def node_info_table(
    nodes: Iterable[Mapping[str, Any]],
    statuses: Mapping[str, Mapping[str, Any]],
    node_of: Callable[[str | None], str | None],
) -> list[dict[str, Any]]:
    """``/api/v1/node_info``: one entry per node of ``nodes`` (``name``, ``role``,
    ``mac``), from each node's status as its control endpoint serves it
    (``statuses[name]``, ``{}`` if unknown); ``node_of`` names the node
    behind a MAC string. A vehicle's ``rtt_ms`` is read from its gateway's
    status (``RTT_MEANING``)."""
    return [
        _node_info_entry(node, statuses.get(node["name"], {}), statuses, node_of)
        for node in nodes
    ]


def _node_info_entry(
    node: Mapping[str, Any],
    status: Mapping[str, Any],
    statuses: Mapping[str, Mapping[str, Any]],
    node_of: Callable[[str | None], str | None],
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": node["name"],
        "role": node["role"],
        "mac": node["mac"],
    }
    if node["role"] != "obu":
        entry["routes"] = len(status.get("routes", {}))
        return entry
    gateway = status.get("gateway")
    gateway_node = node_of(gateway)
    entry["gateway"] = gateway
    entry["gateway_node"] = gateway_node
    # hand-overs: moves from one gateway RSU to another (docs/protocol.md §6)
    entry["gateway_switches"] = status.get("events", {}).get("gateway_switched", 0)
    entry["rtt_ms"] = (
        None
        if gateway_node is None
        else vehicle_rtt_ms(statuses.get(gateway_node, {}), node["mac"])
    )
    upstream = status.get("upstream")
    if not upstream:
        entry["upstream"] = None
        return entry
    best = next(
        (c for c in status.get("candidates", []) if c.get("next_hop") == upstream),
        {},
    )
    entry["upstream"] = {
        "mac": upstream,
        "node": node_of(upstream),
        "hops": best.get("hops"),
    }
    return entry


def node_stats_entry(
    status: Mapping[str, Any], channel: Mapping[str, int]
) -> dict[str, Any]:
    """One node of ``/stats`` from its ``/status`` and the channel's view."""
    counters = status.get("counters", {})
    return {
        "frames_in": counters.get("frames_in", 0),
        "bytes_in": counters.get("bytes_in", 0),
        "frames_out": counters.get("frames_out", 0),
        "bytes_out": counters.get("bytes_out", 0),
        "drops": status.get("drops", {}),
        "channel": channel,
    }


def network_graph(
    nodes: Iterable[Mapping[str, Any]],
    channels: Iterable[Mapping[str, Any]],
    router_id: str = "vanet-sim",
    label: str = "vanet simulation",
) -> dict[str, Any]:
    """A NetJSON NetworkGraph: ``nodes`` as ``nodes()`` lists them (name,
    role, mac, ...), ``channels`` as ``channels()`` does. Each directed
    channel is one link with ``cost`` = its latency in ms; channels with
    loss 1 are cut and left out."""
    graph_nodes = []
    for node in nodes:
        properties = {key: value for key, value in node.items() if key != "name"}
        graph_nodes.append(
            {"id": node["name"], "label": node["name"], "properties": properties}
        )
    links = []
    for channel in channels:
        if channel.get("loss", 0) >= 1:
            continue
        links.append(
            {
                "source": channel["from"],
                "target": channel["to"],
                "cost": channel.get("latency_ms", 0),
                "properties": {
                    "jitter_ms": channel.get("jitter_ms", 0),
                    "loss": channel.get("loss", 0),
                },
            }
        )
    return {
        "type": "NetworkGraph",
        "protocol": "vanet",
        "version": "1",
        "metric": "latency_ms",
        "router_id": router_id,
        "label": label,
        "nodes": graph_nodes,
        "links": links,
    }


_NODE_COUNTERS = {
    "frames_in": ("vanet_sim_node_frames_total", "in"),
    "frames_out": ("vanet_sim_node_frames_total", "out"),
    "bytes_in": ("vanet_sim_node_bytes_total", "in"),
    "bytes_out": ("vanet_sim_node_bytes_total", "out"),
}
_CHANNEL_COUNTERS = (
    "frames_sent",
    "frames_delivered",
    "frames_lost",
    "frames_filtered",
    "bytes_sent",
    "bytes_delivered",
)


def sim_metrics(
    stats: Mapping[str, Mapping[str, Any]],
    channels: Iterable[Mapping[str, Any]] = (),
    flows: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Prometheus text (0.0.4) from ``stats()`` (node name -> counters with
    an optional ``drops`` map), ``channels()`` and ``FlowStats.summary()``.
    Entries of ``stats`` that are not dicts of counters are skipped."""
    metrics = MetricsWriter()
    for node, counters in stats.items():
        if not isinstance(counters, Mapping):
            continue
        for key, (name, direction) in _NODE_COUNTERS.items():
            if isinstance(counters.get(key), int | float):
                metrics.add(
                    name,
                    "counter",
                    "Frames or bytes a node received (in) or sent (out)",
                    counters[key],
                    node=node,
                    direction=direction,
                )
        for reason, count in sorted((counters.get("drops") or {}).items()):
            metrics.add(
                "vanet_sim_node_drops_total",
                "counter",
                "Frames a node dropped, by reason",
                count,
                node=node,
                reason=reason,
            )
    for channel in channels:
        labels = {"source": channel["from"], "target": channel["to"]}
        for key, help_text in (
            ("latency_ms", "Configured latency of a directed channel (ms)"),
            ("jitter_ms", "Configured jitter of a directed channel (ms)"),
            ("loss", "Configured loss probability of a directed channel"),
        ):
            metrics.add(
                f"vanet_sim_channel_{key}", "gauge", help_text, channel[key], **labels
            )
        for key in _CHANNEL_COUNTERS:
            if key in channel:
                metrics.add(
                    f"vanet_sim_channel_{key}_total",
                    "counter",
                    f"Channel {key.replace('_', ' ')}",
                    channel[key],
                    **labels,
                )
    for name, flow in (flows or {}).items():
        metrics.add(
            "vanet_sim_flow_sent_total",
            "counter",
            "Test frames sent",
            flow["sent"],
            flow=name,
        )
        metrics.add(
            "vanet_sim_flow_received_total",
            "counter",
            "Test frames received (deduplicated)",
            flow["received"],
            flow=name,
        )
        if flow.get("delivery_ratio") is not None:
            metrics.add(
                "vanet_sim_flow_delivery_ratio",
                "gauge",
                "Received over sent",
                flow["delivery_ratio"],
                flow=name,
            )
        for quantile, value in (flow.get("latency_ms") or {}).items():
            if value is not None:
                metrics.add(
                    "vanet_sim_flow_latency_ms",
                    "gauge",
                    "One-way latency of test frames (ms), by percentile",
                    value,
                    flow=name,
                    quantile=quantile,
                )
    return metrics.render()
