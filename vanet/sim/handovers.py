"""Hand-overs: a vehicle's gateway RSU changing to another, seen by
sampling every vehicle's gateway (sans-I/O; the simulator samples at each
radio update).

The cores count a direct switch (``gateway_switched``), but a vehicle
that drives out of one RSU's reach usually loses its gateway first
(``gateway_lost``) and selects the next one later (``gateway_selected``):
only a memory of the last gateway across the gap tells a hand-over from
finding the same RSU again. The interruption of a hand-over is the time
between the last sample with the old gateway and the first with the new,
less one sample period (0: it switched between two samples).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from vanet.sim.traffic import percentile


class HandoverTracker:
    """See the module docstring; ``period_s`` is the sampling period."""

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._last: dict[str, tuple[Hashable, float]] = {}  # gateway, when
        self._counts: dict[str, int] = {}
        self.interruptions_s: list[float] = []

    def observe(self, now: float, gateways: Mapping[str, Hashable | None]) -> None:
        """Each vehicle's gateway at ``now`` (``None``: it has none)."""
        for name, gateway in gateways.items():
            if gateway is None:
                continue
            last = self._last.get(name)
            if last is not None and last[0] != gateway:
                self._counts[name] = self._counts.get(name, 0) + 1
                self.interruptions_s.append(max(0.0, now - last[1] - self.period_s))
            self._last[name] = (gateway, now)

    def count(self, name: str) -> int:
        """Hand-overs of vehicle ``name`` so far."""
        return self._counts.get(name, 0)

    def summary(self) -> dict[str, float | int | None]:
        ordered = sorted(self.interruptions_s)
        return {
            "handovers": sum(self._counts.values()),
            "interruption_p50_s": percentile(ordered, 50),
            "interruption_p95_s": percentile(ordered, 95),
        }
