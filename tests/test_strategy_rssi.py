"""The ``rssi`` strategy: its ranking and hysteresis, and in a simulation
with positions, a gateway change that needs +3 dB."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.discovery import available_strategies, load_strategy
from vanet.interfaces import IRoutingStrategy
from vanet.routing.candidates import Candidate
from vanet.routing.strategies import LatencyStrategy
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation
from vanet.sim.loader import load_topology

from .test_sim_mobility import TopologyFiles, upstreams

RSU_A, RSU_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
NEAR, FAR = bytes.fromhex("0200000000a1"), bytes.fromhex("0200000000a2")
RSSI = {RSU_A: -70.0, RSU_B: -72.0, NEAR: -40.0, FAR: -80.0}


def candidate(next_hop, hops=1, target=RSU_A, ms=None):
    return Candidate(target, next_hop, hops, ms, ms, 1 if ms is not None else 0)


class RankingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.unbound = load_strategy("rssi")
        self.strategy = self.unbound.with_link_quality(RSSI.get)

    def test_found_as_a_plugin(self) -> None:
        self.assertIn("rssi", available_strategies())
        verifyObject(IRoutingStrategy, self.unbound)
        verifyObject(IRoutingStrategy, self.strategy)

    def test_score_weights_latency_and_rssi(self) -> None:
        # RSSI -40: (20 / 75) of the way to -95; 25 + 25 ms of 100 ms
        score = self.strategy.score(candidate(NEAR, ms=25.0))
        self.assertAlmostEqual(score, 0.2 * 0.5 + 0.8 * 20 / 75)
        # nothing measured: the RSSI alone
        self.assertAlmostEqual(self.strategy.score(candidate(NEAR)), 20 / 75)
        self.assertIsNone(self.strategy.score(candidate(bytes(6))))

    def test_among_equal_hops_the_stronger_link_first(self) -> None:
        near, far = candidate(NEAR, 2, ms=30.0), candidate(FAR, 2, ms=0.0)
        self.assertEqual(self.strategy.rank_upstream([far, near]), [near, far])
        # latency alone would say the other
        self.assertEqual(LatencyStrategy().rank_upstream([near, far]), [far, near])

    def test_fewer_hops_first(self) -> None:
        direct, relay = candidate(FAR, 1), candidate(NEAR, 2)
        self.assertEqual(self.strategy.rank_upstream([relay, direct]), [direct, relay])

    def test_upstream_hysteresis(self) -> None:
        strategy = self.unbound.with_link_quality({NEAR: -60.0, FAR: -62.0}.get)
        current, best = candidate(FAR, 2), candidate(NEAR, 2)
        # 2 dB is 0.8 * 2/75 = 0.021 better: inside the 0.05 band
        self.assertIsNone(strategy.upstream_switch_reason(current, best))
        strategy = self.unbound.with_link_quality({NEAR: -60.0, FAR: -70.0}.get)
        self.assertEqual(
            strategy.upstream_switch_reason(current, best), "stronger_link"
        )
        self.assertEqual(
            strategy.upstream_switch_reason(candidate(NEAR, 3), candidate(FAR, 2)),
            "fewer_hops",
        )

    def test_gateway_change_needs_3_db_or_a_weak_current(self) -> None:
        def reason(current_dbm, best_dbm):
            strategy = self.unbound.with_link_quality(
                {RSU_A: current_dbm, RSU_B: best_dbm}.get
            )
            return strategy.gateway_switch_reason(
                candidate(RSU_A, target=RSU_A), candidate(RSU_B, target=RSU_B), 0.1
            )

        self.assertIsNone(reason(-70.0, -67.5))
        self.assertEqual(reason(-70.0, -67.0), "stronger_gateway")
        self.assertEqual(reason(-96.0, -95.5), "weak_gateway")

    def test_unbound_ranks_as_latency(self) -> None:
        latency = LatencyStrategy()
        cands = [candidate(FAR, 2, ms=1.0), candidate(NEAR, 2, ms=30.0)]
        self.assertEqual(
            self.unbound.rank_upstream(cands), latency.rank_upstream(cands)
        )
        self.assertEqual(
            self.unbound.upstream_switch_reason(cands[1], cands[0]),
            latency.upstream_switch_reason(cands[1], cands[0]),
        )


TWO_RSUS = """
[sim]
seed = 1
[mobility]
model = static
[radio]
snr0_db = 150
[node:rsu-a]
role = rsu
routing.hello_period_ms = 1000
position = 0, 0
[node:rsu-b]
role = rsu
routing.hello_period_ms = 1000
position = 600, 0
[node:car]
role = obu
routing.hello_period_ms = 1000
routing.strategy = rssi
position = 290, 0
"""


class SimulationTests(TopologyFiles, SynchronousTestCase):
    def test_the_gateway_follows_the_stronger_rsu_beyond_3_db(self) -> None:
        simulation = Simulation(load_topology(self.write(TWO_RSUS)), VirtualClock())
        simulation.startService()
        self.addCleanup(simulation.stopService)

        def run(seconds):
            simulation.clock.run_until(simulation.clock.seconds() + seconds)
            return upstreams(simulation)["car"]

        # -69.2 dBm to rsu-a, -69.8 to rsu-b
        self.assertEqual(run(5), ("rsu-a", 1))
        # 310 m from rsu-a, 290 from rsu-b: 0.6 dB stronger, not enough
        simulation.set_position("car", 310, 0)
        self.assertEqual(run(5), ("rsu-a", 1))
        # 400 m and 200 m: 6 dB
        simulation.set_position("car", 400, 0)
        self.assertEqual(run(5), ("rsu-b", 1))
