"""Prometheus text exposition of a node's status (format version 0.0.4)."""

from __future__ import annotations

from collections.abc import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _metric_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in text).lower()


class MetricsWriter:
    """Collects samples and renders them with one HELP/TYPE header each."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def add(self, name: str, kind: str, help_text: str, value: float, **labels) -> None:
        family = self._families.setdefault(name, (kind, help_text, []))
        family[2].append(f"{name}{_labels(labels)} {value}")

    def render(self) -> str:
        lines: list[str] = []
        for name, (kind, help_text, samples) in self._families.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(samples)
        return "\n".join(lines) + "\n"


def add_node_status(metrics: MetricsWriter, status: dict) -> None:
    """Add one node's status (``NodeEngine.status()``) to ``metrics``."""
    node = status.get("name", "")
    for counter, value in sorted(status.get("counters", {}).items()):
        metrics.add(
            f"vanet_{_metric_name(counter)}_total",
            "counter",
            f"{counter.replace('_', ' ')} (count)",
            value,
            node=node,
        )
    for reason, value in sorted(status.get("drops", {}).items()):
        metrics.add(
            "vanet_drops_total",
            "counter",
            "Frames dropped, by reason",
            value,
            node=node,
            reason=reason,
        )
    for event, value in sorted(status.get("events", {}).items()):
        metrics.add(
            "vanet_route_events_total",
            "counter",
            "Route decisions, by event",
            value,
            node=node,
            event=event,
        )
    for route in _routes(status.get("routes", [])):
        target = route.get("target") or route.get("destination") or ""
        if route.get("hops") is not None:
            metrics.add(
                "vanet_route_hops",
                "gauge",
                "Hops to a target",
                route["hops"],
                node=node,
                target=target,
            )
        if route.get("latency_ms") is not None:
            metrics.add(
                "vanet_route_latency_ms",
                "gauge",
                "Measured latency to a target in ms",
                route["latency_ms"],
                node=node,
                target=target,
            )
    metrics.add(
        "vanet_has_upstream",
        "gauge",
        "1 if the node has an upstream next hop (OBU) or is an RSU",
        1 if status.get("role") == "rsu" or status.get("upstream") else 0,
        node=node,
    )


def _routes(routes) -> Iterable[dict]:
    if isinstance(routes, dict):
        for target, route in routes.items():
            yield (
                {"target": target, **route}
                if isinstance(route, dict)
                else {"target": target}
            )
    else:
        yield from (route for route in routes if isinstance(route, dict))


def render_node(status: dict) -> str:
    metrics = MetricsWriter()
    add_node_status(metrics, status)
    return metrics.render()
