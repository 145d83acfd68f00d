"""The packet transport's PACKET_MMAP rings, for real: a ring port in one
namespace and a plain raw AF_PACKET socket (or a second port) in another,
joined by a veth pair (needs root; skips with the reason otherwise).

What a user checks: every frame sent arrives, whole and in order, however
the ring batches them; a frame the ring cannot hold is counted, not
delivered cut short; the port survives its interface going down and up;
and frames the kernel dropped for a full ring show as drops."""

from __future__ import annotations

import errno
import select
import socket
import time
from unittest import mock

from twisted.internet.protocol import DatagramProtocol
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from tests import netns
from vanet.mac import BROADCAST
from vanet.transport import PacketPort
from vanet.transport import ring as ring_module
from vanet.transport.ring import RingError
from vanet.transport.sockopts import raise_rcvbuf
from vanet.wire import ETHERTYPE

MARK = ETHERTYPE.to_bytes(2, "big")


class Recorder(DatagramProtocol):
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def datagramReceived(self, datagram, addr) -> None:
        self.frames.append(bytes(datagram))  # the view is the ring's


def readable(fileno: int, timeout: float = 2.0) -> bool:
    return bool(select.select([fileno], [], [], timeout)[0])


def frames_of(src: bytes, count: int, sizes=(60, 61, 600, 1499, 1514)) -> list:
    """``count`` distinct frames of several sizes, each numbered."""
    frames = []
    for i in range(count):
        size = sizes[i % len(sizes)]
        head = BROADCAST + src + MARK + i.to_bytes(4, "big")
        frames.append(head + bytes([i % 251]) * (size - len(head)))
    return frames


class RingLink:
    """Namespaces a and b, a veth pair; a ring port on b (driven by hand)
    and a raw AF_PACKET socket on a."""

    def __init__(self, testcase: SynchronousTestCase, **open_args) -> None:
        netns.skip_unless_root_netns()
        self.testcase = testcase
        version = getattr(testcase, "ring_version", ring_module.DEFAULT_VERSION)
        patch = mock.patch.object(ring_module, "DEFAULT_VERSION", version)
        patch.start()
        testcase.addCleanup(patch.stop)
        self.ns_a = netns.use(testcase, netns.namespace("vtra"))
        self.ns_b = netns.use(testcase, netns.namespace("vtrb"))
        self.if_a, self.if_b = netns.use(
            testcase, netns.veth_pair(self.ns_a, self.ns_b)
        )
        self.raw = netns.ns_socket(
            self.ns_a, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE)
        )
        testcase.addCleanup(self.raw.close)
        self.raw.bind((self.if_a, ETHERTYPE))
        raise_rcvbuf(self.raw)  # the peer's bursts must not overflow it
        self.raw_mac = self.raw.getsockname()[4]
        self.port = PacketPort.open(self.if_b, netns=self.ns_b, **open_args)
        testcase.addCleanup(self.port.stopListening)
        self.protocol = Recorder()
        self.port.startListening(self.protocol, _NoReactor())

    def receive_all(self, expected: int, timeout: float = 3.0) -> list[bytes]:
        """Drive the port's reads until ``expected`` frames came or time ran out."""
        deadline = time.monotonic() + timeout
        while len(self.protocol.frames) < expected and time.monotonic() < deadline:
            if readable(self.port.fileno(), 0.1):
                self.port.doRead()
        return self.protocol.frames


class _NoReactor:
    """Enough of a reactor for a port driven by hand: reading is never
    started, and the flush at the end of a turn is the test's to call
    (``port.flush()``, as the reactor would)."""

    def addReader(self, reader) -> None:
        pass

    def removeReader(self, reader) -> None:
        pass

    def removeWriter(self, writer) -> None:
        pass

    def callLater(self, delay, f, *args):
        return _Pending()


class _Pending:
    def active(self) -> bool:
        return True

    def cancel(self) -> None:
        pass


class RingSetUpTests(SynchronousTestCase):
    def test_auto_and_ring_use_rings_socket_does_not(self) -> None:
        link = RingLink(self, io="auto")
        self.assertEqual(link.port.io, "ring")
        netns.skip_unless_root_netns()
        for io, expected in (("ring", "ring"), ("socket", "socket")):
            port = PacketPort.open(link.if_b, netns=link.ns_b, io=io)
            self.addCleanup(port.stopListening)
            self.assertEqual(port.io, expected)

    def test_auto_falls_back_to_the_socket_and_says_so(self) -> None:
        netns.skip_unless_root_netns()
        ns = netns.use(self, netns.namespace("vtrf"))
        if_a, _ = netns.use(self, netns.veth_pair(ns, ns))
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        refused = OSError(errno.ENOPROTOOPT, "Protocol not available")
        with mock.patch.object(ring_module.PacketRings, "setup", side_effect=refused):
            port = PacketPort.open(if_a, netns=ns, io="auto")
            self.addCleanup(port.stopListening)
            with self.assertRaises(RingError) as caught:
                PacketPort.open(if_a, netns=ns, io="ring")
        self.assertEqual(port.io, "socket")
        said = [e for e in events if "falling back to socket" in e["log_format"]]
        self.assertEqual(len(said), 1)
        self.assertIn(if_a, str(caught.exception))
        self.assertIn("Protocol not available", str(caught.exception))

    def test_unknown_io_mode_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            PacketPort.open("lo", io="mmap")


