"""Plane geometry the road tests check drawings and positions with."""

from __future__ import annotations

import math


def distance_to_line(point, line) -> float:
    """Metres (or pixels) from ``point`` to the polyline ``line``."""
    px, py = point
    best = math.inf
    for (ax, ay), (bx, by) in zip(line, line[1:]):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if not length2 else ((px - ax) * dx + (py - ay) * dy) / length2
        t = min(1.0, max(0.0, t))
        best = min(best, math.hypot(px - ax - t * dx, py - ay - t * dy))
    return best
