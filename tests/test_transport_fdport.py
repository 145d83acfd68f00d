"""The fd-based packet port, driven by hand over a socketpair (no real
device or reactor needed): draining, bounds per wakeup, echo filtering,
send drops."""

from __future__ import annotations

import socket

from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.interfaces import ILinkPort
from vanet.mac import BROADCAST, stable_local_mac
from vanet.transport import PacketPort

OWN = stable_local_mac("own")
PEER = stable_local_mac("peer")


class Recorder(DatagramProtocol):
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.stopped = False

    def datagramReceived(self, datagram, addr) -> None:
        self.frames.append(datagram)

    def stopProtocol(self) -> None:
        self.stopped = True


def frame(src: bytes, n: int) -> bytes:
    return BROADCAST + src + b"\x30\x30\x00\x00" + n.to_bytes(4, "big")


class PacketPortOverSocketpairTests(SynchronousTestCase):
    def setUp(self) -> None:
        ours, self.peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        ours.setblocking(False)
        self.peer.setblocking(False)
        self.addCleanup(self.peer.close)
        self.port = PacketPort(ours, "test0", OWN, 1500, max_frames_per_wakeup=4)
        self.addCleanup(self.port.stopListening)
        self.reactor = MemoryReactor()
        self.protocol = Recorder()
        self.port.startListening(self.protocol, self.reactor)

    def test_interface_and_connection(self) -> None:
        self.assertTrue(verifyObject(ILinkPort, self.port))
        self.assertIs(self.protocol.transport, self.port)
        self.assertEqual(len(self.reactor.getReaders()), 1)
        self.assertEqual(self.reactor.getReaders()[0].fileno(), self.port.fileno())

    def test_drains_a_bounded_number_per_wakeup(self) -> None:
        sent = [frame(PEER, n) for n in range(6)]
        for f in sent:
            self.peer.send(f)
        self.port.doRead()
        self.assertEqual(self.protocol.frames, sent[:4])
        self.port.doRead()
        self.assertEqual(self.protocol.frames, sent)
        self.port.doRead()  # nothing left: returns quietly
        self.assertEqual(self.port.counters.received, 6)
        self.assertEqual(self.port.counters.received_bytes, sum(map(len, sent)))

    def test_own_frames_are_dropped(self) -> None:
        self.peer.send(frame(OWN, 1))
        self.peer.send(frame(PEER, 2))
        self.port.doRead()
        self.assertEqual(self.protocol.frames, [frame(PEER, 2)])
        self.assertEqual(self.port.counters.own_dropped, 1)

    def test_handler_error_is_counted_and_reading_goes_on(self) -> None:
        def datagramReceived(datagram, addr):
            if datagram.endswith(b"\0\0\0\1"):
                raise ValueError("bad frame")
            self.protocol.frames.append(datagram)

        self.protocol.datagramReceived = datagramReceived
        for n in range(3):
            self.peer.send(frame(PEER, n))
        self.port.doRead()
        self.assertEqual(self.protocol.frames, [frame(PEER, 0), frame(PEER, 2)])
        self.assertEqual(self.port.counters.handler_errors, 1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_write_sends_the_frame_as_is(self) -> None:
        buf = bytearray(frame(OWN, 7))
        self.port.write(memoryview(buf))
        self.assertEqual(self.peer.recv(100), bytes(buf))
        self.assertEqual(self.port.counters.sent, 1)
        self.assertEqual(self.port.counters.sent_bytes, len(buf))

    def test_full_buffer_drops_and_counts(self) -> None:
        attempts = 0
        while self.port.counters.send_dropped == 0:
            self.port.write(frame(OWN, attempts))
            attempts += 1
            self.assertLess(attempts, 100_000, "socket buffer never filled")
        self.assertEqual(self.port.counters.sent, attempts - 1)

    def test_refusal_raises(self) -> None:
        self.peer.close()
        with self.assertRaises(OSError):
            self.port.write(frame(OWN, 1))
        self.assertEqual(self.port.counters.send_errors, 1)

    def test_stop_listening(self) -> None:
        self.port.stopListening()
        self.assertEqual(self.reactor.getReaders(), [])
        self.assertTrue(self.protocol.stopped)
        self.assertRaises(OSError, self.port.write, frame(OWN, 1))
        self.port.stopListening()  # idempotent

    def test_start_twice_is_refused(self) -> None:
        self.assertRaises(
            RuntimeError, self.port.startListening, Recorder(), self.reactor
        )
