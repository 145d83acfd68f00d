"""Strategies: loading by name, the latency strategy's order and hysteresis
(acceptance test 5) and the hops strategy's scenarios (test 10)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.discovery import (
    UnknownStrategyError,
    available_strategies,
    load_strategy,
)
from vanet.interfaces import IRoutingStrategy
from vanet.node.testing import CoreNetwork, heartbeat_view
from vanet.routing.candidates import Candidate
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.rsu import RsuRoutingCore

RSU = bytes.fromhex("020000000001")
A = bytes.fromhex("020000000011")
B = bytes.fromhex("020000000012")
ME = bytes.fromhex("020000000020")


def cand(next_hop, hops, min_ms=None, avg_ms=None):
    return Candidate(
        RSU, next_hop, hops, min_ms, avg_ms if avg_ms is not None else min_ms
    )


class LoadingTests(SynchronousTestCase):
    def test_shipped_strategies_are_found(self):
        names = available_strategies()
        self.assertIn("latency", names)
        self.assertIn("hops", names)
        for name in ("latency", "hops"):
            strategy = load_strategy(name)
            self.assertEqual(strategy.name, name)
            self.assertTrue(verifyObject(IRoutingStrategy, strategy))
        self.assertEqual(load_strategy().name, "latency")

    def test_unknown_name_lists_the_available_ones(self):
        with self.assertRaises(UnknownStrategyError) as caught:
            load_strategy("fastest-please")
        self.assertIsInstance(caught.exception, ValueError)
        message = str(caught.exception)
        self.assertIn("fastest-please", message)
        self.assertIn("hops, latency", message)


class LatencyHysteresisTests(SynchronousTestCase):
    """5. Keep or switch the upstream, docs/protocol.md §4."""

    def setUp(self):
        self.s = load_strategy("latency")

    def test_equal_hops_keep(self):
        self.assertIsNone(self.s.upstream_switch_reason(cand(B, 2), cand(A, 2)))

    def test_one_hop_fewer_switches(self):
        self.assertEqual(
            self.s.upstream_switch_reason(cand(B, 3), cand(A, 2)), "fewer_hops"
        )

    def test_25_vs_23_ms_keeps(self):
        current, best = cand(B, 2, 12.5), cand(A, 2, 11.5)  # scores 25 and 23
        self.assertEqual((current.score, best.score), (25.0, 23.0))
        self.assertEqual(self.s.rank_upstream([current, best])[0], best)
        self.assertIsNone(self.s.upstream_switch_reason(current, best))

    def test_40_vs_20_ms_switches(self):
        current, best = cand(B, 2, 20.0), cand(A, 2, 10.0)
        self.assertEqual(self.s.upstream_switch_reason(current, best), "lower_latency")

    def test_measured_beats_unmeasured(self):
        unmeasured, measured = cand(A, 1), cand(B, 2, 30.0)
        self.assertEqual(self.s.rank_upstream([unmeasured, measured])[0], measured)
        self.assertEqual(
            self.s.upstream_switch_reason(unmeasured, measured), "measured"
        )

    def test_order_score_then_hops_then_mac(self):
        ranked = self.s.rank_upstream(
            [cand(B, 2, 5.0), cand(A, 2, 5.0), cand(ME, 1, 5.0), cand(RSU, 1, 1.0)]
        )
        self.assertEqual([c.next_hop for c in ranked], [RSU, ME, A, B])
        # With no measurement at all: fewest hops.
        ranked = self.s.rank_upstream([cand(B, 3), cand(A, 4), cand(ME, 2)])
        self.assertEqual([c.next_hop for c in ranked], [ME, B, A])

    def test_on_the_core_equal_scores_pick_the_lower_mac_and_hops_win(self):
        core = ObuRoutingCore(ME, self.s)
        # B and A deliver the same heartbeat at the same moment, same hops.
        core.on_message(heartbeat_view(B, RSU, 1, hops=2, duration_ms=1000), 1.0)
        core.on_message(heartbeat_view(A, RSU, 1, hops=2, duration_ms=1000), 1.0)
        core.tick(1.0)  # A's copy counts from the next tick
        self.assertEqual(core.upstream, B)  # first heard, and equal: kept
        self.assertEqual(core.upstream_candidates, [B, A])
        fresh = ObuRoutingCore(ME, self.s)
        fresh.on_message(heartbeat_view(B, RSU, 1, hops=2, duration_ms=1000), 1.0)
        fresh.on_message(heartbeat_view(A, RSU, 1, hops=2, duration_ms=1000), 1.0)
        fresh.on_send_failed(B, 1.0)  # forces a fresh choice among equals
        self.assertEqual(fresh.upstream, A)
        # The RSU itself, equally fast but one hop closer: switch.
        core.on_message(heartbeat_view(RSU, RSU, 1, hops=1, duration_ms=1000), 1.0)
        core.tick(1.0)
        self.assertEqual(core.upstream, RSU)


class HopsStrategyTests(SynchronousTestCase):
    """10 (first half). The hops strategy in its own scenarios."""

    def setUp(self):
        self.s = load_strategy("hops")

    def test_order_and_hysteresis(self):
        ranked = self.s.rank_upstream(
            [cand(B, 2, 1.0), cand(A, 2, 90.0), cand(ME, 3, 0.1)]
        )
        self.assertEqual([c.next_hop for c in ranked], [A, B, ME])
        self.assertIsNone(
            self.s.upstream_switch_reason(cand(B, 2, 90.0), cand(A, 2, 1.0))
        )
        self.assertEqual(
            self.s.upstream_switch_reason(cand(B, 3), cand(A, 2)), "fewer_hops"
        )

    def test_chain_prefers_the_direct_slow_link(self):
        # The same chain as acceptance test 4: hops ignores the 50 ms.
        net = CoreNetwork()
        self.addCleanup(net.stop)
        net.add(RsuRoutingCore(RSU, self.s, started=0.0))
        net.add(ObuRoutingCore(A, self.s))
        net.add(ObuRoutingCore(B, self.s))
        net.link(RSU, A, 2)
        net.link(A, B, 2)
        net.link(RSU, B, 50)
        net.start(1.0)
        net.run(2.0)
        self.assertEqual(net.cores[B].upstream, RSU)
        self.assertEqual(net.cores[B].upstream_candidates, [RSU, A])
        (_, event) = net.events_of(B, "upstream_switched")[-1]
        self.assertEqual(event.fields["reason"], "fewer_hops")
        # Replies still follow the first-heard path (docs/protocol.md §3), so the
        # RSU reaches B through A whatever B's upstream.
        net.run(3.0)
        self.assertEqual(net.cores[RSU].route_to(B, net.clock.seconds()), A)
        # Failover works the same way with this strategy.
        net.silent.add(RSU)
        net.run(0.01)
        net.silent.discard(RSU)
        net.unlink(RSU, B)
        net.run(3.0)
        self.assertEqual(net.cores[B].upstream, A)
