"""A real TAP: created and configured with pyroute2, read and written
through its fd, checked from the host side with a raw socket (needs root
and /dev/net/tun; skips with the reason otherwise)."""

from __future__ import annotations

import select
import socket

from twisted.internet import defer, reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from tests import netns
from vanet.interfaces import ITapDevice
from vanet.mac import parse_mac
from vanet.tap import LinuxTap, TapError

ETH_P_ALL = 0x0003
TEST_ETHERTYPE = b"\x88\xb5"  # IEEE local experimental
HOST_MAC = bytes.fromhex("020000aa0001")


def wait_readable(fileno: int, timeout: float = 2.0) -> bool:
    return bool(select.select([fileno], [], [], timeout)[0])


class TapCase:
    def open_tap(self, testcase, **kwargs) -> LinuxTap:
        netns.skip_unless_tun()
        name = netns.unique_name("vttap")
        tap = LinuxTap.open(name, **kwargs)
        testcase.addCleanup(tap.close)
        return tap

    def host_socket(self, testcase, tap: LinuxTap) -> socket.socket:
        """A raw socket on the host side of the TAP, seeing every frame."""
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        testcase.addCleanup(sock.close)
        sock.bind((tap.name, ETH_P_ALL))
        sock.setblocking(False)
        return sock


class LinuxTapTests(SynchronousTestCase, TapCase):
    def setUp(self) -> None:
        self.tap = self.open_tap(self, mtu=1436, address="10.213.7.1/24")

    def test_interface(self) -> None:
        self.assertTrue(verifyObject(ITapDevice, self.tap))

    def test_configured(self) -> None:
        info = netns.link_info(self.tap.name)
        self.assertEqual(info.mtu, 1436)
        self.assertTrue(info.up)
        self.assertEqual(parse_mac(info.mac), self.tap.mac)
        # IPv6 is off (no link-local address, no router solicitations).
        self.assertEqual(info.addresses, ("10.213.7.1/24",))

    def test_host_frame_arrives_through_start_reading(self) -> None:
        delivered: list[bytes] = []
        self.tap.startReading(delivered.append, reactor)
        self.tap._reader.stopReading()  # driven by hand below
        host = self.host_socket(self, self.tap)
        sent = self.tap.mac + HOST_MAC + TEST_ETHERTYPE + b"from the host" * 3
        host.send(sent)
        self.assertTrue(wait_readable(self.tap.fileno()), "nothing read in 2 s")
        self.tap.doRead()
        self.assertIn(sent, delivered)
        self.assertGreaterEqual(self.tap.counters.received, 1)

    def test_write_reaches_the_host(self) -> None:
        host = self.host_socket(self, self.tap)
        sent = HOST_MAC + b"\x02\x00\x00\x00\x00\x09" + TEST_ETHERTYPE + b"to host" * 4
        self.tap.write(memoryview(bytearray(sent)))
        self.assertTrue(wait_readable(host.fileno()), "host saw nothing in 2 s")
        seen = []
        while True:
            try:
                seen.append(host.recv(4096))
            except BlockingIOError:
                break
        self.assertIn(sent, seen)
        self.assertEqual(self.tap.counters.sent, 1)

    def test_runt_write_is_dropped_and_counted(self) -> None:
        self.tap.write(b"\x02\x00")
        self.assertEqual(self.tap.counters.runts, 1)
        self.assertEqual(self.tap.counters.sent, 0)

    def test_write_to_a_down_device_raises(self) -> None:
        with netns.ipr() as ip:
            ip.link("set", index=ip.link_lookup(ifname=self.tap.name)[0], state="down")
        frame = HOST_MAC + HOST_MAC + TEST_ETHERTYPE + b"while down"
        self.assertRaises(OSError, self.tap.write, frame)
        self.assertEqual(self.tap.counters.send_errors, 1)

    def test_close_removes_the_device(self) -> None:
        name = self.tap.name
        self.assertTrue(netns.link_exists(name))
        self.tap.close()
        self.assertFalse(netns.link_exists(name))
        self.tap.close()  # idempotent


class LinuxTapOpenTests(SynchronousTestCase, TapCase):
    def test_no_address(self) -> None:
        tap = self.open_tap(self, address=None, mtu=1500)
        info = netns.link_info(tap.name)
        self.assertEqual((info.mtu, info.addresses, info.up), (1500, (), True))

    def test_bad_arguments_are_named(self) -> None:
        for kwargs, word in (
            ({"name": "a-name-that-is-too-long"}, "a-name-that-is-too-long"),
            ({"name": "vtok", "mtu": 20}, "mtu 20"),
            ({"name": "vtok", "address": "10.0.0.1/33"}, "10.0.0.1/33"),
        ):
            with self.assertRaises(ValueError) as caught:
                LinuxTap.open(**kwargs)
            self.assertIn(word, str(caught.exception))

    def test_name_of_a_non_tap_device_is_refused(self) -> None:
        netns.skip_unless_tun()
        with self.assertRaises(TapError) as caught:
            LinuxTap.open("lo", address=None)
        self.assertIn("'lo'", str(caught.exception))
        self.assertTrue(netns.link_exists("lo"))


class LinuxTapReactorTests(TestCase, TapCase):
    timeout = 10

    def test_reactor_reads_a_ping(self) -> None:
        """The host pings an address behind the TAP: its ARP request comes
        out of the TAP, read by the running reactor."""
        tap = self.open_tap(self, address="10.213.8.1/24")
        arrived = defer.Deferred()

        def deliver(frame: bytes) -> None:
            # ARP request (EtherType 0x0806) for 10.213.8.2.
            if frame[12:14] == b"\x08\x06" and frame[38:42] == bytes([10, 213, 8, 2]):
                if not arrived.called:
                    arrived.callback(frame)

        tap.startReading(deliver, reactor)
        ping = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(ping.close)
        ping.sendto(b"probe", ("10.213.8.2", 9))

        def check(frame: bytes) -> None:
            self.assertEqual(frame[:6], b"\xff" * 6)
            self.assertEqual(frame[6:12], tap.mac)

        return arrived.addCallback(check)
