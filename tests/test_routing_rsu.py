"""The RSU routing core alone: docs/protocol.md §3."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from vanet.discovery import load_strategy
from vanet.mac import BROADCAST
from vanet.node.testing import frames, reply_view, route_events
from vanet.routing.rsu import RsuRoutingCore
from vanet.wire import parse

RSU = bytes.fromhex("020000000001")
OTHER = bytes.fromhex("020000000002")
A = bytes.fromhex("020000000011")
V = bytes.fromhex("020000000021")
OBU1 = bytes.fromhex("020000000011")
OBU2 = bytes.fromhex("020000000012")
OBU3 = bytes.fromhex("020000000013")


class RsuTests(SynchronousTestCase):
    def setUp(self):
        self.core = RsuRoutingCore(RSU, load_strategy(), hello_history=3, started=100.0)

    def test_heartbeats_count_up_with_duration_since_start(self):
        for i in range(3):
            ((kind, next_hop, frame),) = frames(
                self.core.heartbeat(100.0 + i * 0.5), src=RSU
            )
            self.assertEqual((kind, next_hop), ("heartbeat", BROADCAST))
            (hb,) = parse(frame)
            self.assertEqual(
                (hb.src, hb.source, hb.seq, hb.hops, hb.duration_ms),
                (RSU, RSU, i, 1, i * 500),
            )

    def test_reply_gives_a_route_with_latency_then_expires(self):
        self.core.heartbeat(101.0)  # seq 0, duration 1000
        actions = self.core.on_message(
            reply_view(A, RSU, RSU, 0, V, hops=2, duration_ms=1000), 101.012
        )
        (event,) = route_events(actions)
        self.assertEqual(event.event, "route_discovered")
        self.assertEqual(self.core.route_to(V, 101.02), A)
        route = self.core.status(101.02)["routes"]["02:00:00:00:00:21"]
        self.assertEqual((route["hops"], route["next_hop"]), (2, "02:00:00:00:00:11"))
        self.assertAlmostEqual(route["latency_ms"], 12.0, places=3)
        # No reply to the next heartbeats: after neighbour_timeout (2)
        # unanswered ones the route is lost.
        self.core.heartbeat(102.0)
        self.core.heartbeat(103.0)
        self.assertEqual(self.core.vehicles(103.0), [V])
        lost = route_events(self.core.heartbeat(104.0))
        self.assertEqual([e.event for e in lost], ["route_lost"])
        self.assertIsNone(self.core.route_to(V, 104.0))

    def test_ignored_replies(self):
        self.core.heartbeat(101.0)
        cases = [
            (
                reply_view(A, RSU, OTHER, 0, V, duration_ms=1000),
                "reply_for_other_source",
            ),
            (reply_view(A, RSU, RSU, 5, V, duration_ms=1000), "forgotten_seq"),
            (reply_view(A, RSU, RSU, 0, V, duration_ms=7), "stale_reply"),
            (reply_view(A, RSU, RSU, 0, RSU, duration_ms=1000), "own_frame"),
        ]
        for reply, reason in cases:
            self.assertEqual(self.core.on_message(reply, 101.01), [])
            self.assertEqual(self.core.drops[reason], 1)
        self.assertEqual(self.core.vehicles(101.01), [])

    def test_forgets_beyond_hello_history(self):
        for i in range(4):
            self.core.heartbeat(101.0 + i)
        self.core.on_message(reply_view(A, RSU, RSU, 0, V, duration_ms=1000), 104.1)
        self.assertEqual(self.core.drops["forgotten_seq"], 1)
        self.assertEqual(self.core.memory()["heartbeats"], 3)


class DataKeepsRoutesTests(SynchronousTestCase):
    """Upstream data keeps a live route live (docs/protocol.md §4.5)."""

    def setUp(self):
        self.rsu = RsuRoutingCore(RSU, load_strategy(), started=0.0)
        self.rsu.heartbeat(0.0)
        # OBU2 answers through OBU1, two hops out.
        self.rsu.on_message(
            reply_view(OBU1, RSU, RSU, 0, OBU2, hops=2, duration_ms=0), 0.01
        )
        self.rsu.tick(0.02)

    def test_a_route_lapses_without_replies(self):
        self.assertEqual(self.rsu.route_to(OBU2, 0.1), OBU1)
        for n in range(1, 4):
            self.rsu.heartbeat(float(n))
        self.assertIsNone(self.rsu.route_to(OBU2, 3.0))

    def test_data_through_the_same_neighbour_keeps_it(self):
        for n in range(1, 6):
            self.rsu.heartbeat(float(n))
            self.rsu.on_data_seen(OBU2, OBU1, n + 0.5)
            self.rsu.tick(n + 0.6)
        self.assertEqual(self.rsu.route_to(OBU2, 5.6), OBU1)
        status = self.rsu.status(5.6)["routes"]["02:00:00:00:00:12"]
        self.assertEqual(status["hops"], 2)  # the hops replies taught

    def test_data_makes_no_route_and_no_other_next_hop(self):
        self.rsu.on_data_seen(OBU3, OBU1, 0.5)  # no route to OBU3
        self.rsu.on_data_seen(OBU2, OBU3, 0.5)  # OBU2 is not routed via OBU3
        self.rsu.tick(0.6)
        self.assertIsNone(self.rsu.route_to(OBU3, 0.6))
        for n in range(1, 4):
            self.rsu.heartbeat(float(n))
            self.rsu.on_data_seen(OBU2, OBU3, n + 0.5)
        self.assertIsNone(self.rsu.route_to(OBU2, 3.6))


class DataGivesAFirstRouteTests(SynchronousTestCase):
    """Without authentication (``data_routes``), upstream data gives a
    vehicle without a route a first one (docs/protocol.md §4.5)."""

    def setUp(self):
        self.rsu = RsuRoutingCore(RSU, load_strategy(), started=0.0, data_routes=True)
        self.rsu.heartbeat(0.0)

    def test_relayed_data_gives_a_route_at_two_hops(self):
        actions = self.rsu.on_data_seen(OBU3, OBU1, 0.5)
        (event,) = route_events(actions)
        self.assertEqual(
            (event.event, event.fields["target"], event.fields["hops"]),
            ("route_discovered", "02:00:00:00:00:13", 2),
        )
        self.assertEqual(self.rsu.route_to(OBU3, 0.5), OBU1)
        self.assertEqual(self.rsu.counters["route_from_data"], 1)

    def test_data_from_a_neighbour_itself_is_one_hop(self):
        self.rsu.on_data_seen(OBU1, OBU1, 0.5)
        route = self.rsu.status(0.5)["routes"]["02:00:00:00:00:11"]
        self.assertEqual((route["next_hop"], route["hops"]), ("02:00:00:00:00:11", 1))

    def test_replies_teach_the_hops_and_the_route_lapses_without_data(self):
        self.rsu.on_data_seen(OBU3, OBU1, 0.5)
        self.rsu.heartbeat(1.0)  # seq 1
        self.rsu.on_message(
            reply_view(OBU1, RSU, RSU, 1, OBU3, hops=3, duration_ms=1000), 1.01
        )
        self.rsu.tick(1.02)
        route = self.rsu.status(1.02)["routes"]["02:00:00:00:00:13"]
        self.assertEqual(route["hops"], 3)
        for n in range(2, 5):
            self.rsu.heartbeat(float(n))
        self.assertIsNone(self.rsu.route_to(OBU3, 4.0))

    def test_data_adds_no_next_hop_to_a_held_route(self):
        self.rsu.on_data_seen(OBU3, OBU1, 0.5)
        self.rsu.on_data_seen(OBU3, OBU2, 0.6)
        self.rsu.tick(0.7)
        candidates = self.rsu.status(0.7)["candidates"]["02:00:00:00:00:13"]
        self.assertEqual(len(candidates), 1)

    def test_no_first_route_from_data_by_default(self):
        rsu = RsuRoutingCore(RSU, load_strategy(), started=0.0)
        rsu.heartbeat(0.0)
        self.assertEqual(rsu.on_data_seen(OBU3, OBU1, 0.5), [])
        self.assertIsNone(rsu.route_to(OBU3, 0.5))
