"""In-memory links: ports that transmit into an ``IMedium``, and ``Hub``.

Used by tests and by the simulator, whose channel model is another
``IMedium`` (it decides who hears a frame, when, and whether at all).
"""

from __future__ import annotations

from collections import deque

from twisted.logger import Logger
from zope.interface import implementer

from vanet.interfaces import ILinkPort, IMedium
from vanet.transport.counters import LinkCounters


@implementer(ILinkPort)
class MemoryPort:
    """An ``ILinkPort`` on an in-memory medium.

    It attaches to ``medium`` when it starts listening and detaches when it
    stops; frames the medium delivers while it is not listening are dropped
    and counted under ``filtered``. ``write`` hands ``bytes(frame)`` to the
    medium at once (the caller may reuse its buffer afterwards).
    """

    log = Logger()

    def __init__(self, name: str, mac: bytes, medium: IMedium) -> None:
        self.name = name
        self.mac = bytes(mac)
        self.medium = medium
        self.counters = LinkCounters()
        self.protocol = None
        self.listening = False

    _what = "memory port"  # in the error for a second startListening

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.mac.hex(':')}>"

    def startListening(self, protocol, reactor=None) -> None:
        """Connect ``protocol`` and attach to the medium (``reactor`` unused)."""
        if self.listening:
            raise RuntimeError(f"{self._what} {self.name} already listening")
        self.protocol = protocol
        self.listening = True
        protocol.makeConnection(self)
        self._connected(protocol)
        self.medium.attach(self)

    def _connected(self, protocol) -> None:
        """Between connecting ``protocol`` and attaching: nothing here."""

    def receive(self, frame: bytes) -> None:
        """Called by the medium: one frame arrives."""
        counters = self.counters
        if not self.listening:
            counters.filtered += 1
            return
        counters.received += 1
        counters.received_bytes += len(frame)
        try:
            self.protocol.datagramReceived(frame, None)
        except Exception:
            # A receiver's bug must not unwind into the sender's write().
            counters.handler_errors += 1
            self.log.failure("{port}: frame handler raised", port=self.name)

    def write(self, frame) -> None:
        """Transmit one frame into the medium."""
        # One copy, and none for bytes: the caller may reuse its buffer.
        data = frame if type(frame) is bytes else bytes(frame)
        counters = self.counters
        counters.sent += 1
        counters.sent_bytes += len(data)
        self.medium.transmit(self, data)

    def stopListening(self) -> None:
        """Detach from the medium and stop the protocol."""
        if not self.listening:
            return
        self.listening = False
        self.medium.detach(self)
        self.protocol.doStop()


@implementer(IMedium)
class Hub:
    """A trivial medium: every frame reaches every other attached port whose
    MAC is the frame's ``dst`` or when ``dst`` is a group address, as on one
    Ethernet segment without loss or delay.

    Delivery is at once but in the order frames were sent: a frame that a
    receiver sends while handling another is queued behind the frames
    already on the wire, never delivered ahead of them (depth-first
    delivery would let a relay's rebroadcast overtake the original).
    """

    def __init__(self) -> None:
        self.ports: list = []
        self.frames_transmitted = 0
        self._queue: deque[tuple[object, bytes]] = deque()
        self._delivering = False

    def attach(self, port) -> None:
        if port not in self.ports:
            self.ports.append(port)

    def detach(self, port) -> None:
        if port in self.ports:
            self.ports.remove(port)

    def transmit(self, sender, frame: bytes) -> None:
        self.frames_transmitted += 1
        if len(frame) < 6:
            return
        self._queue.append((sender, frame))
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                self._deliver(*self._queue.popleft())
        finally:
            self._delivering = False

    def _deliver(self, sender, frame: bytes) -> None:
        group = frame[0] & 1
        dst = frame[:6]
        # A copy of the list: a receiver may attach or detach while we deliver.
        for port in list(self.ports):
            if port is not sender and (group or port.mac == dst):
                port.receive(frame)
