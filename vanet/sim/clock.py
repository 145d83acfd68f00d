"""``VirtualClock``: an ``IReactorTime`` that runs as fast as the CPU allows.

Like ``twisted.internet.task.Clock``, but scheduled calls live in a heap:
``task.Clock`` re-sorts its whole list on every ``callLater``, which costs
O(n) per call once a simulation holds thousands of timers.
"""

from __future__ import annotations

import heapq
import itertools

from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer


@implementer(IDelayedCall)
class VirtualCall:
    __slots__ = (
        "time",
        "func",
        "args",
        "kw",
        "cancelled",
        "called",
        "_clock",
        "_version",
    )

    def __init__(self, clock: VirtualClock, time: float, func, args, kw) -> None:
        self._clock = clock
        self.time = time
        self.func = func
        self.args = args
        self.kw = kw
        self.cancelled = False
        self.called = False
        self._version = 0

    def getTime(self) -> float:
        return self.time

    def cancel(self) -> None:
        if self.cancelled:
            raise AlreadyCancelled
        if self.called:
            raise AlreadyCalled
        self.cancelled = True
        self._clock._pending -= 1

    def reset(self, secondsFromNow: float) -> None:
        if self.cancelled:
            raise AlreadyCancelled
        if self.called:
            raise AlreadyCalled
        # The old heap entry goes stale: it carries an older version.
        self._version += 1
        self.time = self._clock.now + secondsFromNow
        self._clock._push(self)

    def delay(self, secondsLater: float) -> None:
        self.reset(self.time + secondsLater - self._clock.now)

    def active(self) -> bool:
        return not (self.cancelled or self.called)


@implementer(IReactorTime)
class VirtualClock:
    """Simulated time in seconds, starting at ``start``."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[tuple[float, int, int, VirtualCall]] = []
        self._order = itertools.count()
        self._pending = 0
        self._until = float("-inf")  # run_until's bound while it runs

    def seconds(self) -> float:
        return self.now

    def callLater(self, delay: float, callable, *args, **kw) -> VirtualCall:
        call = VirtualCall(self, self.now + max(0.0, delay), callable, args, kw)
        self._pending += 1
        self._push(call)
        return call

    def _push(self, call: VirtualCall) -> None:
        heapq.heappush(self._heap, (call.time, next(self._order), call._version, call))

    def getDelayedCalls(self) -> list[VirtualCall]:
        return sorted(
            {entry[3] for entry in self._heap if entry[3].active()},
            key=lambda c: c.time,
        )

    @property
    def pending(self) -> int:
        """Scheduled calls not yet run or cancelled."""
        return self._pending

    def run_until(self, until: float) -> None:
        """Run every call due up to ``until`` in time order; end at ``until``."""
        heap = self._heap
        pop = heapq.heappop
        self._until = until
        try:
            while heap and heap[0][0] <= until:
                time, _, version, call = pop(heap)
                if call.cancelled or call.called or version != call._version:
                    continue
                self.now = time
                call.called = True
                self._pending -= 1
                call.func(*call.args, **call.kw)
        finally:
            self._until = float("-inf")
        if until > self.now:
            self.now = until

    def run_ahead(self, when: float) -> bool:
        """From inside a running call: move time on to ``when`` if nothing
        else is scheduled up to then and ``run_until`` goes that far, so the
        caller can do there what a call scheduled for ``when`` would do,
        without scheduling one. The channel delivers its next frame this
        way: one call per frame was a tenth of a large simulation."""
        if when > self._until:
            return False
        heap = self._heap
        while heap:
            time, _, version, call = heap[0]
            if not (call.cancelled or call.called or version != call._version):
                if time <= when:
                    return False
                break
            heapq.heappop(heap)  # a cancelled or moved call: drop it now
        if when > self.now:
            self.now = when
        return True

    def advance(self, amount: float) -> None:
        """Move time forward by ``amount`` seconds (as ``task.Clock`` does)."""
        self.run_until(self.now + amount)
