"""Hardened input (docs/protocol.md §3.6): every refusal is counted under
its drop reason and changes nothing a user would check: upstream, gateway,
routes, the RSUs and seqs held, the learnt period. A real restart and a
real seq wrap are still followed."""

from __future__ import annotations

import attrs
from twisted.trial.unittest import SynchronousTestCase

from vanet.dataplane.obu import ObuDataPlane
from vanet.dataplane.rsu import RsuDataPlane
from vanet.discovery import load_strategy
from vanet.node.config import ConfigError, node_config_from_mapping
from vanet.node.testing import heartbeat_view, reply_view
from vanet.routing.actions import SendHeartbeat
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.rsu import RsuRoutingCore
from vanet.wire import parse, writer_for

RSU = bytes.fromhex("020000000001")
OTHER = bytes.fromhex("020000000002")
N1 = bytes.fromhex("020000000011")
N2 = bytes.fromhex("020000000013")
ME = bytes.fromhex("020000000012")
V = bytes.fromhex("020000000021")
BROADCAST = b"\xff" * 6
GROUP = bytes.fromhex("010000000005")
ZERO = bytes(6)
WRAP = (1 << 32) - 1


def snapshot(core, now):
    """What a refused frame must leave as it was."""
    status = core.status(now)
    return {
        "upstream": core.upstream,
        "gateway": core.gateway,
        "candidates": core.upstream_candidates,
        "routes": status["routes"],
        "sources": {
            mac: (s["newest_seq"], s["period_s"], s["live_neighbours"])
            for mac, s in status["sources"].items()
        },
        "memory": core.memory(),
    }


class ObuRefusalTests(SynchronousTestCase):
    def setUp(self):
        self.core = ObuRoutingCore(ME, load_strategy(), default_period=1.0)
        for seq in range(4):
            self.core.on_message(
                heartbeat_view(N1, RSU, seq, hops=1, duration_ms=1000 * seq), seq
            )
        self.core.on_message(
            reply_view(N2, ME, RSU, 3, V, hops=2, duration_ms=3000), 3.01
        )
        self.core.tick(3.02)
        self.now = 3.5
        self.before = snapshot(self.core, self.now)
        self.assertEqual(self.before["upstream"], N1)
        self.assertEqual(self.before["sources"]["02:00:00:00:00:01"][0], 3)

    def refused(self, msg, reason):
        actions = self.core.on_message(msg, self.now)
        self.core.tick(self.now + 0.01)
        self.assertEqual(actions, [])
        self.assertEqual(self.core.drops[reason], 1, dict(self.core.drops))
        self.assertEqual(snapshot(self.core, self.now), self.before)

    def test_heartbeat_with_hops_0(self):
        self.refused(heartbeat_view(N2, OTHER, 0, hops=0), "bad_hops")

    def test_heartbeat_from_a_group_or_zero_source(self):
        for n, bad in enumerate((BROADCAST, GROUP, ZERO), 1):
            self.core.on_message(heartbeat_view(N2, bad, 0, hops=1), self.now)
            self.assertEqual(self.core.drops["bad_source"], n)
        self.core.on_message(heartbeat_view(BROADCAST, RSU, 4, duration_ms=4000), 3.5)
        self.core.tick(self.now + 0.01)
        self.assertEqual(self.core.drops["bad_source"], 4)
        self.assertEqual(snapshot(self.core, self.now), self.before)

    def test_reply_with_hops_0(self):
        self.refused(
            reply_view(N2, ME, RSU, 3, V, hops=0, duration_ms=3000), "bad_hops"
        )

    def test_reply_for_a_group_source(self):
        self.refused(
            reply_view(N2, ME, BROADCAST, 3, V, hops=2, duration_ms=3000),
            "bad_source",
        )

    def test_reply_from_a_group_or_zero_sender(self):
        self.refused(
            reply_view(N2, ME, RSU, 3, ZERO, hops=2, duration_ms=3000), "bad_sender"
        )

    def test_one_seq_jump_is_not_believed(self):
        for jump in (3 + 1000, 0xFFFFFFFE):
            self.core.on_message(
                heartbeat_view(N2, RSU, jump, duration_ms=4000), self.now
            )
        self.core.tick(self.now + 0.01)
        # 0xFFFFFFFE is 5 behind seq 3 by serial arithmetic: older than
        # anything held.
        self.assertEqual(self.core.drops["seq_jump"], 1)
        self.assertEqual(self.core.drops["old_seq"], 1)
        self.assertEqual(snapshot(self.core, self.now), self.before)
        # The real RSU's next heartbeat is followed as ever.
        actions = self.core.on_message(heartbeat_view(N1, RSU, 4, duration_ms=4000), 4)
        self.assertTrue(actions)
        self.assertEqual(
            self.core.status(4)["sources"]["02:00:00:00:00:01"]["newest_seq"], 4
        )
        self.assertEqual(self.core.upstream, N1)
        self.assertEqual(self.core.counters["source_restarted"], 0)

    def test_seq_jump_reason(self):
        self.refused(heartbeat_view(N2, RSU, 1003, duration_ms=4000), "seq_jump")

    def test_absurd_duration(self):
        self.refused(heartbeat_view(N2, RSU, 4, duration_ms=1 << 100), "bad_duration")

    def test_duration_not_moving_forward(self):
        self.refused(heartbeat_view(N2, RSU, 4, duration_ms=3000), "bad_duration")

    def test_invented_rsu_cannot_teach_an_absurd_period(self):
        core = ObuRoutingCore(ME, load_strategy(), default_period=1.0)
        core.on_message(heartbeat_view(N2, OTHER, 0, duration_ms=0), 0.0)
        core.on_message(heartbeat_view(N2, OTHER, 1, duration_ms=1 << 100), 1.0)
        self.assertEqual(core.drops["bad_duration"], 1)
        self.assertEqual(core.period(OTHER), 1.0)

    def test_learnt_period_is_clamped(self):
        core = ObuRoutingCore(ME, load_strategy(), default_period=1.0)
        core.on_message(heartbeat_view(N2, OTHER, 0, duration_ms=0), 0.0)
        core.on_message(heartbeat_view(N2, OTHER, 1, duration_ms=6000), 6.0)
        self.assertEqual(core.period(OTHER), 4.0)
        self.assertEqual(core.counters["period_clamped"], 1)


