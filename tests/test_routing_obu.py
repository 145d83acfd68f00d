"""The OBU routing core alone: docs/protocol.md §3 (acceptance tests 1-3)."""

from __future__ import annotations

import json
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from vanet.discovery import load_strategy
from vanet.mac import BROADCAST
from vanet.node.testing import frames, heartbeat_view, reply_view, route_events
from vanet.routing.actions import Transmit
from vanet.routing.obu import ObuRoutingCore
from vanet.wire import parse

VECTORS = Path(__file__).resolve().parent / "vectors" / "wire.json"

RSU = bytes.fromhex("020000000001")
N1 = bytes.fromhex("020000000011")
N2 = bytes.fromhex("020000000013")
ME = bytes.fromhex("020000000012")
V = bytes.fromhex("020000000021")


def relay_vectors() -> list[dict]:
    if not VECTORS.exists():
        raise AssertionError(f"test vectors missing: {VECTORS} (a broken checkout)")
    vectors = json.loads(VECTORS.read_text())["relay"]
    if not vectors:
        raise AssertionError(f"no relay vectors in {VECTORS}")
    return vectors


def obu(**kwargs) -> ObuRoutingCore:
    return ObuRoutingCore(ME, load_strategy("latency"), **kwargs)


class RelayVectorTests(SynchronousTestCase):
    """1. A new heartbeat: one rebroadcast and one reply, byte-equal to the
    relay vectors; a duplicate: nothing."""

    def test_relay_vectors(self):
        for vector in relay_vectors():
            for path in ("zero-copy", "legacy"):
                with self.subTest(vector=vector["name"], path=path):
                    core = ObuRoutingCore(
                        bytes.fromhex(vector["relay_mac"]), load_strategy()
                    )
                    received = bytes.fromhex(vector["input_hex"])
                    (msg,) = parse(received)
                    sent = frames(core.on_message(msg, 10.0), path, src=core.mac)
                    self.assertEqual(
                        [(k, f.hex()) for k, _, f in sent],
                        [
                            ("heartbeat_forward", vector["rebroadcast_hex"]),
                            ("heartbeat_reply", vector["reply_hex"]),
                        ],
                    )
                    # The rebroadcast goes to everyone, the reply to the sender.
                    self.assertEqual(sent[0][1], BROADCAST)
                    self.assertEqual(sent[1][1], msg.src)
                    # The same heartbeat again, from the same or another
                    # neighbour: no frame at all.
                    again = core.on_message(parse(received)[0], 10.5)
                    self.assertEqual(frames(again, src=core.mac), [])
                    self.assertEqual(core.counters["heartbeat_duplicate"], 1)

    def test_duplicate_over_another_path_only_notes_the_neighbour(self):
        core = obu()
        core.on_message(heartbeat_view(N1, RSU, 7, hops=1, duration_ms=7000), 7.0)
        actions = core.on_message(
            heartbeat_view(N2, RSU, 7, hops=2, duration_ms=7000), 7.01
        )
        self.assertFalse([a for a in actions if isinstance(a, Transmit)])
        # The copy is noted at the next decision point (here a tick), not
        # re-ranked on arrival.
        self.assertEqual(core.upstream_candidates, [N1])
        core.tick(7.02)
        status = core.status(7.02)
        self.assertEqual(
            status["sources"]["02:00:00:00:00:01"]["live_neighbours"],
            ["02:00:00:00:00:11", "02:00:00:00:00:13"],
        )
        # N2 is live but no failover candidate: it heard the heartbeat at
        # 1 hop, no nearer than we did, so its path may run through us
        # (docs/protocol.md §4.8).
        self.assertEqual(core.upstream_candidates, [N1])
        self.assertEqual(status["feasibility_distance"], 1)

    def test_own_frames_heard_back_are_dropped(self):
        core = obu()
        self.assertEqual(core.on_message(heartbeat_view(ME, RSU, 1), 1.0), [])
        self.assertEqual(core.drops["own_frame"], 1)
        self.assertIsNone(core.upstream)


