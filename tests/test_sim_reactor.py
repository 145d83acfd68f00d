"""``vanet.sim.reactor``: the epoll reactor whose waits for a timed call are
not rounded up to whole milliseconds (the netns relay's link timers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from twisted.internet.abstract import FileDescriptor
from twisted.trial.unittest import SynchronousTestCase

from vanet.sim import reactor as precise

ROOT = Path(__file__).resolve().parent.parent


class _Pipe(FileDescriptor):
    """The read end of a pipe, counting its doRead calls."""

    def __init__(self, reactor, fd: int) -> None:
        super().__init__(reactor)
        self.fd = fd
        self.reads = 0

    def fileno(self) -> int:
        return self.fd

    def doRead(self) -> None:
        self.reads += 1
        os.read(self.fd, 100)


class PreciseEPollReactorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = precise.PreciseEPollReactor()
        self.addCleanup(self._close)
        read, self.write_fd = os.pipe()
        self.addCleanup(os.close, self.write_fd)
        self.addCleanup(os.close, read)
        self.pipe = _Pipe(self.reactor, read)
        self.reactor.addReader(self.pipe)
        self.addCleanup(self.reactor.removeReader, self.pipe)

    def _close(self) -> None:
        self.reactor.removeReader(self.reactor.waker)
        self.reactor.waker.connectionLost(None)
        self.reactor._poller.close()

    def test_sub_millisecond_wait_goes_through_select_in_microseconds(self) -> None:
        asked = []

        def select(r, w, x, timeout):
            asked.append((tuple(r), timeout))
            return [], [], []

        self.patch(precise.select, "select", select)
        self.reactor.doPoll(0.0003)
        self.assertEqual(asked, [((self.reactor._poller.fileno(),), 0.0003)])
        self.assertEqual(self.pipe.reads, 0)

    def test_long_or_no_timeout_is_epoll_alone(self) -> None:
        def select(*args):
            raise AssertionError("select() for a long wait")

        self.patch(precise.select, "select", select)
        os.write(self.write_fd, b"x")
        self.reactor.doPoll(precise.PRECISE_BELOW_S)
        self.assertEqual(self.pipe.reads, 1)
        os.write(self.write_fd, b"x")
        self.reactor.doPoll(None)
        self.assertEqual(self.pipe.reads, 2)

    def test_ready_descriptor_is_read_within_a_short_wait(self) -> None:
        os.write(self.write_fd, b"x")
        self.reactor.doPoll(0.0005)
        self.assertEqual(self.pipe.reads, 1)

    def test_wait_without_events_is_never_short(self) -> None:
        # Not a speed goal: a frame must not leave before its due time.
        for timeout in (0.0002, 0.0013):
            start = time.monotonic()
            self.reactor.doPoll(timeout)
            self.assertGreaterEqual(time.monotonic() - start, timeout)
        self.assertEqual(self.pipe.reads, 0)

    def test_not_installed_over_an_installed_reactor(self) -> None:
        from twisted.internet import reactor  # installs the default if none

        self.assertFalse(precise.install_if_possible())
        self.assertNotIsInstance(reactor, precise.PreciseEPollReactor)


class InstallTests(SynchronousTestCase):
    def test_installed_reactor_runs_timed_calls_not_early(self) -> None:
        script = """
import time
from vanet.sim.reactor import PreciseEPollReactor, install_if_possible
assert install_if_possible()
from twisted.internet import reactor
assert isinstance(reactor, PreciseEPollReactor), type(reactor)
late = []
def fire(due):
    late.append(time.time() - due)
    if len(late) == 20:
        reactor.stop()
    else:
        reactor.callLater(0.0004, fire, time.time() + 0.0004)
reactor.callLater(0.0004, fire, time.time() + 0.0004)
reactor.run()
assert min(late) >= -1e-6, late
print("ok")
"""
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,  # this checkout's vanet first
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "ok")
