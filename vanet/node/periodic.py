"""A light periodic call for the node engine's heartbeats and ticks.

``LoopingCall`` builds a ``Deferred`` on every run; a simulation of a
thousand nodes ticks thousands of times per simulated second, where that
was a tenth of the run. This keeps what the engine relies on: a fixed
schedule (start + n * interval, so no drift; runs a late clock missed are
skipped, as ``LoopingCall`` does), and a failing run is logged and the
schedule goes on, so one bad tick does not stop a node's housekeeping.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger


class Periodic:
    """Call ``function()`` every ``interval`` seconds on ``clock``."""

    log = Logger()

    def __init__(
        self, clock: IReactorTime, function: Callable[[], object], interval: float
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval!r}")
        self.clock = clock
        self.function = function
        self.interval = interval
        self._start = 0.0
        self._slot = 0  # index of the run due next (or running)
        self._running = False
        self._call: IDelayedCall | None = None

    @property
    def running(self) -> bool:
        return self._running

    def start(self, now: bool = True) -> None:
        """Start; with ``now`` the first call is made at once (before this
        returns, as ``LoopingCall.start`` does), else one interval later."""
        if self._running:
            raise RuntimeError("already running")
        self._running = True
        self._start = self.clock.seconds()
        if now:
            self._slot = 0
            self._run()
        else:
            self._slot = 1
            self._call = self.clock.callLater(self.interval, self._run)

    def stop(self) -> None:
        self._running = False
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def _run(self) -> None:
        self._call = None
        try:
            self.function()
        except Exception:
            self.log.failure(
                "periodic call {function!r} failed", function=self.function
            )
        if not self._running:
            return  # stopped, perhaps by the function itself
        # The next slot on the fixed schedule; slots the clock passed by half
        # an interval or more are skipped (rounding, not flooring: a clock
        # that sums float steps runs a slot a hair late, which is no miss).
        now = self.clock.seconds()
        self._slot = max(self._slot + 1, round((now - self._start) / self.interval))
        delay = self._start + self._slot * self.interval - now
        self._call = self.clock.callLater(max(0.0, delay), self._run)
