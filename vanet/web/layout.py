"""A stable picture of a graph: the same nodes and links give the same
coordinates every time, with no randomness and no clock.

Nodes are placed by stress majorization over hop distances (Gansner, Koren
and North, 2004): two nodes k hops apart are drawn about k units apart, so
a highway comes out as a line and a grid as a grid. The start is classical
scaling (the two main axes of the distance matrix, by power iteration from
fixed vectors), which also turns the picture so that its long side is
horizontal. Pure Python: a simulation's few hundred nodes take well under a
second, and the work is bounded for larger ones.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence

#: the O(n^2) sweeps are bounded by this many node pairs visited in all
WORK_BUDGET = 4_000_000
MAX_SWEEPS = 200


def hop_distances(
    names: Sequence[str], edges: Iterable[tuple[str, str]]
) -> list[list[float]]:
    """All pairs' hop counts (links taken both ways); nodes not connected
    are one hop farther apart than the farthest connected pair."""
    index = {name: i for i, name in enumerate(names)}
    adjacent: list[set[int]] = [set() for _ in names]
    for a, b in edges:
        if a in index and b in index and a != b:
            adjacent[index[a]].add(index[b])
            adjacent[index[b]].add(index[a])
    n = len(names)
    dist = [[math.inf] * n for _ in range(n)]
    for start in range(n):
        row = dist[start]
        row[start] = 0.0
        queue = deque([start])
        while queue:
            here = queue.popleft()
            for there in sorted(adjacent[here]):
                if row[there] == math.inf:
                    row[there] = row[here] + 1
                    queue.append(there)
    finite = [d for row in dist for d in row if d != math.inf]
    far = max(finite, default=0.0) + 1
    return [[far if d == math.inf else d for d in row] for row in dist]


def _classical_scaling(dist: list[list[float]]) -> list[list[float]]:
    """Two coordinates per node from the distance matrix's two main axes."""
    n = len(dist)
    sq = [[d * d for d in row] for row in dist]
    row_mean = [sum(row) / n for row in sq]
    total_mean = sum(row_mean) / n
    b = [
        [-0.5 * (sq[i][j] - row_mean[i] - row_mean[j] + total_mean) for j in range(n)]
        for i in range(n)
    ]
    axes: list[list[float]] = []
    iterations = max(5, min(50, WORK_BUDGET // (4 * n * n)))
    for axis in range(2):
        # A fixed, uneven start vector: the same input, the same result.
        v = [1.0 + ((i * 7 + axis * 3) % 11) / 10 for i in range(n)]
        value = 0.0
        for _ in range(iterations):
            w = [sum(bi[j] * v[j] for j in range(n)) for bi in b]
            for u, scale in axes:  # deflate the axes found already
                dot = sum(ui * vi for ui, vi in zip(u, v))
                w = [wi - scale * dot * ui for wi, ui in zip(w, u)]
            norm = math.sqrt(sum(x * x for x in w))
            if norm == 0:
                break
            value = norm
            v = [x / norm for x in w]
        axes.append((v, value))
    return [
        [axes[0][0][i] * math.sqrt(axes[0][1]), axes[1][0][i] * math.sqrt(axes[1][1])]
        for i in range(n)
    ]


def _majorize(points: list[list[float]], dist: list[list[float]]) -> None:
    """Move each node toward where its distances say it should be."""
    n = len(points)
    sweeps = max(1, min(MAX_SWEEPS, WORK_BUDGET // max(1, n * n)))
    weight = [[0.0 if d == 0 else 1.0 / (d * d) for d in row] for row in dist]
    for _ in range(sweeps):
        for i in range(n):
            xi, yi = points[i]
            sx = sy = total = 0.0
            for j in range(n):
                if j == i:
                    continue
                w = weight[i][j]
                xj, yj = points[j]
                dx, dy = xi - xj, yi - yj
                length = math.hypot(dx, dy)
                if length < 1e-9:
                    # Two nodes on one spot: part them along a fixed slant.
                    dx, dy, length = 1e-3 * (1 + i - j), 1e-3, 1.0
                pull = dist[i][j] / length
                sx += w * (xj + pull * dx)
                sy += w * (yj + pull * dy)
                total += w
            if total:
                points[i] = [sx / total, sy / total]


def graph_layout(
    names: Sequence[str], edges: Iterable[tuple[str, str]]
) -> dict[str, tuple[float, float]]:
    """Coordinates for ``names`` (in that order) with the given links,
    scaled so that the longer side spans 0 to 1 and the shorter starts at 0;
    the first node is on the left (and upper) half, so the picture keeps
    its orientation."""
    names = list(names)
    n = len(names)
    if n == 0:
        return {}
    if n == 1:
        return {names[0]: (0.5, 0.0)}
    dist = hop_distances(names, edges)
    points = _classical_scaling(dist)
    _majorize(points, dist)
    for axis in (0, 1):
        mean = sum(p[axis] for p in points) / n
        if points[0][axis] > mean + 1e-9:
            for p in points:
                p[axis] = -p[axis]
    min_x = min(p[0] for p in points)
    min_y = min(p[1] for p in points)
    span = max(
        max(p[0] for p in points) - min_x, max(p[1] for p in points) - min_y, 1e-9
    )
    return {
        name: (round((p[0] - min_x) / span, 4), round((p[1] - min_y) / span, 4))
        for name, p in zip(names, points)
    }
