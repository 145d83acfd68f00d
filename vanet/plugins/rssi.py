"""Plugin: the ``rssi`` routing strategy, as the older implementation's
current selection works.

- Upstream: fewest hops first, then score = 0.2 × normalised latency +
  0.8 × normalised RSSI distance (lower is better); the RSSI distance is
  how far the link to the next hop is below -20 dBm, on a scale to
  -95 dBm; latency (``min + avg``, ms) on a scale to 100 ms. Without a
  latency measurement the RSSI distance alone. The upstream moves for
  fewer hops, or for a score better by the hysteresis band (0.05).
  Hops come first because a score led by the link's RSSI would loop: two
  vehicles that both hear the RSU hear each other louder than it, and
  would pick each other.
- Gateway: the RSU nearest in hops, then heard strongest through its next
  hop; a change needs +3 dB over the current one, or the current below
  -95 dBm, or fewer hops.
- Routes toward vehicles: as the latency strategy (fewest hops, then
  latency).

RSSI is a link's, seen by this node: a strategy instance bound to a node's
radio (``with_link_quality``) reads it per neighbour MAC. The simulator
binds it with ``[mobility]`` (vanet/sim/inprocess.py); where no radio
supplies RSSI (real nodes today, fixed-link simulations) the unbound
strategy ranks exactly as ``latency`` does, and the simulator logs so.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.plugin import IPlugin
from zope.interface import implementer

from vanet.interfaces import IRoutingStrategy
from vanet.routing.candidates import Candidate
from vanet.routing.strategies import BaseStrategy, LatencyStrategy

#: RSSI scale: -20 dBm (1 m) is distance 0, -95 dBm and below is 1
RSSI_BEST_DBM = -20.0
RSSI_WORST_DBM = -95.0
#: latency scale: 0 ms is 0, this and more is 1
LATENCY_SCALE_MS = 100.0
LATENCY_WEIGHT = 0.2
RSSI_WEIGHT = 0.8
#: the upstream moves for a score lower by at least this much
HYSTERESIS = 0.05
#: a gateway change needs the other RSU's next hop this much stronger ...
GATEWAY_GAIN_DB = 3.0
#: ... or the current one weaker than RSSI_WORST_DBM

_LATENCY = LatencyStrategy()


def rssi_distance(rssi_dbm: float) -> float:
    """0 (as strong as it gets) to 1 (at or below -95 dBm)."""
    share = (RSSI_BEST_DBM - rssi_dbm) / (RSSI_BEST_DBM - RSSI_WORST_DBM)
    return min(1.0, max(0.0, share))


@implementer(IPlugin, IRoutingStrategy)
class RssiStrategy(BaseStrategy):
    """See the module docstring. ``rssi_of(mac) -> dBm | None``: the RSSI
    of this node's link to a neighbour, ``None`` when unknown."""

    name = "rssi"
    description = (
        "0.2 x latency + 0.8 x RSSI of the link to the next hop, with "
        "hysteresis; needs a radio that reports RSSI (the simulator's), "
        "else ranks as latency"
    )

    def __init__(self, rssi_of: Callable[[bytes], float | None] | None = None) -> None:
        self.rssi_of = rssi_of

    def with_link_quality(
        self, rssi_of: Callable[[bytes], float | None]
    ) -> RssiStrategy:
        """An instance for one node, reading its links' RSSI."""
        return RssiStrategy(rssi_of)

    # -- scores --------------------------------------------------------------

    def _rssi(self, candidate: Candidate) -> float | None:
        return None if self.rssi_of is None else self.rssi_of(candidate.next_hop)

    def score(self, candidate: Candidate) -> float | None:
        """The weighted score (lower is better), ``None`` without RSSI."""
        rssi = self._rssi(candidate)
        if rssi is None:
            return None
        distance = rssi_distance(rssi)
        if candidate.min_ms is None:
            return distance  # the RSSI fallback: nothing measured yet
        latency = min(1.0, (candidate.min_ms + candidate.avg_ms) / LATENCY_SCALE_MS)
        return LATENCY_WEIGHT * latency + RSSI_WEIGHT * distance

    # -- IRoutingStrategy ----------------------------------------------------

    def upstream_key(self, candidate: Candidate):
        score = self.score(candidate)
        if score is None:
            return (1, _LATENCY.upstream_key(candidate))
        return (0, (candidate.hops, score, candidate.next_hop, candidate.target))

    def upstream_switch_reason(self, current: Candidate, best: Candidate) -> str | None:
        if best.next_hop == current.next_hop:
            return None
        best_score, current_score = self.score(best), self.score(current)
        if best_score is None or current_score is None:
            return _LATENCY.upstream_switch_reason(current, best)
        if best.hops < current.hops:
            return "fewer_hops"
        if best_score <= current_score - HYSTERESIS:
            return "stronger_link"
        return None

    def gateway_key(self, candidate: Candidate):
        rssi = self._rssi(candidate)
        if rssi is None:
            return (1, _LATENCY.gateway_key(candidate))
        return (0, (candidate.hops, -rssi, candidate.target, candidate.next_hop))

    def gateway_switch_reason(
        self, current: Candidate, best: Candidate, threshold: float
    ) -> str | None:
        if best.target == current.target:
            return None
        best_rssi, current_rssi = self._rssi(best), self._rssi(current)
        if best_rssi is None or current_rssi is None:
            return _LATENCY.gateway_switch_reason(current, best, threshold)
        if current_rssi < RSSI_WORST_DBM:
            return "weak_gateway"
        if best_rssi >= current_rssi + GATEWAY_GAIN_DB:
            return "stronger_gateway"
        if best.hops < current.hops:
            return "fewer_hops"
        return None

    route_key = staticmethod(LatencyStrategy.route_key)


rssi = RssiStrategy()