class HistoryTests(SynchronousTestCase):
    """2. hello_history bounds the sequence numbers kept per source; a lower
    seq after higher ones resets the source once the next heartbeat
    confirms it (docs/protocol.md §3.4)."""

    def test_keeps_the_two_newest(self):
        core = obu(hello_history=2)
        for seq in (1, 2, 3):
            core.on_message(heartbeat_view(N1, RSU, seq, duration_ms=1000 * seq), seq)
        self.assertEqual(core.memory()["heartbeats_per_source"], 2)
        # seq 1 is forgotten: a reply to it is ignored; 2 and 3 are known.
        core.on_message(reply_view(N2, ME, RSU, 1, V, hops=2, duration_ms=1000), 3.1)
        self.assertEqual(core.drops["unknown_heartbeat"], 1)
        for seq in (2, 3):
            core.on_message(
                reply_view(N2, ME, RSU, seq, V, hops=2, duration_ms=1000 * seq), 3.1
            )
        self.assertEqual(core.drops["unknown_heartbeat"], 1)
        self.assertEqual(core.counters["reply_received"], 2)
        # A heartbeat it no longer holds is not taken for a duplicate of
        # anything, but seq 2 still is one.
        self.assertEqual(
            frames(
                core.on_message(heartbeat_view(N1, RSU, 2, duration_ms=2000), 3.2),
                src=ME,
            ),
            [],
        )

    def test_lower_seq_resets_the_source(self):
        core = obu(hello_history=2)
        for seq in (5, 6, 7):
            core.on_message(heartbeat_view(N1, RSU, seq, duration_ms=1000 * seq), seq)
        # Seq 0 alone is held aside (one frame could be forged) ...
        held = core.on_message(heartbeat_view(N1, RSU, 0, duration_ms=3), 8.0)
        self.assertEqual(held, [])
        self.assertEqual(core.drops["seq_jump"], 1)
        self.assertEqual(core.counters["source_restarted"], 0)
        # ... and seq 1 a period later confirms the restart.
        actions = core.on_message(heartbeat_view(N1, RSU, 1, duration_ms=1003), 9.0)
        # Handled as new: rebroadcast and reply, and an event saying why;
        # the heartbeat held aside is passed on first, so the nodes beyond
        # see both and believe the restart as soon.
        self.assertEqual(
            [k for k, _, _ in frames(actions, src=ME)],
            ["heartbeat", "heartbeat_forward", "heartbeat_reply"],
        )
        self.assertIn("source_restarted", [e.event for e in route_events(actions)])
        self.assertEqual(core.counters["source_restarted"], 1)
        self.assertEqual(
            core.status(9.0)["sources"]["02:00:00:00:00:01"]["newest_seq"], 1
        )
        # What it held before is gone: a reply to seq 7 is unknown now.
        core.on_message(reply_view(N2, ME, RSU, 7, V, hops=2, duration_ms=7000), 9.1)
        self.assertEqual(core.drops["unknown_heartbeat"], 1)
        self.assertEqual(core.upstream, N1)

    def test_reused_seq_with_another_start_time_resets_the_source(self):
        core = obu()
        for seq in (0, 1, 2):
            core.on_message(heartbeat_view(N1, RSU, seq, duration_ms=1000 * seq), seq)
        # Seq 1 again with its duration: a duplicate over another path.
        actions = core.on_message(heartbeat_view(N2, RSU, 1, duration_ms=1000), 3.5)
        self.assertEqual(len(frames(actions, src=ME)), 0)
        self.assertEqual(core.counters["source_restarted"], 0)
        # The RSU restarted: seq 1 again, but 20 ms after its start. Held
        # aside until seq 2, a period later, confirms it.
        held = core.on_message(heartbeat_view(N1, RSU, 1, duration_ms=20), 4.0)
        self.assertEqual(held, [])
        self.assertEqual(core.drops["bad_duration"], 1)
        self.assertEqual(core.counters["source_restarted"], 0)
        actions = core.on_message(heartbeat_view(N1, RSU, 2, duration_ms=1020), 5.0)
        self.assertEqual(core.counters["source_restarted"], 1)
        # The one held aside, the rebroadcast and the reply.
        self.assertEqual(len(frames(actions, src=ME)), 3)


