"""Pure graph questions a simulation study asks: cycles in the upstream
graph and the most reliable path between two nodes.

Nothing here knows about nodes, clocks or the reactor: a node is any
hashable, orderable value (the simulator uses node names), so a property
test can feed these functions whatever graphs it draws.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Mapping
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


def upstream_cycles(upstream: Mapping[N, N | None]) -> list[tuple[N, ...]]:
    """Every cycle of an upstream graph, each once.

    ``upstream[node]`` is the node's next hop (``None``: none). Each node
    has at most one next hop, so every cycle is found by walking from each
    node until the walk meets a node already finished, leaves the mapping
    (an RSU, which has no entry or ``None``), or comes back onto itself.
    A cycle is given starting at its smallest node, in upstream order
    (``("b", "c", "a")`` is written ``("a", "b", "c")`` if a → b → c → a);
    the list is sorted. A node that is its own upstream is a cycle of one.
    """
    finished: set[N] = set()
    cycles: list[tuple[N, ...]] = []
    for start in upstream:
        walk: dict[N, int] = {}  # node -> position on this walk
        node: N | None = start
        while node is not None and node in upstream and node not in finished:
            if node in walk:
                loop = list(walk)[walk[node] :]
                first = loop.index(min(loop))  # type: ignore[type-var]
                cycles.append(tuple(loop[first:] + loop[:first]))
                break
            walk[node] = len(walk)
            node = upstream[node]
        finished.update(walk)
    return sorted(cycles)  # type: ignore[type-var]


def best_path(
    success: Mapping[tuple[N, N], float],
    src: N,
    dst: N,
    relays: Callable[[N], bool] = lambda node: True,
) -> tuple[float, tuple[N, ...]] | None:
    """The path from ``src`` to ``dst`` most likely to carry a frame, and
    that likelihood: ``(product of success rates, (src, ..., dst))``, or
    ``None`` if ``dst`` cannot be reached.

    ``success[(a, b)]`` is the probability that a frame ``a`` sends reaches
    ``b`` (``1 - loss`` of the directed link); a pair without an entry, or
    with 0, is no link. Only nodes for which ``relays(node)`` is true may
    be in the middle of the path (an RSU relays nothing). Among equally
    likely paths the one with fewest hops wins, then the smallest sequence
    of nodes, so the answer does not depend on the mapping's order.
    """
    if src == dst:
        return 1.0, (src,)
    out: dict[N, list[tuple[N, float]]] = {}
    for (a, b), rate in success.items():
        if rate > 0 and a != b:
            out.setdefault(a, []).append((b, rate))
    # Dijkstra on (-likelihood, hops, path): multiplying by a rate <= 1 never
    # makes a path more likely, as adding a length >= 0 never makes one
    # shorter. Likelihoods are rounded so that float noise from multiplying
    # in another order cannot break a tie the hop count should break.
    heap: list[tuple[float, int, tuple[N, ...], float]] = [(-1.0, 0, (src,), 1.0)]
    settled: set[N] = set()
    while heap:
        _, hops, path, likelihood = heapq.heappop(heap)
        node = path[-1]
        if node in settled:
            continue
        settled.add(node)
        if node == dst:
            return likelihood, path
        if node != src and not relays(node):
            continue
        for nxt, rate in out.get(node, ()):
            if nxt not in settled:
                value = likelihood * rate
                heapq.heappush(
                    heap, (-round(value, 12), hops + 1, path + (nxt,), value)
                )
    return None