class RestartAndWrapTests(SynchronousTestCase):
    def test_restart_is_followed_within_two_periods(self):
        core = ObuRoutingCore(ME, load_strategy(), default_period=1.0)
        for seq in range(50, 60):
            core.on_message(heartbeat_view(N1, RSU, seq, duration_ms=1000 * seq), seq)
        # The RSU restarts: seq 0 after 20 ms, then seq 1.
        self.assertEqual(
            core.on_message(heartbeat_view(N1, RSU, 0, duration_ms=20), 60), []
        )
        self.assertEqual(core.counters["source_restarted"], 0)
        actions = core.on_message(heartbeat_view(N1, RSU, 1, duration_ms=1020), 61)
        self.assertEqual(core.counters["source_restarted"], 1)
        sent = [a for a in actions if isinstance(a, SendHeartbeat)]
        self.assertEqual([(a.seq, a.hops) for a in sent], [(0, 2)])
        self.assertEqual(
            core.status(61)["sources"]["02:00:00:00:00:01"]["newest_seq"], 1
        )
        self.assertEqual(core.upstream, N1)

    def test_seq_wraps(self):
        core = ObuRoutingCore(ME, load_strategy(), default_period=1.0, hello_history=4)
        seqs = [WRAP - 2, WRAP - 1, WRAP, 0, 1, 2]
        for i, seq in enumerate(seqs):
            actions = core.on_message(
                heartbeat_view(N1, RSU, seq, duration_ms=10_000 + 1000 * i), i
            )
            self.assertTrue(actions, seq)
        self.assertEqual(dict(core.drops), {})
        self.assertEqual(core.counters["source_restarted"], 0)
        self.assertEqual(
            core.status(5)["sources"]["02:00:00:00:00:01"]["newest_seq"], 2
        )
        # Replies to seqs on both sides of the wrap are known.
        for seq, i in ((WRAP, 2), (1, 4)):
            core.on_message(
                reply_view(N2, ME, RSU, seq, V, hops=2, duration_ms=10_000 + 1000 * i),
                5,
            )
        self.assertEqual(core.counters["reply_received"], 2)
        self.assertEqual(core.upstream, N1)

    def test_rsu_seq_wraps(self):
        core = RsuRoutingCore(RSU, load_strategy(), started=0.0)
        core._next_seq = WRAP
        (hb, *_) = core.heartbeat(1.0)
        (hb2, *_) = core.heartbeat(2.0)
        self.assertEqual((hb.seq, hb2.seq), (WRAP, 0))
        for seq, dur in ((WRAP, hb.duration_ms), (0, hb2.duration_ms)):
            core.on_message(
                reply_view(V, RSU, RSU, seq, V, hops=1, duration_ms=dur), 2.01
            )
        core.tick(2.02)
        self.assertEqual(core.route_to(V, 2.02), V)


