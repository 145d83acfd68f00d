"""The packet transport for real: two namespaces joined by a veth pair, a
PacketPort in each (needs root; skips with the reason otherwise)."""

from __future__ import annotations

import select
import socket

from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from tests import netns
from vanet.interfaces import ILinkPort
from vanet.mac import BROADCAST, parse_mac
from vanet.transport import PacketPort
from vanet.wire import parse

# A heartbeat exactly as docs/protocol.md §2 lays it out (46 bytes).
HEARTBEAT_BODY = (
    (1234).to_bytes(16, "big")
    + (7).to_bytes(4, "big")
    + (1).to_bytes(4, "big")
    + bytes.fromhex("020000000099")
)


class Recorder(DatagramProtocol):
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.waiting: list[defer.Deferred] = []

    def datagramReceived(self, datagram, addr) -> None:
        # A ring port hands a view valid during this call only: keep a copy.
        datagram = bytes(datagram)
        self.frames.append(datagram)
        waiting, self.waiting = self.waiting, []
        for d in waiting:
            d.callback(datagram)

    def next_frame(self) -> defer.Deferred:
        d = defer.Deferred()
        self.waiting.append(d)
        return d


def wait_readable(fileno: int, timeout: float = 2.0) -> bool:
    return bool(select.select([fileno], [], [], timeout)[0])


def heartbeat(dst: bytes, src: bytes) -> bytes:
    return dst + src + b"\x30\x30\x00\x00" + HEARTBEAT_BODY


class VethPair:
    """Two namespaces, a veth pair between them, a PacketPort in each."""

    def __init__(self, testcase: SynchronousTestCase, io: str = "auto") -> None:
        netns.skip_unless_root_netns()
        self.ns_a = netns.use(testcase, netns.namespace("vtpa"))
        self.ns_b = netns.use(testcase, netns.namespace("vtpb"))
        self.if_a, self.if_b = netns.use(
            testcase, netns.veth_pair(self.ns_a, self.ns_b)
        )
        self.port_a = PacketPort.open(self.if_a, netns=self.ns_a, io=io)
        testcase.addCleanup(self.port_a.stopListening)
        self.port_b = PacketPort.open(self.if_b, netns=self.ns_b, io=io)
        testcase.addCleanup(self.port_b.stopListening)