class ReplyTests(SynchronousTestCase):
    """3. Replies: recorded, forwarded toward the source unless they came
    from there, and dropped as loops when their sender is our way there."""

    def setUp(self):
        self.core = obu()
        # We heard (RSU, 4) first from N1: N1 is our way toward the RSU.
        self.core.on_message(heartbeat_view(N1, RSU, 4, hops=2, duration_ms=4000), 4.0)

    def test_reply_from_the_recorded_next_hop_is_recorded_not_forwarded(self):
        reply = reply_view(N1, ME, RSU, 4, V, hops=3, duration_ms=4000)
        actions = self.core.on_message(reply, 4.030)
        self.assertEqual(frames(actions, src=ME), [])
        # Vehicles without a route get one at once (held routes wait for
        # the tick).
        self.assertEqual(
            [(e.event, e.fields["target"]) for e in route_events(actions)],
            [
                ("route_discovered", "02:00:00:00:00:21"),  # V, through N1
                ("route_discovered", "02:00:00:00:00:11"),  # N1 itself
            ],
        )
        self.assertEqual(self.core.route_to(V, 4.03), N1)
        route = self.core.status(4.03)["routes"]["02:00:00:00:00:21"]
        self.assertEqual(route["next_hop"], "02:00:00:00:00:11")
        self.assertEqual(route["hops"], 1)  # 3 from the RSU, we are at 2
        self.assertAlmostEqual(route["latency_ms"], 30.0, places=3)
        self.assertEqual(self.core.counters["reply_not_bounced"], 1)

    def test_reply_from_another_neighbour_is_forwarded_to_the_next_hop(self):
        reply = reply_view(N2, ME, RSU, 4, V, hops=3, duration_ms=4000)
        actions = self.core.on_message(reply, 4.010)
        ((kind, next_hop, frame),) = frames(actions, src=ME)
        self.assertEqual((kind, next_hop), ("heartbeat_reply", N1))
        # Unchanged but for dst = N1 and src = us.
        self.assertEqual(frame[:12], N1 + ME)
        self.assertEqual(frame[12:], bytes(reply.raw)[12:])
        self.assertEqual(self.core.route_to(V, 4.01), N2)
        self.assertEqual(self.core.route_to(N2, 4.01), N2)  # one hop away

    def test_reply_whose_sender_is_the_next_hop_is_a_loop(self):
        reply = reply_view(N2, ME, RSU, 4, N1, hops=2, duration_ms=4000)
        actions = self.core.on_message(reply, 4.010)
        self.assertEqual(frames(actions, src=ME), [])
        self.assertEqual(self.core.drops["loop"], 1)
        self.assertEqual(self.core.counters["loop_detected"], 1)
        (event,) = route_events(actions)
        self.assertEqual(event.event, "loop_detected")
        self.assertEqual(event.fields["sender"], "02:00:00:00:00:11")
        self.assertIsNone(self.core.route_to(N1, 4.01))

    def test_reply_to_an_unseen_heartbeat_is_ignored(self):
        actions = self.core.on_message(
            reply_view(N2, ME, RSU, 99, V, duration_ms=4000), 4.0
        )
        self.assertEqual(actions, [])
        self.assertEqual(self.core.drops["unknown_heartbeat"], 1)

    def test_data_messages_are_not_for_the_routing_core(self):
        from vanet.wire import writer_for

        buf = bytearray()
        n = writer_for("upstream").write(buf, V, b"\x00" * 20, V, ME)
        (msg,) = parse(bytes(buf[:n]))
        self.assertEqual(self.core.on_message(msg, 4.0), [])

    def test_status_is_json(self):
        self.core.on_message(
            reply_view(N2, ME, RSU, 4, V, hops=3, duration_ms=4000), 4.01
        )
        status = self.core.status(4.02)
        self.assertEqual(json.loads(json.dumps(status)), status)
        self.assertEqual(status["upstream"], "02:00:00:00:00:11")
        self.assertEqual(status["gateway"], "02:00:00:00:00:01")
        self.assertEqual(status["candidates"][0]["hops"], 2)


class HopLimitTests(SynchronousTestCase):
    def test_heartbeat_at_the_largest_hop_count_is_dropped_not_relayed(self) -> None:
        core = obu()
        hb = heartbeat_view(RSU, RSU, 0, hops=(1 << 32) - 1)
        self.assertEqual(core.on_message(hb, 0.0), [])
        self.assertEqual(core.drops["hop_limit"], 1)
        self.assertIsNone(core.upstream)
        # The next, sane heartbeat is handled as usual.
        actions = core.on_message(heartbeat_view(RSU, RSU, 1), 1.0)
        self.assertTrue(any(isinstance(a, Transmit) for a in actions))


