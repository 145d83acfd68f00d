"""The road a mobility model knows: polylines in metres on the simulation's
plane (the same plane as the nodes' positions), for drawing under them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

#: at most this many points in all; a larger network is cut short (and says so)
MAX_POINTS = 5000

Point = tuple[float, float]


@attrs.frozen(kw_only=True)
class Road:
    """``polylines``: each a list of ``(x, y)`` metres (a lane's centre
    line); ``lanes`` and ``lane_width_m`` where the road has one count and
    width (the built-in highway); ``truncated``: lanes were left out to stay
    within ``MAX_POINTS`` (``total_lanes`` says how many there are)."""

    polylines: tuple[tuple[Point, ...], ...] = ()
    lanes: int | None = None
    lane_width_m: float | None = None
    truncated: bool = False
    total_lanes: int | None = None

    def as_dict(self) -> dict[str, object]:
        result: dict[str, object] = {
            "polylines": [
                [[round(x, 2), round(y, 2)] for x, y in line] for line in self.polylines
            ]
        }
        if self.lanes is not None:
            result["lanes"] = self.lanes
        if self.lane_width_m is not None:
            result["lane_width_m"] = self.lane_width_m
        if self.truncated:
            result["truncated"] = True
            result["total_lanes"] = self.total_lanes
        return result


NO_ROAD = Road()


def bounded(shapes: Iterable[Sequence[Point]], limit: int = MAX_POINTS) -> Road:
    """A road of ``shapes`` (lanes, in the order to keep them), up to
    ``limit`` points in all: lanes that do not fit are left out and the
    road says it was truncated. A shape of fewer than two points is no line
    and is skipped."""
    kept: list[tuple[Point, ...]] = []
    points = 0
    total = 0
    dropped = 0
    for shape in shapes:
        line = tuple((float(x), float(y)) for x, y in shape)
        if len(line) < 2:
            continue
        total += 1
        if points + len(line) > limit:
            dropped += 1
            continue
        kept.append(line)
        points += len(line)
    return Road(
        polylines=tuple(kept),
        truncated=dropped > 0,
        total_lanes=total if dropped else None,
    )
