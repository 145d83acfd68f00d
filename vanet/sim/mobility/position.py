"""Where a node is: metres on the simulation's plane, speed and heading."""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def pairs_within(
    placed: Sequence[tuple[str, Position]], reach: float
) -> list[tuple[str, str, float]]:
    """Every pair ``(a, b, distance)`` of ``placed`` at most ``reach``
    metres apart, ``a`` before ``b`` in ``placed``, in the order two nested
    loops over ``placed`` would give. Nodes are bucketed in squares of side
    ``reach``, so only neighbouring squares are compared: the cost follows
    the pairs in reach, not the square of the nodes."""
    # a hair wider than reach, so that rounding in the division never puts
    # two nodes exactly reach apart two squares apart
    side = reach * (1 + 1e-9)
    cells: dict[tuple[int, int], list[int]] = {}
    for index, (_, position) in enumerate(placed):
        key = (math.floor(position.x / side), math.floor(position.y / side))
        cells.setdefault(key, []).append(index)
    found: list[tuple[int, int, float]] = []
    for (cx, cy), members in cells.items():
        near = [
            j
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
            for j in cells.get((cx + dx, cy + dy), ())
        ]
        for i in members:
            a = placed[i][1]
            for j in near:
                if j <= i:
                    continue
                d = distance(a, placed[j][1])
                if d <= reach:
                    found.append((i, j, d))
    found.sort()
    return [(placed[i][0], placed[j][0], d) for i, j, d in found]
