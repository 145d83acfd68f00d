"""The running summary of one next hop's samples (docs/protocol.md §4).

One class serves every table that ranks next hops: the OBU's upstream
candidates (heartbeat arrival offsets), and the routes toward vehicles of
both roles (reply latencies). A candidate is built from it on demand.
"""

from __future__ import annotations

from vanet.routing.candidates import Candidate


class Summary:
    """``hops`` of the newest sample, and ``low`` (fewest), ``total`` and
    ``count`` of the measured values added so far, oldest first (so the
    float sums equal a re-read in that order). An unmeasured sample (value
    ``None``) only updates ``hops``."""

    __slots__ = ("hops", "low", "total", "count")

    def __init__(self, hops: int, value: float | None = None) -> None:
        self.hops = hops
        if value is None:
            self.low = None
            self.total = 0.0
            self.count = 0
        else:
            self.low = self.total = value
            self.count = 1

    def add(self, hops: int, value: float | None) -> None:
        """One more sample, newer than those already summed."""
        self.hops = hops
        if value is None:
            return
        if self.count:
            if value < self.low:
                self.low = value
            self.total += value
            self.count += 1
        else:
            self.low = self.total = value
            self.count = 1

    def remove(self, value: float) -> bool:
        """Take one measured sample out (never the last one: drop the
        summary instead). True when it may have been the lowest: the caller
        then sets ``low`` from the samples that remain. ``hops`` stays the
        newest sample's."""
        self.total -= value
        self.count -= 1
        return value == self.low

    def candidate(
        self,
        target: bytes,
        next_hop: bytes,
        base: float = 0.0,
        loss: float | None = None,
        rssi_dbm: float | None = None,
    ) -> Candidate:
        """The ``Candidate`` it summarizes, with ``base`` taken off the
        latencies (the OBU's upstream offsets are relative to the fastest)
        and the link quality given."""
        count = self.count
        if not count:
            return Candidate(target, next_hop, self.hops, loss=loss, rssi_dbm=rssi_dbm)
        if base:
            return Candidate(
                target,
                next_hop,
                self.hops,
                self.low - base,
                self.total / count - base,
                count,
                loss,
                rssi_dbm,
            )
        return Candidate(
            target,
            next_hop,
            self.hops,
            self.low,
            self.total / count,
            count,
            loss,
            rssi_dbm,
        )

    def __repr__(self) -> str:
        return (
            f"Summary(hops={self.hops}, low={self.low}, total={self.total},"
            f" count={self.count})"
        )


def summarize(target: bytes, observations) -> list[Candidate]:
    """Per next hop: the hop count of its newest observation and ``min`` /
    ``avg`` of its measured latencies, in first-appearance order.
    ``observations`` are ``(next_hop, hops, latency_ms or None)``, oldest
    first. (The cores keep summaries as samples arrive; this rebuilds them,
    and is the reference they are tested against.)"""
    summaries: dict[bytes, Summary] = {}
    for next_hop, hops, latency in observations:
        s = summaries.get(next_hop)
        if s is None:
            summaries[next_hop] = Summary(hops, latency)
        else:
            s.add(hops, latency)
    return [s.candidate(target, n) for n, s in summaries.items()]
