"""Loop freedom on the OBU: the feasibility rule (docs/protocol.md §4.8).

An OBU *advertises* a distance each time it rebroadcasts a heartbeat (its
rebroadcast says one hop more). Its *feasibility distance* is the smallest
distance it advertised, toward any RSU, within the last
``neighbour_timeout + 1/2`` periods of that RSU. A neighbour is a feasible
next hop only if it advertised, within the last ``neighbour_timeout``
periods, a distance strictly below ours.

The windows differ by half a period so that what a neighbour advertised
still counts in its own feasibility distance for as long as we may rely on
it (the frame reached us, and our next tick came, within that half
period). Then along every upstream edge X -> Y,
``fd(Y) <= advertised by Y < fd(X)``: the feasibility distance falls
strictly along every path of upstream pointers, whatever the RSUs at their
ends, so no path comes back to where it started.
"""

from __future__ import annotations

INFINITE = float("inf")


class Adverts:
    """The distances this node advertised, each until it stops counting.

    Kept apart from the per-RSU history: an RSU forgotten, restarted or
    evicted keeps what we told our neighbours about it in the reckoning
    until its window closes."""

    __slots__ = ("_held", "next_change", "_least")

    def __init__(self) -> None:
        self._held: list[tuple[float, int]] = []  # (until, distance)
        # When the feasibility distance may next rise: the first
        # advertisement held stops counting then (``distance`` drops it at
        # ``until``); ``INFINITE`` when none is held. Kept, not computed:
        # the node asks after every frame (``next_deadline``).
        self.next_change = INFINITE
        # The least distance held (what ``distance`` returns), kept with
        # ``_held``: the core asks at every decision, the list changes
        # only when we advertise or an advertisement stops counting.
        self._least = INFINITE

    def add(self, distance: int, until: float) -> None:
        """We advertised ``distance``; it counts until ``until``."""
        held = self._held
        # One advertisement that counts no shorter and no nearer than
        # another adds nothing: keep the list to the few that matter.
        for u, d in held:
            if d <= distance and u >= until:
                return
        held[:] = [(u, d) for u, d in held if not (d >= distance and u <= until)]
        held.append((until, distance))
        self.next_change = min(u for u, _ in held)
        self._least = min(d for _, d in held)

    def distance(self, now: float) -> float:
        """The feasibility distance at ``now`` (``INFINITE`` when we
        advertised nothing that still counts)."""
        held = self._held
        if self.next_change <= now:
            held[:] = [(u, d) for u, d in held if u > now]
            self.next_change = min((u for u, _ in held), default=INFINITE)
            self._least = min((d for _, d in held), default=INFINITE)
        return self._least

    def __len__(self) -> int:
        return len(self._held)
