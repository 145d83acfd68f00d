"""A reactor reader for datagram-like file descriptors.

AF_PACKET sockets and TAP fds are not something ``adoptDatagramPort`` takes
(it takes AF_INET and AF_INET6 sockets only), so both use this small
``FileDescriptor``: on each wakeup it drains up to ``max_frames_per_wakeup``
frames, so one busy fd cannot starve the rest of the reactor.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from twisted.internet import abstract
from twisted.logger import Logger

from vanet.mac import ETH_HLEN
from vanet.transport.counters import LinkCounters

# Errors that only mean "nothing (more) to read now".
_WOULD_BLOCK = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR})

DEFAULT_MAX_FRAMES_PER_WAKEUP = 256

VLAN_TAG_LEN = 4


def read_size(mtu: int) -> int:
    """Bytes to ask for per read on a device of this MTU: the payload, the
    Ethernet header and a VLAN tag (without offloads the kernel hands over
    no more; a larger buffer only costs time per read)."""
    return max(2048, mtu + ETH_HLEN + VLAN_TAG_LEN)


class _Reader(abstract.FileDescriptor):
    """A reactor reader of an fd its owner opened and closes."""

    def __init__(self, fileno: int, reactor=None, description: str = "fd") -> None:
        super().__init__(reactor)
        self._fileno = fileno
        self._description = description
        self.connected = 1

    def fileno(self) -> int:
        return self._fileno

    def logPrefix(self) -> str:
        return self._description

    def stop(self) -> None:
        """Stop reading; the owner closes the fd afterwards."""
        self.stopReading()
        self.stopWriting()
        self.connected = 0
        self.disconnected = 1


class DrainingReader(_Reader):
    """Reads frames with ``read_frame()`` and hands each to ``deliver``.

    ``read_frame`` returns one frame (bytes) or raises ``OSError``
    (``BlockingIOError`` when drained). ``deliver`` may raise: the error is
    logged and counted, and reading goes on, because one bad frame must not
    stop a node. Writing is not done through this class (``write`` of
    ``FileDescriptor`` buffers a stream; ports send datagrams directly).
    """

    log = Logger()

    def __init__(
        self,
        fileno: int,
        read_frame: Callable[[], bytes],
        deliver: Callable[[bytes], object],
        counters: LinkCounters,
        reactor=None,
        max_frames_per_wakeup: int = DEFAULT_MAX_FRAMES_PER_WAKEUP,
        description: str = "fd",
    ) -> None:
        super().__init__(fileno, reactor, description)
        self._read_frame = read_frame
        self._deliver = deliver
        self._counters = counters
        self.max_frames_per_wakeup = max_frames_per_wakeup

    def doRead(self) -> None:
        read_frame = self._read_frame
        deliver = self._deliver
        counters = self._counters
        for _ in range(self.max_frames_per_wakeup):
            try:
                frame = read_frame()
            except OSError as e:
                if e.errno not in _WOULD_BLOCK:
                    # e.g. ENETDOWN while the interface flaps: count, keep going.
                    counters.read_errors += 1
                    self.log.warn(
                        "{description}: read failed: {error}",
                        description=self._description,
                        error=e,
                    )
                return None
            try:
                deliver(frame)
            except Exception:
                counters.handler_errors += 1
                self.log.failure(
                    "{description}: frame handler raised",
                    description=self._description,
                )
        return None


class BatchReader(_Reader):
    """Calls ``drain()`` on each wake-up: for ports that take a batch of
    frames per wake-up themselves (a receive ring), bounded there."""

    def __init__(
        self,
        fileno: int,
        drain: Callable[[], object],
        reactor=None,
        description: str = "fd",
    ) -> None:
        super().__init__(fileno, reactor, description)
        self._drain = drain

    def doRead(self) -> None:
        self._drain()
