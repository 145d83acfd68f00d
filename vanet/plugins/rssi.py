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

RSSI is a link's, seen by this node: the routing core puts it on each
candidate (``Candidate.rssi_dbm``) from the node's ``ILinkQuality``, which
the simulator's radio from positions supplies (``[mobility]``). Where no
radio supplies it (real nodes today, fixed-link simulations) a candidate's
``rssi_dbm`` is ``None``: such candidates rank exactly as ``latency``
ranks them, and the plugin logs that once per process.
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from vanet.interfaces import IRoutingStrategy
from vanet.mac import format_mac
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
log = Logger()


def rssi_distance(rssi_dbm: float) -> float:
    """0 (as strong as it gets) to 1 (at or below -95 dBm)."""
    share = (RSSI_BEST_DBM - rssi_dbm) / (RSSI_BEST_DBM - RSSI_WORST_DBM)
    return min(1.0, max(0.0, share))


@implementer(IPlugin, IRoutingStrategy)
class RssiStrategy(BaseStrategy):
    """See the module docstring. It keeps no state for ranking; the one
    flag it keeps only stops the "no RSSI" log line from repeating."""

    name = "rssi"
    description = (
        "0.2 x latency + 0.8 x RSSI of the link to the next hop, with "
        "hysteresis; needs a radio that reports RSSI (the simulator's), "
        "else ranks as latency"
    )

    def __init__(self) -> None:
        self._said_no_rssi = False

    # -- scores --------------------------------------------------------------

    def _no_rssi(self, candidate: Candidate) -> None:
        # Once per process: a node without a radio asks on every ranking.
        if not self._said_no_rssi:
            self._said_no_rssi = True
            log.warn(
                "strategy rssi: no RSSI for next hop {next_hop}: this node has "
                "no radio that reports it (real nodes today; in the simulator "
                "only the radio from positions, [mobility], does) or the "
                "neighbour is out of its range; ranking by latency instead",
                next_hop=format_mac(candidate.next_hop),
            )

    def score(self, candidate: Candidate) -> float | None:
        """The weighted score (lower is better), ``None`` without RSSI."""
        rssi = candidate.rssi_dbm
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
            self._no_rssi(candidate)
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
        rssi = candidate.rssi_dbm
        if rssi is None:
            self._no_rssi(candidate)
            return (1, _LATENCY.gateway_key(candidate))
        return (0, (candidate.hops, -rssi, candidate.target, candidate.next_hop))

    def gateway_switch_reason(
        self, current: Candidate, best: Candidate, threshold: float
    ) -> str | None:
        if best.target == current.target:
            return None
        best_rssi, current_rssi = best.rssi_dbm, current.rssi_dbm
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
