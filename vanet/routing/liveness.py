"""Liveness on the OBU (docs/protocol.md §5): which neighbours still count
as candidates toward an RSU, when that may next change, and forgetting
RSUs that fell silent.

A neighbour that delivered none of an RSU's last ``neighbour_timeout``
heartbeats (by seq, or by time using the period learnt from ``duration``)
stops being a candidate toward it. A mixin of ``ObuRoutingCore``.
"""

from __future__ import annotations

from vanet.routing.sources import Source


class Liveness:
    """Deadlines and the live set, per RSU."""

    def period(self, source: bytes) -> float:
        state = self._sources.get(source)
        if state is None or state.period is None:
            return self.default_period
        return state.period

    def _deadline(self, state: Source) -> float:
        period = state.period if state.period is not None else self.default_period
        return self.neighbour_timeout * period

    def _live_neighbours(self, state: Source, now: float) -> set[bytes]:
        if not state.seqs:
            return set()
        newest = state.sorted_seqs()[-1][0]
        deadline = self._deadline(state)
        timeout = self.neighbour_timeout
        at_from = state.last_at_from
        me = self.mac
        return {
            n
            for n, seq in state.last_seq_from.items()
            if newest - seq < timeout and now - at_from[n] <= deadline and n != me
        }

    def _forget_dead_sources(self, now: float) -> None:
        # An RSU silent for its whole history is forgotten (bounded memory).
        for source, state in list(self._sources.items()):
            period = state.period if state.period is not None else self.default_period
            if (
                now - state.last_at
                > max(self.hello_history, self.neighbour_timeout) * period
            ):
                self._retire(source)
        for n, at in list(self._neighbours.items()):
            if now - at > self.hello_history * self.default_period and not any(
                n in s.last_seq_from for s in self._sources.values()
            ):
                del self._neighbours[n]

    def _check_liveness(self, now: float) -> None:
        # Time alone only ever removes: a neighbour or an RSU falls silent,
        # or a next hop's advertisement stops counting (ours: _refresh).
        for source, state in self._sources.items():
            if state.lapse <= now:
                # A feasible next hop's advertisement may have run out.
                self._dirty_sources.add(source)
            elif state.live != self._live_neighbours(state, now) or bool(
                state.logs
            ) != self._source_live(state, now):
                self._dirty_sources.add(source)
        if not self._dirty_sources:
            # Nothing expired yet (the check runs a hair early): look again
            # at the next call.
            self._recheck_at = now

    def _source_live(self, state: Source, now: float) -> bool:
        return bool(state.seqs) and now - state.last_at <= self._deadline(state)

    def _expiry(self, state: Source, live, logs) -> float:
        """Earliest time a live neighbour of this RSU, or the RSU itself,
        may fall silent (a hair early: ``_check_liveness`` decides)."""
        if not live and not logs:
            return float("inf")  # silent already: only a heartbeat changes it
        at = state.last_at
        last_at_from = state.last_at_from
        for n in live:
            if last_at_from[n] < at:
                at = last_at_from[n]
        return at + self._deadline(state) - 1e-6
