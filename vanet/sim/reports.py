"""Helpers an ``ISimulation`` can answer ``topology()`` and ``metrics()``
with: a NetJSON NetworkGraph and Prometheus text from plain dicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vanet.node.metrics import MetricsWriter


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
