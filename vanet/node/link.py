"""The link-layer protocol: one ``DatagramProtocol`` for both roles.

Whatever the transport under it (AF_PACKET, UDP multicast, memory), every
received frame arrives here whole and goes to the node engine.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.protocol import DatagramProtocol
from zope.interface import implementer

from vanet.interfaces import IFrameSink


@implementer(IFrameSink)
class LinkProtocol(DatagramProtocol):
    """Hands each received frame to a ``NodeEngine``."""

    noisy = False  # the service logs the node's start and stop itself

    def __init__(self, engine) -> None:
        self.engine = engine

    def startProtocol(self) -> None:
        self.engine.attach(self.transport, self.engine.tap)

    def datagramReceived(self, datagram, addr=None) -> None:
        self.engine.frame_received(datagram)

    def frame_sink(self) -> Callable[[bytes], None]:
        # The simulator's fused link calls the engine itself: one call a
        # frame fewer than through datagramReceived.
        return self.engine.frame_received