class MaxHopsTests(SynchronousTestCase):
    def test_heartbeats_that_came_max_hops_are_answered_not_rebroadcast(self) -> None:
        core = obu(max_hops=2)
        near = core.on_message(heartbeat_view(N1, RSU, 0, hops=1), 0.0)
        self.assertEqual(
            sorted(a.kind for a in near if isinstance(a, Transmit)),
            ["heartbeat_forward", "heartbeat_reply"],
        )
        far = core.on_message(heartbeat_view(N1, RSU, 1, hops=2, duration_ms=1000), 1.0)
        self.assertEqual(
            [a.kind for a in far if isinstance(a, Transmit)], ["heartbeat_reply"]
        )
        self.assertEqual(core.counters["heartbeat_not_relayed_max_hops"], 1)
        # The node itself still routes through what it heard.
        self.assertEqual(core.upstream, N1)

    def test_no_limit_by_default(self) -> None:
        core = obu()
        actions = core.on_message(heartbeat_view(N1, RSU, 0, hops=200), 0.0)
        self.assertIn(
            "heartbeat_forward", [a.kind for a in actions if isinstance(a, Transmit)]
        )

    def test_negative_max_hops_is_refused(self) -> None:
        self.assertRaises(ValueError, obu, max_hops=-1)


class RelayScopeTests(SynchronousTestCase):
    FAR = bytes.fromhex("020000000002")

    def relayed(self, actions) -> bool:
        return "heartbeat_forward" in [
            a.kind for a in actions if isinstance(a, Transmit)
        ]

    def test_a_far_rsu_is_answered_not_relayed(self) -> None:
        core = obu(relay_scope=1)
        self.assertTrue(
            self.relayed(core.on_message(heartbeat_view(N1, RSU, 0, hops=2), 0.0))
        )
        far = core.on_message(heartbeat_view(N2, self.FAR, 0, hops=4), 0.01)
        self.assertFalse(self.relayed(far))
        self.assertIn(
            "heartbeat_reply", [a.kind for a in far if isinstance(a, Transmit)]
        )
        self.assertEqual(core.counters["heartbeat_not_relayed_scope"], 1)
        # Within the scope (one hop farther than the nearest): relayed.
        self.assertTrue(
            self.relayed(
                core.on_message(
                    heartbeat_view(N2, self.FAR, 1, hops=3, duration_ms=1000), 1.0
                )
            )
        )

    def test_the_first_rsu_heard_is_always_relayed(self) -> None:
        core = obu(relay_scope=0)
        self.assertTrue(
            self.relayed(core.on_message(heartbeat_view(N1, RSU, 0, hops=9), 0.0))
        )

    def test_negative_relay_scope_is_refused(self) -> None:
        self.assertRaises(ValueError, obu, relay_scope=-1)


class DataKeepsRoutesTests(SynchronousTestCase):
    """Upstream data an OBU relays keeps its live route back to the data's
    origin live, as at the RSU (docs/protocol.md §4.5)."""

    def setUp(self):
        self.core = obu()
        self.core.on_message(heartbeat_view(N1, RSU, 4, hops=2, duration_ms=4000), 4.0)
        # V, behind N2, answered that heartbeat: a route to V through N2.
        self.core.on_message(
            reply_view(N2, ME, RSU, 4, V, hops=3, duration_ms=4000), 4.01
        )
        self.assertEqual(self.core.route_to(V, 4.01), N2)

    def run_periods(self, data_via=None):
        for seq in range(5, 9):
            now = float(seq)
            self.core.on_message(
                heartbeat_view(N1, RSU, seq, hops=2, duration_ms=seq * 1000), now
            )
            if data_via is not None:
                self.core.on_data_seen(V, data_via, now + 0.5)
            self.core.tick(now + 0.6)
        return self.core.route_to(V, 8.6)

    def test_without_replies_the_route_lapses(self):
        self.assertIsNone(self.run_periods())

    def test_data_through_the_route_s_next_hop_keeps_it(self):
        self.assertEqual(self.run_periods(data_via=N2), N2)
        route = self.core.status(8.6)["routes"]["02:00:00:00:00:21"]
        self.assertEqual(route["hops"], 1)  # the hops the reply taught

    def test_data_through_another_neighbour_keeps_nothing(self):
        self.assertIsNone(self.run_periods(data_via=N1))

    def test_data_makes_no_route(self):
        other = bytes.fromhex("020000000031")
        self.core.on_data_seen(other, N2, 4.5)
        self.core.tick(4.6)
        self.assertIsNone(self.core.route_to(other, 4.6))
