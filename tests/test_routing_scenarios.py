"""Routing cores joined by delayed in-memory links on a fake clock
(acceptance tests 4, 6, 7 and 8)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from vanet.discovery import load_strategy
from vanet.node.testing import CoreNetwork
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.rsu import RsuRoutingCore

PERIOD = 1.0
# Work that may wait (a known RSU's heartbeat weighed) is done within a
# quarter period (vanet.routing.liveness.DECIDE_WITHIN).
TICK = PERIOD / 4
STEP = 0.001  # CoreNetwork.run's clock step: a timer runs at the step's end
RSU = bytes.fromhex("020000000001")
RSU2 = bytes.fromhex("020000000002")
OBU1 = bytes.fromhex("020000000011")
OBU2 = bytes.fromhex("020000000012")
OBU3 = bytes.fromhex("020000000013")
OBU4 = bytes.fromhex("020000000014")


def network(rsus, obus, strategy="latency", **obu_options) -> CoreNetwork:
    net = CoreNetwork()
    chosen = load_strategy(strategy)
    for mac in rsus:
        net.add(RsuRoutingCore(mac, chosen, started=0.0))
    for mac in obus:
        net.add(ObuRoutingCore(mac, chosen, **obu_options))
    return net


class ChainTests(SynchronousTestCase):
    """4. RSU-OBU1-OBU2 over 2 ms links, and a 50 ms RSU-OBU2 link."""

    def test_upstream_and_route_through_the_fast_relay(self):
        net = network([RSU], [OBU1, OBU2])
        self.addCleanup(net.stop)
        net.link(RSU, OBU1, 2)
        net.link(OBU1, OBU2, 2)
        net.link(RSU, OBU2, 50)
        net.start(PERIOD)
        net.run(2 * PERIOD)
        obu2, rsu = net.cores[OBU2], net.cores[RSU]
        self.assertEqual(obu2.upstream, OBU1)
        self.assertEqual(obu2.gateway, RSU)
        self.assertEqual(obu2.upstream_candidates, [OBU1, RSU])
        # It never went the slow direct way.
        self.assertEqual(
            [e.fields["upstream"] for _, e in net.events_of(OBU2, "upstream_selected")],
            ["02:00:00:00:00:11"],
        )
        self.assertEqual(net.events_of(OBU2, "upstream_switched"), [])
        now = net.clock.seconds()
        self.assertEqual(rsu.route_to(OBU2, now), OBU1)
        self.assertEqual(rsu.route_to(OBU1, now), OBU1)
        self.assertEqual(rsu.vehicles(now), [OBU1, OBU2])
        route = rsu.status(now)["routes"]["02:00:00:00:00:12"]
        self.assertEqual(route["hops"], 2)
        # Heartbeat down 2+2 ms, reply up 2+2 ms.
        self.assertAlmostEqual(route["latency_ms"], 8.0, delta=0.5)
        self.assertEqual(net.cores[OBU1].route_to(OBU2, now), OBU2)


class FailoverTests(SynchronousTestCase):
    """6. The primary falls silent, or a send to it fails."""

    def setUp(self):
        # OBU3 reaches the RSU through OBU1 (fast) or OBU2 (slower).
        self.net = net = network([RSU], [OBU1, OBU2, OBU3])
        self.addCleanup(net.stop)
        net.link(RSU, OBU1, 2)
        net.link(RSU, OBU2, 2)
        net.link(OBU1, OBU3, 2)
        net.link(OBU2, OBU3, 10)
        net.start(PERIOD)
        net.run(3 * PERIOD + 0.1)
        self.obu3 = net.cores[OBU3]
        self.assertEqual(self.obu3.upstream, OBU1)
        self.assertEqual(self.obu3.upstream_candidates, [OBU1, OBU2])

    def test_silent_primary_is_left_within_two_periods(self):
        net = self.net
        net.silent.add(OBU1)
        last_frame = max(t for t, m, _ in net.sent if m == OBU1) + 0.002
        net.run(3 * PERIOD)
        ((switched_at, event),) = net.events_of(OBU3, "upstream_switched")
        self.assertEqual(event.fields["upstream"], "02:00:00:00:00:12")
        self.assertEqual(event.fields["reason"], "upstream_lost")
        # Two periods after the last frame it got from OBU1 (the core runs
        # at that deadline), plus the slower path's extra 8 ms.
        self.assertLessEqual(switched_at - last_frame, 2 * PERIOD + 0.008 + STEP)
        self.assertEqual(self.obu3.upstream, OBU2)
        self.assertEqual(self.obu3.upstream_candidates, [OBU2])
        # And the RSU reaches OBU3 the new way.
        self.assertEqual(net.cores[RSU].route_to(OBU3, net.clock.seconds()), OBU2)

    def test_send_failure_promotes_the_next_candidate_at_once(self):
        now = self.net.clock.seconds()
        actions = self.obu3.on_send_failed(OBU1, now)
        self.assertEqual(self.obu3.upstream, OBU2)
        self.assertEqual(self.obu3.upstream_candidates, [OBU2, OBU1])
        (event,) = [a for a in actions if a.event == "upstream_switched"]
        self.assertEqual(event.fields["reason"], "send_failed")
        # Once OBU1 delivers a fresh heartbeat it wins back on latency (at
        # the tick after it: a heartbeat from a known RSU is weighed there).
        self.net.run(PERIOD + TICK)
        self.assertEqual(self.obu3.upstream, OBU1)
        (_, back) = self.net.events_of(OBU3, "upstream_switched")[-1]
        self.assertEqual(back.fields["reason"], "lower_latency")


class TwoRsuTests(SynchronousTestCase):
    """7. Two RSUs: the better one, a late switch, and leaving a dead one."""

    def test_takes_the_better_rsu(self):
        # RSU2 is three hops away and heard first; RSU is one hop away.
        net = network([RSU, RSU2], [OBU1, OBU2, OBU4])
        self.addCleanup(net.stop)
        net.link(RSU2, OBU1, 2)
        net.link(OBU1, OBU2, 2)
        net.link(OBU2, OBU4, 2)
        net.link(RSU, OBU4, 30)
        net.start(PERIOD)
        net.run(2 * PERIOD)
        obu4 = net.cores[OBU4]
        self.assertEqual(obu4.gateway, RSU)
        self.assertEqual(obu4.upstream, RSU)
        (_, event) = net.events_of(OBU4, "gateway_switched")[-1]
        self.assertEqual(event.fields["reason"], "fewer_hops")
        # Every OBU relays both RSUs' heartbeats: RSU reaches all through OBU4.
        now = net.clock.seconds()
        for mac in (OBU1, OBU2, OBU4):
            self.assertEqual(net.cores[RSU].route_to(mac, now), OBU4)

    def test_switches_only_past_the_threshold_and_leaves_a_dead_one(self):
        net = network([RSU, RSU2], [OBU1, OBU2, OBU4], gateway_switch_threshold=0.4)
        self.addCleanup(net.stop)
        # RSU2 - OBU1 - OBU2 - OBU4: OBU4 is three hops from RSU2.
        net.link(RSU2, OBU1, 2)
        net.link(OBU1, OBU2, 2)
        net.link(OBU2, OBU4, 2)
        net.start(PERIOD)
        net.run(2 * PERIOD)
        obu4 = net.cores[OBU4]
        self.assertEqual(obu4.gateway, RSU2)
        # RSU appears two hops away (through OBU2): 2 vs 3 hops is 33%
        # better, short of the 40% threshold: stay.
        net.link(RSU, OBU2, 2)
        net.run(3 * PERIOD)
        self.assertEqual(obu4.gateway, RSU2)
        self.assertIn(
            "02:00:00:00:00:01",
            obu4.status(net.clock.seconds())["sources"],
        )
        # RSU one hop away: 67% better, past the threshold: move.
        net.link(RSU, OBU4, 2)
        net.run(2 * PERIOD)
        self.assertEqual(obu4.gateway, RSU)
        self.assertEqual(obu4.upstream, RSU)
        (_, event) = net.events_of(OBU4, "gateway_switched")[-1]
        self.assertEqual(event.fields["reason"], "fewer_hops")
        # RSU dies: within two periods OBU4 is back with RSU2.
        net.silent.add(RSU)
        last = max(t for t, m, _ in net.sent if m == RSU) + 0.002
        net.run(3 * PERIOD)
        (left_at, event) = net.events_of(OBU4, "gateway_switched")[-1]
        self.assertEqual(event.fields["reason"], "gateway_lost")
        self.assertEqual(event.fields["gateway"], "02:00:00:00:00:02")
        self.assertLessEqual(left_at - last, 2 * PERIOD + STEP)
        self.assertEqual(obu4.gateway, RSU2)
        self.assertEqual(obu4.upstream, OBU2)


class RestartTests(SynchronousTestCase):
    """8. An RSU restarts (its seq goes back to 0): OBUs re-converge."""

    def test_reconverge_within_two_periods(self):
        net = network([RSU], [OBU1, OBU2], hello_history=5)
        self.addCleanup(net.stop)
        net.link(RSU, OBU1, 2)
        net.link(OBU1, OBU2, 2)
        net.start(PERIOD)
        net.run(12 * PERIOD + 0.5)  # seq well past hello_history
        self.assertEqual(net.cores[OBU2].upstream, OBU1)
        restarted_at = net.clock.seconds()
        net.replace(RsuRoutingCore(RSU, load_strategy(), started=restarted_at))
        net.run(2 * PERIOD)
        now = net.clock.seconds()
        rsu = net.cores[RSU]
        for mac, upstream in ((OBU1, RSU), (OBU2, OBU1)):
            core = net.cores[mac]
            self.assertEqual(core.counters["source_restarted"], 1)
            self.assertEqual(core.gateway, RSU)
            self.assertEqual(core.upstream, upstream)
            self.assertEqual(
                core.status(now)["sources"]["02:00:00:00:00:01"]["newest_seq"], 1
            )
        self.assertEqual(rsu.route_to(OBU2, now), OBU1)
        self.assertEqual(rsu.vehicles(now), [OBU1, OBU2])
        # The restart did not cost the OBUs their gateway at any moment.
        self.assertEqual(net.events_of(OBU2, "gateway_lost"), [])
        self.assertEqual(net.events_of(OBU2, "upstream_lost"), [])


class RelayScopeTests(SynchronousTestCase):
    """relay_scope: RSU A - OBU1 ... OBU5 - RSU B in a line of 2 ms links.
    Each RSU's flood covers the vehicles nearer to it and one hop more;
    every vehicle keeps its nearest RSU, and a vehicle that loses its RSU
    reaches the other within three periods."""

    OBUS = [bytes.fromhex(f"0200000000{i:02x}") for i in range(0x21, 0x26)]

    def line(self, **options) -> CoreNetwork:
        net = network([RSU, RSU2], self.OBUS, **options)
        self.addCleanup(net.stop)
        chain = [RSU, *self.OBUS, RSU2]
        for a, b in zip(chain, chain[1:]):
            net.link(a, b, 2)
        net.start(PERIOD)
        net.run(3 * PERIOD)
        return net

    def test_each_flood_stops_one_hop_past_the_midpoint(self):
        net = self.line(relay_scope=1)
        now = net.clock.seconds()
        o1, o2, o3, o4, o5 = self.OBUS
        self.assertEqual(net.cores[RSU].vehicles(now), sorted([o1, o2, o3, o4]))
        self.assertEqual(net.cores[RSU2].vehicles(now), sorted([o2, o3, o4, o5]))
        # Vehicles keep their nearest RSU.
        self.assertEqual(net.cores[o1].gateway, RSU)
        self.assertEqual(net.cores[o5].gateway, RSU2)
        self.assertEqual(net.cores[o5].upstream, RSU2)
        # OBU4 hears A's heartbeats (4 hops) but B is 2 hops away: it
        # answers them and does not pass them on.
        self.assertGreater(net.cores[o4].counters["heartbeat_not_relayed_scope"], 0)
        self.assertEqual(net.cores[o3].counters["heartbeat_not_relayed_scope"], 0)

    def test_unset_floods_everywhere(self):
        net = self.line()
        now = net.clock.seconds()
        for rsu in (RSU, RSU2):
            self.assertEqual(net.cores[rsu].vehicles(now), sorted(self.OBUS))

    def test_losing_the_nearest_rsu_reaches_the_other_within_three_periods(self):
        net = self.line(relay_scope=1)
        o5 = self.OBUS[-1]
        silent_at = net.clock.seconds()
        net.silent.add(RSU2)
        net.run(3 * PERIOD + TICK)
        self.assertEqual(net.cores[o5].gateway, RSU)
        self.assertEqual(net.cores[o5].upstream, self.OBUS[-2])
        switched = [t for t, e in net.events_of(o5, "gateway_switched")] + [
            t for t, e in net.events_of(o5, "gateway_selected") if t > silent_at
        ]
        self.assertTrue(switched)
        self.assertLessEqual(min(switched) - silent_at, 3 * PERIOD + TICK)
