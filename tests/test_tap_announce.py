"""The TAP's gratuitous ARP (RFC 5227 §3 "ARP Announcement"): its bytes,
and when a node sends it: at start, and each time an OBU gains or changes
its upstream, so that hosts behind the RSU hear it (issue 9, item 10)."""

from __future__ import annotations

import struct

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import BROADCAST
from vanet.node.config import node_config_from_mapping
from vanet.node.factory import NodeFactory
from vanet.node.service import NodeService
from vanet.tap.arp import announcement
from vanet.tap.memory import MemoryTap
from vanet.transport.memory import Hub, MemoryPort

TAP_MAC = bytes.fromhex("02aabbccdd01")
PERIOD_S = 0.2


class AnnouncementFrameTests(SynchronousTestCase):
    def test_layout(self):
        frame = announcement(TAP_MAC, "10.48.0.11/24")
        dst, src, ethertype = struct.unpack("!6s6sH", frame[:14])
        self.assertEqual((dst, src, ethertype), (BROADCAST, TAP_MAC, 0x0806))
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack(
            "!HHBBH6s4s6s4s", frame[14:]
        )
        self.assertEqual((htype, ptype, hlen, plen, op), (1, 0x0800, 6, 4, 1))
        self.assertEqual((sha, tha), (TAP_MAC, bytes(6)))
        self.assertEqual(spa, bytes([10, 48, 0, 11]))
        self.assertEqual(tpa, spa)  # "who has my own address": an announcement

    def test_nothing_to_announce(self):
        self.assertIsNone(announcement(TAP_MAC, None))
        self.assertIsNone(announcement(TAP_MAC, "fd00::1/64"))


def is_announcement_of(frame: bytes, mac: bytes) -> bool:
    return frame[12:14] == b"\x08\x06" and frame[6:12] == mac


class AnnounceOverTheOverlayTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.hub = Hub()
        self.taps: dict[str, MemoryTap] = {}

    def add(self, role: str, name: str, announce: bool = True) -> NodeService:
        config = node_config_from_mapping(
            {
                "node": {"name": name},
                "link": {"transport": "memory"},
                "tap": {"address": f"10.48.0.{len(self.taps) + 1}/24"},
                "routing": {"hello_period_ms": int(PERIOD_S * 1000)},
                "control": {"listen": "none"},
            },
            f"{name}.test",
            role,
        )
        node = NodeService(
            NodeFactory(config),
            self.clock,
            open_port=lambda c: MemoryPort(name, c.node.mac, self.hub),
            open_tap=lambda c: self.taps.setdefault(name, MemoryTap(name, c.tap.mac)),
            announce=announce,
        )
        node.privilegedStartService()
        node.startService()
        self.addCleanup(node.stopService)
        return node

    def run_for(self, seconds: float) -> None:
        steps = int(round(seconds / (PERIOD_S / 4)))
        self.clock.pump([PERIOD_S / 4] * steps)

    def announcements_at(self, host: str, mac: bytes) -> int:
        return sum(is_announcement_of(f, mac) for f in self.taps[host].written)

    def test_the_rsus_host_hears_the_obu_once_it_has_an_upstream(self):
        self.add("rsu", "rsu")
        obu = self.add("obu", "obu1")
        tap_mac = obu.config.tap.mac
        self.assertEqual(self.taps["obu1"].mac, tap_mac)
        self.run_for(4 * PERIOD_S)
        self.assertIsNotNone(obu.engine.status()["upstream"])
        # One announcement got through: the one sent when the upstream came.
        self.assertEqual(self.announcements_at("rsu", tap_mac), 1)
        self.run_for(10 * PERIOD_S)
        self.assertEqual(self.announcements_at("rsu", tap_mac), 1, "not repeated")

    def test_off_by_default(self):
        self.add("rsu", "rsu")
        obu = self.add("obu", "obu1", announce=False)
        self.run_for(4 * PERIOD_S)
        self.assertEqual(self.announcements_at("rsu", obu.config.tap.mac), 0)
