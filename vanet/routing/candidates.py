"""Route candidates: what a strategy ranks (docs/protocol.md §4).

For a target ``T`` the cores gather the live observations "T through next
hop X, at h hops, latency L" and summarize them per next hop
(``vanet.routing.summary``): ``min`` and ``avg`` of the measured latencies
and the hop count.
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
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