class RingReceiveTests(SynchronousTestCase):
    def test_frames_received_equal_frames_sent(self) -> None:
        link = RingLink(self)
        sent = frames_of(link.raw_mac, 1000)
        for frame in sent:
            link.raw.send(frame)
        received = link.receive_all(len(sent))
        self.assertEqual(len(received), len(sent))
        self.assertEqual(received, sent)
        counters = link.port.counters.as_dict()
        self.assertEqual(counters["received"], len(sent))
        self.assertEqual(counters["received_bytes"], sum(map(len, sent)))
        self.assertEqual(counters["recv_dropped"], 0)

    def test_a_partly_filled_block_is_handed_over(self) -> None:
        # Three small frames fill a small part of a block: the kernel hands
        # the block over after its timeout, not when it is full.
        link = RingLink(self)
        sent = frames_of(link.raw_mac, 3, sizes=(60,))
        for frame in sent:
            link.raw.send(frame)
        self.assertTrue(readable(link.port.fileno(), 1.0), "block not handed over")
        link.port.doRead()
        self.assertEqual(link.protocol.frames, sent)

    def test_reads_stop_at_the_bound_and_resume_in_the_block(self) -> None:
        link = RingLink(self, max_frames_per_wakeup=7)
        sent = frames_of(link.raw_mac, 20, sizes=(100,))
        for frame in sent:
            link.raw.send(frame)
        self.assertTrue(readable(link.port.fileno()))
        time.sleep(0.05)  # all 20 in the ring
        link.port.doRead()
        self.assertEqual(link.protocol.frames, sent[:7])
        link.port.doRead()
        self.assertEqual(link.protocol.frames, sent[:14])
        self.assertEqual(link.receive_all(20), sent)

    def test_a_frame_larger_than_a_slot_is_counted_not_delivered(self) -> None:
        link = RingLink(self)
        largest = link.port._rings.geometry.frame_max
        # The rings were sized for the MTU at open; raise it past a block.
        for ifname, ns in ((link.if_a, link.ns_a), (link.if_b, link.ns_b)):
            with netns.ipr(ns) as ip:
                ip.link("set", index=ip.link_lookup(ifname=ifname)[0], mtu=65535)
        # The largest frame the link takes; more than a block holds.
        big = BROADCAST + link.raw_mac + MARK + bytes(65535)
        self.assertGreater(len(big), largest)
        after = frames_of(link.raw_mac, 1, sizes=(200,))[0]
        link.raw.send(big)
        link.raw.send(after)
        received = link.receive_all(1)
        self.assertEqual(received, [after])
        self.assertEqual(link.port.counters.oversize, 1)
        self.assertEqual(link.port.counters.received, 1)
        # And a frame too large for a transmit slot is refused and counted.
        with self.assertRaises(OSError) as caught:
            link.port.write(big)
        self.assertEqual(caught.exception.errno, errno.EMSGSIZE)
        self.assertEqual(link.port.counters.send_errors, 1)

    def test_a_full_ring_counts_the_kernels_drops(self) -> None:
        link = RingLink(self)
        g = link.port._rings.geometry
        # Far more 1514-byte frames than the ring holds, with nobody reading.
        count = 3 * g.rx_bytes // 1514
        sent = frames_of(link.raw_mac, count, sizes=(1514,))
        for frame in sent:
            link.raw.send(frame)
        time.sleep(0.2)
        received = link.receive_all(count, timeout=2.0)
        counters = link.port.counters.as_dict()
        self.assertGreater(counters["recv_dropped"], 0)
        self.assertLess(len(received), count)
        # Nothing vanished: each frame was either handed up or counted.
        self.assertEqual(counters["received"] + counters["recv_dropped"], count)
        # What did arrive came in order, a subsequence of what was sent.
        numbers = [int.from_bytes(f[14:18], "big") for f in received]
        self.assertEqual(numbers, sorted(numbers))


