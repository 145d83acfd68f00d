"""The udp transport: several ports on one host (loopback) exchange frames
over multicast, and each filters by dst as Ethernet would."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap

from twisted.internet import defer, reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from tests import netns
from vanet.interfaces import ILinkPort
from vanet.mac import BROADCAST, stable_local_mac
from vanet.transport import DEFAULT_GROUP, DEFAULT_PORT, UdpPort

# The default group; a random port so parallel runs and running nodes on
# this host do not hear each other.
GROUP = DEFAULT_GROUP


class Recorder(DatagramProtocol):
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.waiting: list[tuple[bytes, defer.Deferred]] = []

    def datagramReceived(self, datagram, addr) -> None:
        self.frames.append(datagram)
        for marker, d in list(self.waiting):
            if datagram.endswith(marker):
                self.waiting.remove((marker, d))
                d.callback(datagram)

    def frame_ending(self, marker: bytes) -> defer.Deferred:
        d = defer.Deferred()
        self.waiting.append((marker, d))
        return d


def frame(dst: bytes, src: bytes, marker: bytes) -> bytes:
    return dst + src + b"\x30\x30\x01\x00" + src + marker


class UdpPortTests(TestCase):
    timeout = 10

    def setUp(self) -> None:
        self.port_number = random.randint(20000, 60000)
        self.ports: dict[str, UdpPort] = {}
        self.protocols: dict[str, Recorder] = {}
        for name in ("a", "b", "c"):
            port = UdpPort.open(
                "lo", stable_local_mac(f"udp-{name}"), GROUP, self.port_number
            )
            protocol = Recorder()
            port.startListening(protocol, reactor)
            self.addCleanup(port.stopListening)
            self.ports[name] = port
            self.protocols[name] = protocol

    def test_interface_and_connection(self) -> None:
        self.assertTrue(verifyObject(ILinkPort, self.ports["a"]))
        self.assertIs(self.protocols["a"].transport, self.ports["a"])

    def test_receive_buffer_is_raised(self) -> None:
        self.assertGreater(self.ports["a"].rcvbuf, 212992)

    @defer.inlineCallbacks
    def test_broadcast_reaches_the_others_not_the_sender(self) -> None:
        a = self.ports["a"]
        sent = frame(BROADCAST, a.mac, b"hello")
        at_b = self.protocols["b"].frame_ending(b"hello")
        at_c = self.protocols["c"].frame_ending(b"hello")
        a.write(sent)
        self.assertEqual((yield at_b), sent)
        self.assertEqual((yield at_c), sent)
        # The sender's own copy (multicast loopback) was dropped, not delivered.
        yield self.ports["a"].stopListening()
        self.assertEqual(self.protocols["a"].frames, [])
        self.assertEqual(a.counters.own_dropped, 1)
        self.assertEqual(a.counters.sent, 1)

    @defer.inlineCallbacks
    def test_unicast_reaches_only_its_destination(self) -> None:
        a, b, c = self.ports["a"], self.ports["b"], self.ports["c"]
        a.write(frame(c.mac, a.mac, b"for-c"))
        # Datagrams arrive in order: once b has the second, it had the first.
        at_b = self.protocols["b"].frame_ending(b"for-b")
        at_c = self.protocols["c"].frame_ending(b"for-c")
        a.write(bytearray(frame(b.mac, a.mac, b"for-b")))
        yield at_b
        yield at_c
        self.assertEqual(self.protocols["b"].frames, [frame(b.mac, a.mac, b"for-b")])
        self.assertEqual(self.protocols["c"].frames, [frame(c.mac, a.mac, b"for-c")])
        self.assertEqual(b.counters.filtered, 1)
        self.assertEqual(b.counters.received, 1)

    @defer.inlineCallbacks
    def test_multicast_dst_is_delivered_and_runts_dropped(self) -> None:
        a, b = self.ports["a"], self.ports["b"]
        a.write(b"\x01\x00\x5e")
        at_b = self.protocols["b"].frame_ending(b"mcast")
        a.write(frame(bytes.fromhex("01005e000001"), a.mac, b"mcast"))
        yield at_b
        self.assertEqual(len(self.protocols["b"].frames), 1)
        self.assertEqual(b.counters.runts, 1)

    @defer.inlineCallbacks
    def test_jumbo_frames_and_bursts_arrive_whole_and_in_order(self) -> None:
        # A TAP MTU of 9000 makes frames larger than Twisted's 8 KiB default
        # read; a burst is drained on the wake-ups it takes, in order.
        a, b = self.ports["a"], self.ports["b"]
        sent = [
            frame(b.mac, a.mac, bytes([i % 256]) * size + b"#%d" % i)
            for i, size in enumerate([9000, 60, 1500, 20000] * 50)
        ]
        done = self.protocols["b"].frame_ending(b"#%d" % (len(sent) - 1))
        for f in sent:
            a.write(f)
        yield done
        self.assertEqual(len(self.protocols["b"].frames), len(sent))
        self.assertTrue(self.protocols["b"].frames == sent, "frames differ")

    def test_other_port_number_is_not_heard(self) -> defer.Deferred:
        return self.check_not_heard(GROUP, self.port_number + 1)

    def test_other_group_is_not_heard(self) -> defer.Deferred:
        return self.check_not_heard("239.255.48.49", self.port_number)

    @defer.inlineCallbacks
    def check_not_heard(self, group: str, port_number: int):
        """Ports x and y on ``group:port_number`` do not hear a."""
        others = []
        for name in ("x", "y"):
            port = UdpPort.open(
                "lo", stable_local_mac(f"udp-{name}"), group, port_number
            )
            protocol = Recorder()
            port.startListening(protocol, reactor)
            self.addCleanup(port.stopListening)
            others.append((port, protocol))
        (x, x_protocol), (y, _) = others
        a = self.ports["a"]
        at_b = self.protocols["b"].frame_ending(b"port-n")
        a.write(frame(BROADCAST, a.mac, b"port-n"))
        yield at_b
        # The kernel queued a's datagram to every member before b read it;
        # so when x hears y, x would have heard a already.
        at_x = x_protocol.frame_ending(b"port-n+1")
        y.write(frame(BROADCAST, y.mac, b"port-n+1"))
        yield at_x
        self.assertEqual(x_protocol.frames, [frame(BROADCAST, y.mac, b"port-n+1")])

    def test_write_before_listening_raises(self) -> None:
        port = UdpPort.open("lo", stable_local_mac("idle"), GROUP, self.port_number)
        self.assertRaises(OSError, port.write, frame(BROADCAST, port.mac, b"x"))


class UdpPortOpenTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        port = UdpPort.open("lo", stable_local_mac("n"))
        self.assertEqual((port.group, port.port), ("239.255.48.48", 12336))
        self.assertEqual((DEFAULT_GROUP, DEFAULT_PORT), ("239.255.48.48", 12336))

    def test_bad_settings_are_named(self) -> None:
        mac = stable_local_mac("n")
        for kwargs, word in (
            ({"interface": "vtnosuchif0", "mac": mac}, "vtnosuchif0"),
            ({"interface": "lo", "mac": mac, "group": "10.0.0.1"}, "10.0.0.1"),
            ({"interface": "lo", "mac": mac, "group": "nonsense"}, "nonsense"),
            ({"interface": "lo", "mac": mac, "port": 0}, "port"),
            ({"interface": "lo", "mac": BROADCAST}, "unicast"),
            ({"interface": "lo", "mac": b"\x02\x00"}, "6-byte"),
        ):
            with self.assertRaises(ValueError) as caught:
                UdpPort.open(**kwargs)
            self.assertIn(word, str(caught.exception))

    def test_interface_without_ipv4_is_refused(self) -> None:
        netns.skip_unless_root_netns()
        with netns.veth_pair() as (name, _):
            with self.assertRaises(ValueError) as caught:
                UdpPort.open(name, stable_local_mac("n"))
        self.assertIn("no IPv4 address", str(caught.exception))
        self.assertIn(name, str(caught.exception))


# A node process on its own: open a UdpPort on argv[2] and either broadcast a
# frame every 50 ms (send) or print the first frame it gets (receive).
NODE_SCRIPT = textwrap.dedent(
    """
    import sys
    from twisted.internet import reactor, task
    from twisted.internet.protocol import DatagramProtocol
    from vanet.mac import BROADCAST, stable_local_mac
    from vanet.transport import UdpPort

    role, interface, port_number = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class Print(DatagramProtocol):
        def datagramReceived(self, frame, addr):
            print(frame.hex(), flush=True)
            reactor.stop()

    port = UdpPort.open(interface, stable_local_mac(role), port=port_number)
    port.startListening(Print(), reactor)
    if role == "send":
        frame = BROADCAST + port.mac + bytes.fromhex("30300100") + b"across"
        task.LoopingCall(port.write, frame).start(0.05)
    else:
        print("listening", flush=True)
    reactor.callLater(5, reactor.stop)
    reactor.run()
    """
)


class UdpAcrossNamespacesTests(SynchronousTestCase):
    """Two node processes, each in its own namespace on one bridged segment."""

    def test_frame_crosses_the_segment(self) -> None:
        netns.skip_unless_root_netns()
        addresses = {"a": "10.213.9.1/24", "b": "10.213.9.2/24"}
        seg = netns.use(self, netns.segment(["a", "b"], addresses))
        port_number = str(random.randint(20000, 60000))

        def node(role: str, name: str) -> subprocess.Popen:
            process = subprocess.Popen(
                ["ip", "netns", "exec", seg.namespaces[name], sys.executable, "-c"]
                + [NODE_SCRIPT, role, seg.interfaces[name], port_number],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self.addCleanup(process.wait)
            self.addCleanup(process.kill)
            return process

        receiver = node("receive", "b")
        self.assertEqual(receiver.stdout.readline().strip(), "listening")
        sender = node("send", "a")
        out, err = receiver.communicate(timeout=10)
        sender.kill()
        frame = bytes.fromhex(out.strip() or "00")
        self.assertEqual(frame[6:12], stable_local_mac("send"), err)
        self.assertEqual(frame[:6], BROADCAST)
        self.assertEqual(frame[12:], bytes.fromhex("30300100") + b"across")
