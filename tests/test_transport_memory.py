"""MemoryPort and Hub: in-memory links with Ethernet-like delivery."""

from __future__ import annotations

from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.interfaces import ILinkPort, IMedium
from vanet.mac import BROADCAST, stable_local_mac
from vanet.transport import Hub, MemoryPort


class Recorder(DatagramProtocol):
    def __init__(self) -> None:
        self.frames: list[tuple[bytes, object]] = []
        self.stopped = False

    def datagramReceived(self, datagram, addr) -> None:
        self.frames.append((datagram, addr))

    def stopProtocol(self) -> None:
        self.stopped = True


def frame(dst: bytes, src: bytes, body: bytes = b"body") -> bytes:
    return dst + src + b"\x30\x30\x01\x00" + body


class HubTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = Hub()
        self.ports = {}
        self.protocols = {}
        for name in ("a", "b", "c"):
            port = MemoryPort(name, stable_local_mac(name), self.hub)
            protocol = Recorder()
            port.startListening(protocol)
            self.ports[name] = port
            self.protocols[name] = protocol

    def received(self, name: str) -> list[bytes]:
        return [data for data, _ in self.protocols[name].frames]

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(ILinkPort, self.ports["a"]))
        self.assertTrue(verifyObject(IMedium, self.hub))

    def test_make_connection(self) -> None:
        self.assertIs(self.protocols["a"].transport, self.ports["a"])

    def test_broadcast_reaches_every_other_port(self) -> None:
        a = self.ports["a"]
        sent = frame(BROADCAST, a.mac)
        a.write(sent)
        self.assertEqual(self.received("b"), [sent])
        self.assertEqual(self.received("c"), [sent])
        self.assertEqual(self.received("a"), [])
        self.assertEqual(self.protocols["b"].frames[0][1], None)

    def test_multicast_is_group(self) -> None:
        multicast = bytes.fromhex("01005e000001")
        self.ports["a"].write(frame(multicast, self.ports["a"].mac))
        self.assertEqual(len(self.received("b")), 1)
        self.assertEqual(len(self.received("c")), 1)

    def test_unicast_reaches_only_its_destination(self) -> None:
        a, c = self.ports["a"], self.ports["c"]
        sent = frame(c.mac, a.mac)
        a.write(sent)
        self.assertEqual(self.received("c"), [sent])
        self.assertEqual(self.received("b"), [])

    def test_write_copies_a_reused_buffer(self) -> None:
        a, b = self.ports["a"], self.ports["b"]
        buf = bytearray(frame(b.mac, a.mac, b"first"))
        a.write(memoryview(buf))
        buf[-5:] = b"later"
        self.assertEqual(self.received("b"), [frame(b.mac, a.mac, b"first")])
        self.assertIs(type(self.received("b")[0]), bytes)

    def test_counters_read_as_a_mapping(self) -> None:
        a, b = self.ports["a"], self.ports["b"]
        a.write(frame(b.mac, a.mac))
        self.assertEqual(dict(b.counters)["received"], 1)
        self.assertEqual(dict(b.counters), b.counters.as_dict())

    def test_counters(self) -> None:
        a, b = self.ports["a"], self.ports["b"]
        a.write(frame(b.mac, a.mac, b"12345"))
        self.assertEqual(a.counters.sent, 1)
        self.assertEqual(a.counters.sent_bytes, 21)
        self.assertEqual(b.counters.received, 1)
        self.assertEqual(b.counters.received_bytes, 21)

    def test_stop_listening_detaches_and_stops_protocol(self) -> None:
        a, b = self.ports["a"], self.ports["b"]
        b.stopListening()
        self.assertTrue(self.protocols["b"].stopped)
        self.assertNotIn(b, self.hub.ports)
        a.write(frame(BROADCAST, a.mac))
        self.assertEqual(self.received("b"), [])
        self.assertEqual(self.received("c"), [frame(BROADCAST, a.mac)])

    def test_frame_to_stopped_port_is_counted(self) -> None:
        port = MemoryPort("idle", stable_local_mac("idle"), self.hub)
        port.receive(frame(BROADCAST, self.ports["a"].mac))
        self.assertEqual(port.counters.filtered, 1)
        self.assertEqual(port.counters.received, 0)

    def test_receiver_error_does_not_reach_the_sender(self) -> None:
        b = self.ports["b"]

        def broken(datagram, addr):
            raise RuntimeError("bug in a receiver")

        self.protocols["b"].datagramReceived = broken
        self.ports["a"].write(frame(BROADCAST, self.ports["a"].mac))
        self.assertEqual(b.counters.handler_errors, 1)
        self.assertEqual(len(self.received("c")), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_runt_frame_is_not_delivered(self) -> None:
        self.ports["a"].write(b"\xff\xff")
        self.assertEqual(self.received("b"), [])
        self.assertEqual(self.hub.frames_transmitted, 1)


class RelayingRecorder(Recorder):
    """Rebroadcasts every frame it receives once, as a relay would."""

    def datagramReceived(self, datagram, addr) -> None:
        super().datagramReceived(datagram, addr)
        if not datagram.endswith(b"relayed"):
            self.transport.write(
                BROADCAST + self.transport.mac + datagram[12:] + b"relayed"
            )


class HubOrderTests(SynchronousTestCase):
    def test_frames_arrive_in_the_order_they_were_sent(self) -> None:
        hub = Hub()
        a, b, c = (MemoryPort(n, stable_local_mac(n), hub) for n in "abc")
        a.startListening(Recorder())
        b.startListening(RelayingRecorder())
        c_protocol = Recorder()
        c.startListening(c_protocol)
        original = frame(BROADCAST, a.mac)
        a.write(original)
        received = [data for data, _ in c_protocol.frames]
        # b's rebroadcast was sent while b handled the original: it must not
        # overtake the original on its way to c.
        self.assertEqual(received[0], original)
        self.assertEqual(received[1][:12], BROADCAST + b.mac)
        self.assertTrue(received[1].endswith(b"relayed"))