class RingTransmitTests(SynchronousTestCase):
    def test_frames_written_equal_frames_on_the_wire(self) -> None:
        link = RingLink(self)
        sent = frames_of(link.port.mac, 1000)
        link.raw.setblocking(False)
        got: list[bytes] = []
        # Bursts of 100, each flushed with one system call.
        for start in range(0, len(sent), 100):
            for frame in sent[start : start + 100]:
                link.port.write(memoryview(frame))
            self.assertFalse(readable(link.raw.fileno(), 0))  # not yet sent
            link.port.flush()
            while readable(link.raw.fileno(), 0.5):
                try:
                    while True:
                        got.append(link.raw.recv(65535))
                except BlockingIOError:
                    pass
                if len(got) >= start + 100:
                    break
        self.assertEqual(len(got), len(sent))
        self.assertTrue(got == sent, "frames differ or came out of order")
        self.assertEqual(link.port.counters.sent, len(sent))
        self.assertEqual(link.port.counters.sent_bytes, sum(map(len, sent)))

    def test_frames_written_in_place_equal_frames_on_the_wire(self) -> None:
        # A writer writes each frame into the lent transmit slot (no copy of
        # the port's own); mixed with plain writes, all go out in order.
        link = RingLink(self)
        sent = frames_of(link.port.mac, 600)
        link.raw.setblocking(False)
        got: list[bytes] = []
        for start in range(0, len(sent), 100):
            for i, frame in enumerate(sent[start : start + 100]):
                slot = link.port.tx_slot()
                if i % 3 == 2 or slot is None:
                    link.port.write(frame)
                    continue
                self.assertGreaterEqual(len(slot), len(frame))
                slot[: len(frame)] = frame
                link.port.commit(len(frame))
            link.port.flush()
            while readable(link.raw.fileno(), 0.5):
                try:
                    while True:
                        got.append(link.raw.recv(65535))
                except BlockingIOError:
                    pass
                if len(got) >= start + 100:
                    break
        self.assertTrue(got == sent, "frames differ or came out of order")
        self.assertEqual(link.port.counters.sent, len(sent))
        self.assertEqual(link.port.counters.sent_bytes, sum(map(len, sent)))

    def test_no_slot_is_lent_without_rings_or_once_closed(self) -> None:
        link = RingLink(self, io="socket")
        self.assertIsNone(link.port.tx_slot())
        link = RingLink(self)
        self.assertIsNotNone(link.port.tx_slot())
        link.port.stopListening()
        self.assertIsNone(link.port.tx_slot())


class RingDownUpTests(SynchronousTestCase):
    def test_the_ring_works_again_after_down_and_up(self) -> None:
        link = RingLink(self)
        port = link.port
        first = frames_of(link.raw_mac, 5)
        for frame in first:
            link.raw.send(frame)
        self.assertEqual(link.receive_all(5), first)

        with netns.ipr(link.ns_b) as ip:
            index = ip.link_lookup(ifname=link.if_b)[0]
            ip.link("set", index=index, state="down")
            # The socket reports ENETDOWN: one read clears it, and the
            # reactor is not woken again and again for it.
            self.assertTrue(readable(port.fileno(), 1.0))
            port.doRead()
            self.assertEqual(port.counters.read_errors, 1)
            self.assertFalse(readable(port.fileno(), 0.2))
            # A send while down is counted, not raised from write().
            port.write(frames_of(port.mac, 1)[0])
            port.flush()
            self.assertEqual(port.counters.send_errors, 1)
            ip.link("set", index=index, state="up")
        netns.wait_for(lambda: netns.link_info(link.if_a, link.ns_a).up, 5, "veth up")
        time.sleep(0.1)  # carrier

        again = frames_of(link.raw_mac, 50)
        for frame in again:
            link.raw.send(frame)
        self.assertEqual(link.receive_all(55), first + again)
        # And sending works again too, from the slot after the lost one.
        link.raw.setblocking(False)
        out = frames_of(port.mac, 3)
        for frame in out:
            port.write(frame)
        port.flush()
        got = []
        while len(got) < 3 and readable(link.raw.fileno(), 1.0):
            got.append(link.raw.recv(65535))
        self.assertEqual(got, out)


# The same with the block format (TPACKET_V3).
class V3RingSetUpTests(RingSetUpTests):
    ring_version = ring_module.TPACKET_V3


class V3RingReceiveTests(RingReceiveTests):
    ring_version = ring_module.TPACKET_V3


class V3RingTransmitTests(RingTransmitTests):
    ring_version = ring_module.TPACKET_V3


class V3RingDownUpTests(RingDownUpTests):
    ring_version = ring_module.TPACKET_V3
