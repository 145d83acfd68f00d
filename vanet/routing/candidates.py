"""Route candidates: what a strategy ranks (docs/protocol.md §4).

For a target ``T`` the cores gather the live observations "T through next
hop X, at h hops, latency L" and summarize them per next hop
(``vanet.routing.summary``): ``min`` and ``avg`` of the measured latencies
and the hop count. Toward an RSU (the upstream candidates) they also carry
the link's quality: ``loss``, the share of the RSU's recent heartbeats the
next hop did not deliver, and ``rssi_dbm``, what the node's radio reports of
the link to it (``vanet.interfaces.ILinkQuality``; ``None`` without one).
"""

from __future__ import annotations

import attrs

from vanet.mac import format_mac


@attrs.frozen(slots=True)
class Candidate:
    """One next hop toward one target, summarized over the live history."""

    target: bytes
    next_hop: bytes
    hops: int
    min_ms: float | None = None
    avg_ms: float | None = None
    samples: int = 0
    #: share of the held heartbeat seqs this next hop did not deliver
    #: (0 to 1), over the RSU's history; ``None`` for routes toward vehicles
    loss: float | None = None
    #: the link's received signal strength as this node's radio reports it,
    #: ``None`` where none does (real nodes today)
    rssi_dbm: float | None = None

    @property
    def measured(self) -> bool:
        return self.min_ms is not None

    @property
    def score(self) -> float | None:
        """``min + avg`` in ms; ``None`` when unmeasured (worst of all)."""
        if self.min_ms is None:
            return None
        return self.min_ms + self.avg_ms

    def to_status(self) -> dict:
        """JSON-serializable form for ``status()``."""
        return {
            "target": format_mac(self.target),
            "next_hop": format_mac(self.next_hop),
            "hops": self.hops,
            "min_ms": _round(self.min_ms),
            "avg_ms": _round(self.avg_ms),
            "score": _round(self.score),
            "samples": self.samples,
            "loss": _round(self.loss),
            "rssi_dbm": _round(self.rssi_dbm),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