class RsuRefusalTests(SynchronousTestCase):
    def setUp(self):
        self.core = RsuRoutingCore(RSU, load_strategy(), started=0.0)
        (hb, *_) = self.core.heartbeat(0.0)
        self.dur = hb.duration_ms
        for src, sender, hops in ((N1, N1, 1), (N1, V, 2)):
            self.core.on_message(
                reply_view(src, RSU, RSU, 0, sender, hops=hops, duration_ms=self.dur),
                0.01,
            )
        self.core.tick(0.02)
        self.before = self.core.status(0.02)["routes"]
        self.assertEqual(self.core.route_to(V, 0.02), N1)

    def refused(self, src, sender, hops, reason, source=RSU):
        reply = reply_view(src, RSU, source, 0, sender, hops=hops, duration_ms=self.dur)
        self.assertEqual(self.core.on_message(reply, 0.03), [])
        self.core.tick(0.04)
        self.assertEqual(self.core.drops[reason], 1, dict(self.core.drops))
        self.assertEqual(self.core.status(0.04)["routes"], self.before)

    def test_forged_reply_with_hops_0(self):
        self.refused(N2, V, 0, "bad_hops")

    def test_direct_reply_must_say_one_hop(self):
        self.refused(V, V, 2, "bad_hops")

    def test_relayed_reply_cannot_claim_one_hop(self):
        self.refused(N2, V, 1, "bad_hops")

    def test_relayed_reply_not_beyond_its_relay(self):
        # N1 itself replied at 1 hop, so what it relays is 2 or more; and a
        # relay that placed itself at 3 cannot bring a vehicle at 3.
        reply = reply_view(N2, RSU, RSU, 0, N2, hops=3, duration_ms=self.dur)
        self.core.on_message(
            reply_view(N1, RSU, RSU, 0, N2, hops=3, duration_ms=self.dur), 0.03
        )
        self.assertEqual(self.core.drops["bad_hops"], 0)
        del reply
        reply = reply_view(N2, RSU, RSU, 0, V, hops=2, duration_ms=self.dur)
        self.core.on_message(
            reply_view(N2, RSU, RSU, 0, N2, hops=1, duration_ms=self.dur), 0.03
        )
        self.core.on_message(reply, 0.03)
        self.assertEqual(self.core.drops["bad_hops"], 0)
        self.core.on_message(
            reply_view(
                N1,
                RSU,
                RSU,
                0,
                bytes.fromhex("020000000031"),
                hops=1,
                duration_ms=self.dur,
            ),
            0.03,
        )
        self.assertEqual(self.core.drops["bad_hops"], 1)

    def test_group_or_zero_sender(self):
        self.refused(N2, BROADCAST, 2, "bad_sender")

    def test_zero_source(self):
        self.refused(N2, V, 2, "bad_source", source=ZERO)


def upstream_view(src, dst, origin, payload=b"\x00" * 20):
    buf = bytearray()
    n = writer_for("upstream").write(buf, origin, payload, src, dst)
    return parse(bytes(buf[:n]))[0]


class _Routing:
    upstream = RSU

    def route_to(self, target, now):
        return None

    def vehicles(self, now):
        return []


class _Clear:
    def seal(self, frame):
        return bytes(frame)

    def open(self, payload):
        return bytes(payload)


class DataOriginTests(SynchronousTestCase):
    def test_rsu_learns_from_no_group_or_zero_origin(self):
        plane = RsuDataPlane(RSU, _Routing(), _Clear())
        frame = BROADCAST + bytes.fromhex("020000000099") + b"\x08\x00" + b"x" * 10
        for origin in (BROADCAST, ZERO):
            self.assertEqual(
                plane.on_upstream(upstream_view(N1, RSU, origin, frame), 1.0), []
            )
        self.assertEqual(plane.drops["bad_origin"], 2)
        self.assertEqual(plane.status(1.0), {})

    def test_obu_does_not_relay_a_group_origin(self):
        plane = ObuDataPlane(ME, _Routing(), _Clear())
        self.assertEqual(plane.on_upstream(upstream_view(N1, ME, GROUP), 1.0), [])
        self.assertEqual(plane.drops["bad_origin"], 1)


class ConfigTests(SynchronousTestCase):
    def load(self, node=None, routing=None):
        return node_config_from_mapping(
            {
                "node": {"name": "n", **(node or {})},
                "link": {"transport": "memory"},
                "routing": routing or {},
            },
            "hard.ini",
            "obu",
        )

    def test_group_broadcast_or_zero_mac_refused(self):
        for mac in ("ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "00:00:00:00:00:00"):
            with self.assertRaises(ConfigError) as caught:
                self.load(node={"mac": mac})
            message = str(caught.exception)
            self.assertNotIn("\n", message)
            for part in ("hard.ini", "[node] mac", mac):
                self.assertIn(part, message)

    def test_period_out_of_range_refused(self):
        for value in ("9", "60001", "0"):
            with self.assertRaises(ConfigError) as caught:
                self.load(routing={"hello_period_ms": value})
            message = str(caught.exception)
            self.assertIn("[routing] hello_period_ms", message)
            self.assertIn("10 to 60000", message)
        self.assertEqual(
            self.load(routing={"hello_period_ms": "10"}).routing.hello_period_ms, 10
        )


del attrs
