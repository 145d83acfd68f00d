"""An epoll reactor whose timed calls are not rounded up to milliseconds.

Python's ``epoll.poll`` takes its timeout in seconds but rounds it up to
whole milliseconds (``epoll_wait``'s unit), so Twisted's epoll reactor,
asked to wake 0.3 ms from now for its next timed call, sleeps 1 ms. The
netns relay holds each link's frames on one reactor timer
(``RelayChannel``); every time a frame arrives on another link while a
timer is pending, the remaining wait is rounded up again, and a frame was
delivered up to a millisecond after its due time (seen in the seed
recipe's ping tail: benchmarks/README.md, "The recipe's ping tail").

``PreciseEPollReactor`` waits for a timeout shorter than
``PRECISE_BELOW_S`` on the epoll descriptor itself with ``select``, whose
timeout is in microseconds, and collects the events with a zero-timeout
``epoll_wait``: one system call more per wake-up, and only while a timed
call is that close. Longer or no timeouts are ``epoll_wait`` as before.
"""

from __future__ import annotations

import select
import sys

from twisted.internet import epollreactor

#: below this, a wait goes through select() (microseconds); above it, a
#: millisecond more on a wait this long does not matter
PRECISE_BELOW_S = 0.1

# select() takes descriptors below FD_SETSIZE only.
_FD_SETSIZE = 1024


class PreciseEPollReactor(epollreactor.EPollReactor):
    """``EPollReactor`` that wakes for a timed call to the microsecond (the
    kernel's timer slack aside), not to the next whole millisecond."""

    def doPoll(self, timeout: float | None) -> None:
        if timeout is not None and 0 < timeout < PRECISE_BELOW_S:
            fd = self._poller.fileno()
            if fd < _FD_SETSIZE:
                # The epoll descriptor is readable once any registered one
                # has an event; select() waits for it to the microsecond.
                try:
                    ready, _, _ = select.select((fd,), (), (), timeout)
                except InterruptedError:
                    return
                if not ready:
                    return  # the timed call is due: runUntilCurrent runs it
                timeout = 0
        super().doPoll(timeout)

    doIteration = doPoll


def install() -> PreciseEPollReactor:
    """Install ``PreciseEPollReactor`` as the global reactor."""
    from twisted.internet.main import installReactor

    reactor = PreciseEPollReactor()
    installReactor(reactor)
    return reactor


def install_if_possible() -> bool:
    """Install it unless a reactor is installed already or epoll is
    missing (not Linux); whether it was."""
    if "twisted.internet.reactor" in sys.modules or not hasattr(select, "epoll"):
        return False
    install()
    return True
