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

from zope.interface import implementer

from vanet.interfaces import IRoutingStrategy
from vanet.routing.candidates import Candidate

_INF = float("inf")


class BaseStrategy:
    """Convenient defaults for a strategy: subclass it, set ``name`` and
    implement ``upstream_key``; gateways and routes follow the same key,
    with no hysteresis. Declare ``@implementer(IRoutingStrategy)`` on the
    subclass, and ``IPlugin`` on the plugin object (docs/plugins.md).

    ``rank_upstream``, ``rank_gateways`` and ``rank_routes`` sort by the
    keys, as the cores do: for tests and tools, not for overriding."""

    name: str = ""
    description: str = ""

    def upstream_key(self, candidate: Candidate):
        raise NotImplementedError(f"{type(self).__name__} must define upstream_key")

    def upstream_switch_reason(self, current: Candidate, best: Candidate) -> str | None:
        return "better" if best.next_hop != current.next_hop else None

    def gateway_key(self, candidate: Candidate):
        return self.upstream_key(candidate)

    def gateway_switch_reason(
        self, current: Candidate, best: Candidate, threshold: float
    ) -> str | None:
        return "better" if best.target != current.target else None

    def route_key(self, candidate: Candidate):
        return self.upstream_key(candidate)

    def rank_upstream(self, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=self.upstream_key)

    def rank_gateways(self, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=self.gateway_key)

    def rank_routes(self, candidates: list[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=self.route_key)

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


@implementer(IRoutingStrategy)
class LatencyStrategy(BaseStrategy):
    """Lowest ``min + avg`` latency, then fewest hops, then lowest MAC.

    ``hysteresis`` is the relative score gain that makes the upstream move
    (docs/protocol.md §4: 10%). ``min_gain_ms`` also requires an absolute gain, so
    sub-millisecond jitter between near-equal paths does not flap the
    upstream (our addition; 0 gives the bare §4 rule).
    """

    name = "latency"
    description = "lowest min+avg latency, then fewest hops, then lowest MAC (default)"

    def __init__(self, hysteresis: float = 0.1, min_gain_ms: float = 1.0) -> None:
        self.hysteresis = hysteresis
        self.min_gain_ms = min_gain_ms

    @staticmethod
    def upstream_key(c: Candidate):
        # Measured before unmeasured; unmeasured among themselves by hops.
        # (``min_ms + avg_ms`` is ``score``, without the property calls.)
        low = c.min_ms
        if low is not None:
            return (0, low + c.avg_ms, c.hops, c.next_hop, c.target)
        return (1, 0.0, c.hops, c.next_hop, c.target)

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

    gateway_key = staticmethod(_gateway_key)
    gateway_switch_reason = staticmethod(_late_switch_by_hops)

    @staticmethod
    def route_key(c: Candidate):
        # Section 4: the route to a vehicle prefers the fewest hops.
        low = c.min_ms
        return (c.hops, _INF if low is None else low + c.avg_ms, c.next_hop)


@implementer(IRoutingStrategy)
class HopsStrategy(BaseStrategy):
    """Fewest hops, then lowest MAC; latency is ignored. Switches upstream
    only to a next hop with fewer hops."""

    name = "hops"
    description = "fewest hops, then lowest MAC"

    @staticmethod
    def upstream_key(c: Candidate):
        return (c.hops, c.next_hop, c.target)

    def upstream_switch_reason(self, current: Candidate, best: Candidate) -> str | None:
        if best.next_hop != current.next_hop and best.hops < current.hops:
            return "fewer_hops"
        return None

    @staticmethod
    def gateway_key(c: Candidate):
        return (c.hops, c.target, c.next_hop)

    gateway_switch_reason = staticmethod(_late_switch_by_hops)
    route_key = upstream_key
