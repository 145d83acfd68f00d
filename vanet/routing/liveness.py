"""Liveness on the OBU (docs/protocol.md §5): which neighbours still count
as candidates toward an RSU, when that may next change, and forgetting
RSUs that fell silent.

A neighbour that delivered none of an RSU's last ``neighbour_timeout``
heartbeats (by seq, or by time using the period learnt from ``duration``)
stops being a candidate toward it. A mixin of ``ObuRoutingCore``.
"""

from __future__ import annotations

from vanet.routing.sources import Source

#: how far past a deadline that holds at its instant (``<=``) the change it
#: guards shows: far above a float's rounding at any clock's magnitude
#: (2.4e-7 s at 2e9 s, epoch time), far below anything a period measures.
AFTER = 1e-6

#: Work that may wait (re-ranking on a heartbeat copy, a reply, a known
#: RSU's next heartbeat) is done within this many heartbeat periods of its
#: cause, in one batch: a busy relay hears thousands of them a period, and
#: ranking on each would cost more than all else it does. (The engine once
#: ticked every quarter period; deadlines keep that for this work.)
DECIDE_WITHIN = 0.25


def batch_due(now: float, period: float) -> float:
    """When work that may wait, arriving at ``now``, is done: at the next
    multiple of ``DECIDE_WITHIN`` periods, as the quarter-period ticks did
    (an eighth of a period later on average, a quarter at most). A fixed
    delay after the first instead (a quarter every time) was measured to
    cost delivery under loss: a next hop back from a lost heartbeat was
    re-ranked later (examples/lossy.ini, docs/architecture.md)."""
    step = DECIDE_WITHIN * period
    due = (now // step + 1) * step
    return due if due > now else due + step  # (float rounding at a multiple)


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

    def _next_forget(self, now: float) -> float:
        """When ``_forget_dead_sources`` may next have something to forget:
        the earliest an RSU or a neighbour held may have been silent long
        enough, but a period on at the soonest (memory only: what it
        forgets stopped counting long before, so a coarse floor keeps a
        neighbour that stays in an RSU's record from waking the core at
        every call)."""
        keep = max(self.hello_history, self.neighbour_timeout)
        at = min(
            (
                s.last_at
                + keep * (s.period if s.period is not None else self.default_period)
                for s in self._sources.values()
            ),
            default=float("inf"),
        )
        if self._neighbours:
            oldest = min(self._neighbours.values())
            at = min(at, oldest + self.hello_history * self.default_period)
        return max(at, now + self.default_period)

    def _check_liveness(self, now: float) -> None:
        # Time alone only ever removes: a neighbour or an RSU falls silent,
        # or a next hop's advertisement stops counting (ours: _refresh).
        # Every record's deadline is the first instant its change shows
        # (``_expiry``, ``_feasible``), so an RSU whose deadline came is
        # re-ranked; its new record's deadline lies ahead, which is what
        # lets the core be run at its deadline and no sooner
        # (``next_deadline``).
        due = float("inf")
        for source, state in self._sources.items():
            expiry = state.expiry
            if expiry is None:
                continue  # never ranked yet: it is dirty already
            at = state.lapse if state.lapse < expiry else expiry
            if at <= now:
                self._dirty_sources.add(source)
            elif at < due:
                due = at
        if not self._dirty_sources:
            # The RSU that was due went (forgotten or restarted, and
            # re-ranked since): the next one due.
            self._recheck_at = due

    def _source_live(self, state: Source, now: float) -> bool:
        return bool(state.seqs) and now - state.last_at <= self._deadline(state)

    def _expiry(self, state: Source, live, logs) -> float:
        """Earliest time a live neighbour of this RSU, or the RSU itself,
        falls silent: a hair after its deadline, since the rule keeps it
        live at the deadline itself (``_live_neighbours``)."""
        if not live and not logs:
            return float("inf")  # silent already: only a heartbeat changes it
        at = state.last_at
        last_at_from = state.last_at_from
        for n in live:
            if last_at_from[n] < at:
                at = last_at_from[n]
        return at + self._deadline(state) + AFTER
