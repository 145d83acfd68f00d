"""The strategies shipped with vanet (registered by vanet/plugins/*.py).

- ``latency`` (the default): docs/protocol.md §4.
- ``hops``: fewest hops, then lowest MAC.

A note on the OBU's upstream latencies: a heartbeat carries the RSU's
``duration`` (ms since it started), not a time on the OBU's clock, so a
one-way delay can only be measured up to a per-RSU constant. The cores
report it as the excess over the fastest arrival of that RSU's heartbeats
in the remembered history; orders between next hops toward one RSU are
exact, but latencies toward different RSUs are not comparable, which is why
both strategies choose among gateway RSUs by hops.
"""

from __future__ import annotations

from twisted.plugin import IPlugin
from zope.interface import implementer

from vanet.interfaces import IRoutingStrategy
from vanet.routing.candidates import Candidate

_INF = float("inf")


class BaseStrategy:
    """Convenient defaults for a strategy: subclass it, set ``name`` and
    implement ``rank_upstream``; the rest follows that order with no
    hysteresis. Declare ``@implementer(IPlugin, IRoutingStrategy)`` on the
    subclass."""

    name: str = ""
    description: str = ""

    def rank_upstream(self, candidates: list[Candidate]) -> list[Candidate]:
        raise NotImplementedError(f"{type(self).__name__} must rank candidates")

    def upstream_switch_reason(self, current: Candidate, best: Candidate) -> str | None:
        return "better" if best.next_hop != current.next_hop else None

    def rank_gateways(self, candidates: list[Candidate]) -> list[Candidate]:
        return self.rank_upstream(candidates)

    def gateway_switch_reason(
        self, current: Candidate, best: Candidate, threshold: float
    ) -> str | None:
        return "better" if best.target != current.target else None

    def rank_routes(self, candidates: list[Candidate]) -> list[Candidate]:
        return self.rank_upstream(candidates)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _gateway_key(c: Candidate):
    # (hops, score or worst, target, next hop), read without the properties
    low = c.min_ms
    return (c.hops, _INF if low is None else low + c.avg_ms, c.target, c.next_hop)


def _late_switch_by_hops(
    current: Candidate, best: Candidate, threshold: float
) -> str | None:
    """Gateway late switch, for both shipped strategies: another RSU must be
    at least ``threshold`` closer in hops (latencies toward different RSUs
    are not comparable: see docs/plugins.md)."""
    if best.target == current.target:
        return None
    if best.hops < current.hops and best.hops <= current.hops * (1 - threshold):
        return "fewer_hops"
    return None


@implementer(IPlugin, IRoutingStrategy)
class LatencyStrategy(BaseStrategy):
    """Lowest ``min + avg`` latency, then fewest hops, then lowest MAC.

    ``hysteresis`` is the relative score gain that makes the upstream move
    (section 4: 10%). ``min_gain_ms`` also requires an absolute gain, so
    sub-millisecond jitter between near-equal paths does not flap the
    upstream (our addition; 0 gives the bare section 4 rule).
    """

    name = "latency"
    description = "lowest min+avg latency, then fewest hops, then lowest MAC (default)"

    def __init__(self, hysteresis: float = 0.1, min_gain_ms: float = 1.0) -> None:
        self.hysteresis = hysteresis
        self.min_gain_ms = min_gain_ms

    @staticmethod
    def _key(c: Candidate):
        # Measured before unmeasured; unmeasured among themselves by hops.
        # (``min_ms + avg_ms`` is ``score``, without the property calls.)
        low = c.min_ms
        if low is not None:
            return (0, low + c.avg_ms, c.hops, c.next_hop, c.target)
        return (1, 0.0, c.hops, c.next_hop, c.target)

    def rank_upstream(self, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=self._key)

    def upstream_switch_reason(self, current: Candidate, best: Candidate) -> str | None:
        if best.next_hop == current.next_hop:
            return None
        if best.hops < current.hops:
            return "fewer_hops"
        if best.measured and not current.measured:
            return "measured"
        if best.measured and current.measured:
            gain = current.score - best.score
            if gain > 0 and gain >= max(
                self.hysteresis * current.score, self.min_gain_ms
            ):
                return "lower_latency"
        return None

    def rank_gateways(self, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=_gateway_key)

    gateway_switch_reason = staticmethod(_late_switch_by_hops)

    def rank_routes(self, candidates: list[Candidate]) -> list[Candidate]:
        # Section 4: the route to a vehicle prefers the fewest hops.
        return sorted(
            candidates,
            key=lambda c: (c.hops, c.score if c.measured else _INF, c.next_hop),
        )


@implementer(IPlugin, IRoutingStrategy)
class HopsStrategy(BaseStrategy):
    """Fewest hops, then lowest MAC; latency is ignored. Switches upstream
    only to a next hop with fewer hops."""

    name = "hops"
    description = "fewest hops, then lowest MAC"

    @staticmethod
    def _key(c: Candidate):
        return (c.hops, c.next_hop, c.target)

    def rank_upstream(self, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=self._key)

    def upstream_switch_reason(self, current: Candidate, best: Candidate) -> str | None:
        if best.next_hop != current.next_hop and best.hops < current.hops:
            return "fewer_hops"
        return None

    def rank_gateways(self, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (c.hops, c.target, c.next_hop))

    gateway_switch_reason = staticmethod(_late_switch_by_hops)

    def rank_routes(self, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=self._key)


# -- the route table's fast path -------------------------------------------
#
# The cores rank routes on every reply. For the shipped strategies they sort
# plain rows ``(next_hop, hops, min_ms, avg_ms, samples)`` with these keys,
# which order rows exactly as ``rank_routes`` orders the matching
# ``Candidate`` objects (tests/test_routing_incremental.py checks this
# against a rebuild through ``rank_routes``). A subclass that overrides
# ``rank_routes`` is not in the table and gets the general path.


def _latency_row_key(row):
    # == (c.hops, c.score if c.measured else inf, c.next_hop)
    min_ms = row[2]
    return (row[1], _INF if min_ms is None else min_ms + row[3], row[0])


def _hops_row_key(row):
    # == (c.hops, c.next_hop, c.target); the target is the same for all
    return (row[1], row[0])


_ROW_KEYS = {
    LatencyStrategy.rank_routes: _latency_row_key,
    HopsStrategy.rank_routes: _hops_row_key,
}


def route_row_key(strategy):
    """The row key equivalent to ``strategy.rank_routes``, or ``None`` when
    the strategy's own method must rank ``Candidate`` objects."""
    return _ROW_KEYS.get(getattr(type(strategy), "rank_routes", None))
