"""Where a node is: metres on the simulation's plane, speed and heading."""

from __future__ import annotations

import math

import attrs


@attrs.frozen
class Position:
    """``x``, ``y`` in metres; ``speed`` in m/s; ``heading`` in compass
    degrees (0 = +y "north", 90 = +x "east"), as the older simulator's
    ``bearing``; ``lat``, ``lon`` (degrees) where the model knows them (a
    SUMO network made from OpenStreetMap)."""

    x: float
    y: float
    speed: float = 0.0
    heading: float = 0.0
    lat: float | None = None
    lon: float | None = None

    def as_dict(self) -> dict[str, float]:
        result = {
            "x": round(self.x, 3),
            "y": round(self.y, 3),
            "speed": round(self.speed, 3),
            "heading": round(self.heading, 1),
        }
        if self.lat is not None and self.lon is not None:
            result["lat"] = round(self.lat, 7)
            result["lon"] = round(self.lon, 7)
        return result


def distance(a: Position, b: Position) -> float:
    """Straight-line distance in metres."""
    return math.hypot(a.x - b.x, a.y - b.y)
