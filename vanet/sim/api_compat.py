"""The older implementation's shapes for the API's root paths.

``/api/v1/...`` answers in our shapes; the same path at the root answers in
the older implementation's, so its tools (map viewer, metrics collector)
work unchanged. Only two paths differ; ``vanet.sim.api`` routes to these
converters, which derive everything from our own answers (one definition
of each fact):

=======  =====================  ==============================================
GET      /node_info             ``{name: {node_type, mac, upstream}}``,
                                ``upstream``: ``{hops, mac, node_name,
                                rssi_dbm, latency_us}`` or ``null``
GET      /positions             ``{name: {lat, lon, speed, bearing}}``; a
                                node without lat/lon keeps ``x``, ``y`` and
                                has ``lat``, ``lon`` ``null``
=======  =====================  ==============================================

Every other root path answers as ``/api/v1/...`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any


def latency_us(rtt_ms: float | None) -> int | None:
    """Our ``rtt_ms`` (docs/protocol.md §4.7: the round trip via the
    gateway RSU) in whole microseconds; ``None`` while unknown."""
    return None if rtt_ms is None else round(rtt_ms * 1000)


def older_node_info(node_info: Iterable[Mapping[str, Any]]) -> dict[str, dict]:
    """``/node_info`` at the root from ``/api/v1/node_info``'s list: a map
    keyed by node name."""
    result: dict[str, dict] = {}
    for entry in node_info:
        upstream = entry.get("upstream")
        result[entry["name"]] = {
            "node_type": entry["role"],  # "rsu" | "obu"
            "mac": entry["mac"],
            "upstream": None
            if not upstream
            else {
                "hops": upstream.get("hops"),
                "mac": upstream.get("mac"),
                "node_name": upstream.get("node"),
                # only a radio from positions ([mobility]) knows it
                "rssi_dbm": upstream.get("rssi_dbm"),
                "latency_us": latency_us(entry.get("rtt_ms")),
            },
        }
    return result


def bearing(heading: float) -> float:
    """Our ``heading`` (compass degrees: clockwise from north, +y; 90 is
    east, +x) as the older ``bearing``, in [0, 360)."""
    return round(heading % 360.0, 1) % 360.0


def older_positions(positions: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    """``/positions`` at the root from ``/api/v1/positions``."""
    result: dict[str, dict] = {}
    for name, position in positions.items():
        older: dict[str, Any] = {
            "lat": position.get("lat"),
            "lon": position.get("lon"),
            "speed": position["speed"],
            "bearing": bearing(position["heading"]),
        }
        if older["lat"] is None or older["lon"] is None:
            older.update(lat=None, lon=None, x=position["x"], y=position["y"])
        result[name] = older
    return result


#: path segment -> converter from our answer at ``/api/v1/<segment>``
OLDER_SHAPES: dict[str, Callable[[Any], Any]] = {
    "node_info": older_node_info,
    "positions": older_positions,
}


def root_getters(
    getters: Mapping[str, Callable[[], Any]],
) -> dict[str, Callable[[], Any]]:
    """The root's GET endpoints from ``/api/v1``'s: the same, but those in
    ``OLDER_SHAPES`` converted."""
    result = dict(getters)
    for name, convert in OLDER_SHAPES.items():
        if name in getters:
            result[name] = _converted(getters[name], convert)
    return result


def _converted(
    get: Callable[[], Any], convert: Callable[[Any], Any]
) -> Callable[[], Any]:
    return lambda: convert(get())
