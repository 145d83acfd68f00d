"""An in-memory TAP for tests and the simulator."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from zope.interface import implementer

from vanet.interfaces import ITapDevice
from vanet.mac import ETH_HLEN
from vanet.transport.counters import LinkCounters


@implementer(ITapDevice)
class MemoryTap:
    """An ``ITapDevice`` with no kernel behind it.

    ``inject(frame)`` plays the host sending a frame into the TAP (delivered
    to the reader, or dropped and counted under ``filtered`` when nobody
    reads). Frames the node writes are kept in ``written`` (the last
    ``history`` ones) and passed to ``on_write`` if given.
    """

    def __init__(
        self,
        name: str,
        mac: bytes,
        on_write: Callable[[bytes], object] | None = None,
        history: int = 1024,
    ) -> None:
        self.name = name
        self.mac = bytes(mac)
        self.on_write = on_write
        self.written: deque[bytes] = deque(maxlen=history)
        self.counters = LinkCounters()
        self.closed = False
        self._deliver: Callable[[bytes], object] | None = None

    def __repr__(self) -> str:
        return f"<MemoryTap {self.name} {self.mac.hex(':')}>"

    def startReading(self, deliver: Callable[[bytes], object], reactor=None) -> None:
        if self.closed:
            raise RuntimeError(f"TAP {self.name} is closed")
        self._deliver = deliver

    def inject(self, frame) -> None:
        """The host sends ``frame`` into the TAP."""
        if self._deliver is None:
            self.counters.filtered += 1
            return
        data = bytes(frame)
        self.counters.received += 1
        self.counters.received_bytes += len(data)
        self._deliver(data)

    def write(self, frame) -> None:
        if self.closed:
            raise OSError(f"TAP {self.name} is closed")
        if len(frame) < ETH_HLEN:
            self.counters.runts += 1  # as LinuxTap: not an Ethernet frame
            return
        data = bytes(frame)  # the caller may reuse its buffer
        self.counters.sent += 1
        self.counters.sent_bytes += len(data)
        self.written.append(data)
        if self.on_write is not None:
            self.on_write(data)

    def stopReading(self) -> None:
        self._deliver = None

    def close(self) -> None:
        self.closed = True
        self._deliver = None