class PacketPortTests(SynchronousTestCase):
    """With ``io = socket``; ``RingPacketPortTests`` runs them on rings.
    The reactor is not run: a ring port's writes are flushed by hand, as
    the reactor does at the end of the turn that wrote them."""

    io = "socket"

    def setUp(self) -> None:
        self.link = VethPair(self, self.io)
        self.assertEqual(self.link.port_a.io, self.io)
        for port in (self.link.port_a, self.link.port_b):
            write = port.write

            def write_now(frame, port=port, write=write) -> None:
                write(frame)
                port.flush()

            port.write = write_now
        self.protocol_a, self.protocol_b = Recorder(), Recorder()
        self.link.port_a.startListening(self.protocol_a, reactor)
        self.link.port_b.startListening(self.protocol_b, reactor)
        # Driven by hand: keep the real reactor out of it.
        for port in (self.link.port_a, self.link.port_b):
            port._reader.stopReading()

    def receive(self, port: PacketPort) -> None:
        self.assertTrue(wait_readable(port.fileno()), "no frame arrived within 2 s")
        port.doRead()

    def test_interface(self) -> None:
        self.assertTrue(verifyObject(ILinkPort, self.link.port_a))

    def test_mac_is_the_interface_mac(self) -> None:
        info = netns.link_info(self.link.if_a, self.link.ns_a)
        self.assertEqual(self.link.port_a.mac, parse_mac(info.mac))
        self.assertEqual(self.link.port_a.mtu, info.mtu)

    def test_receive_buffer_is_raised(self) -> None:
        # A ring replaces the socket buffer: it must hold at least as much.
        port = self.link.port_a
        self.assertEqual(port.io, self.io)
        if self.io == "ring":
            geometry = port._rings.geometry
            held = geometry.rx_block_size * geometry.rx_block_nr
            self.assertGreaterEqual(held, 1024 * 1024)
        else:
            self.assertGreaterEqual(port.rcvbuf, 1024 * 1024)

    def test_frame_arrives_intact(self) -> None:
        a, b = self.link.port_a, self.link.port_b
        sent = heartbeat(BROADCAST, a.mac)
        a.write(sent)
        self.receive(b)
        self.assertEqual(self.protocol_b.frames, [sent])
        (message,) = parse(self.protocol_b.frames[0])
        self.assertEqual(message.kind, "heartbeat")
        self.assertEqual((message.seq, message.hops), (7, 1))
        self.assertEqual(b.counters.received, 1)
        self.assertEqual(a.counters.sent, 1)

    def test_both_ways_and_full_size(self) -> None:
        a, b = self.link.port_a, self.link.port_b
        big = b.mac + a.mac + b"\x30\x30\x01\x00" + a.mac + bytes(range(256)) * 5
        big = big[: 14 + a.mtu]
        a.write(big)
        self.receive(b)
        back = a.mac + b.mac + b"\x30\x30\x01\x01" + b"x" * 40
        b.write(bytearray(back))
        self.receive(a)
        self.assertEqual(self.protocol_b.frames, [big])
        self.assertEqual(self.protocol_a.frames, [back])

    def test_other_ethertype_is_not_received(self) -> None:
        a, b = self.link.port_a, self.link.port_b
        from pyroute2 import netns as pyroute2_netns

        raw = pyroute2_netns.create_socket(
            self.link.ns_a, socket.AF_PACKET, socket.SOCK_RAW, 0, flags=0
        )
        self.addCleanup(raw.close)
        raw.bind((self.link.if_a, 0))
        foreign = b.mac + a.mac + b"\x88\xb5" + b"not ours" * 4
        raw.send(foreign)
        ours = heartbeat(b.mac, a.mac)
        a.write(ours)
        self.receive(b)
        # The foreign frame went first on the same link: had the port taken
        # it, it would have come first.
        self.assertEqual(self.protocol_b.frames, [ours])

    def test_own_transmissions_are_not_received(self) -> None:
        a = self.link.port_a
        a.write(heartbeat(BROADCAST, a.mac))
        self.assertFalse(wait_readable(a.fileno(), 0.2))
        a.doRead()
        self.assertEqual(self.protocol_a.frames, [])

    def test_write_after_stop_raises(self) -> None:
        self.link.port_a.stopListening()
        self.assertRaises(
            OSError, self.link.port_a.write, heartbeat(BROADCAST, b"\2" * 6)
        )


class RingPacketPortTests(PacketPortTests):
    io = "ring"


class PacketPortOpenTests(SynchronousTestCase):
    def test_unknown_interface_is_named(self) -> None:
        netns.skip_unless_root_netns()
        with self.assertRaises(OSError) as caught:
            PacketPort.open("vtnosuchif0")
        self.assertIn("vtnosuchif0", str(caught.exception))


class PacketPortReactorTests(TestCase):
    """The same, read and written by the running reactor."""

    io = "socket"

    @defer.inlineCallbacks
    def test_reactor_reads_frames(self) -> None:
        link = VethPair(self, self.io)
        protocol_b = Recorder()
        link.port_a.startListening(Recorder(), reactor)
        link.port_b.startListening(protocol_b, reactor)
        arrived = protocol_b.next_frame()
        sent = heartbeat(link.port_b.mac, link.port_a.mac)
        link.port_a.write(sent)
        received = yield arrived
        self.assertEqual(received, sent)


class RingPacketPortReactorTests(PacketPortReactorTests):
    io = "ring"


class NetnsHelperTests(SynchronousTestCase):
    def test_segment_is_removed_even_on_failure(self) -> None:
        netns.skip_unless_root_netns()
        from pyroute2 import netns as pyroute2_netns

        with self.assertRaises(RuntimeError):
            with netns.segment(["rsu", "obu"]) as seg:
                created = set(seg.namespaces.values()) | {seg.bridge_namespace}
                self.assertTrue(created <= set(pyroute2_netns.listnetns()))
                port = PacketPort.open(
                    seg.interfaces["rsu"], netns=seg.namespaces["rsu"]
                )
                port.stopListening()
                raise RuntimeError("the test body failed")
        self.assertFalse(created & set(pyroute2_netns.listnetns()))
