"""The ``rssi`` strategy: its ranking and hysteresis, and in a simulation
with positions, a gateway change that needs +3 dB."""

from __future__ import annotations

from contextlib import contextmanager

import attrs
from twisted.logger import formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.discovery import available_strategies, load_strategy
from vanet.interfaces import IRoutingStrategy
from vanet.plugins import rssi as rssi_plugin
from vanet.plugins.rssi import RssiStrategy
from vanet.routing.candidates import Candidate
from vanet.routing.strategies import LatencyStrategy
from vanet.sim.api import SimulationAPI
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation
from vanet.sim.loader import load_topology

from .test_sim_inprocess_api import call
from .test_sim_mobility import TopologyFiles, upstreams

RSU_A, RSU_B = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
NEAR, FAR = bytes.fromhex("0200000000a1"), bytes.fromhex("0200000000a2")
RSSI = {RSU_A: -70.0, RSU_B: -72.0, NEAR: -40.0, FAR: -80.0}


def candidate(next_hop, hops=1, target=RSU_A, ms=None, rssi=None):
    """As the core builds one; ``rssi``: a dBm, else the RSSI table's."""
    return Candidate(
        target,
        next_hop,
        hops,
        ms,
        ms,
        1 if ms is not None else 0,
        rssi_dbm=RSSI.get(next_hop) if rssi is None else rssi,
    )


def unmeasured_rssi(c):
    return attrs.evolve(c, rssi_dbm=None)


class RankingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.strategy = load_strategy("rssi")

    def test_found_as_a_plugin(self) -> None:
        self.assertIn("rssi", available_strategies())
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
        current, best = candidate(FAR, 2, rssi=-62.0), candidate(NEAR, 2, rssi=-60.0)
        # 2 dB is 0.8 * 2/75 = 0.021 better: inside the 0.05 band
        self.assertIsNone(self.strategy.upstream_switch_reason(current, best))
        current = candidate(FAR, 2, rssi=-70.0)
        self.assertEqual(
            self.strategy.upstream_switch_reason(current, best), "stronger_link"
        )
        self.assertEqual(
            self.strategy.upstream_switch_reason(candidate(NEAR, 3), candidate(FAR, 2)),
            "fewer_hops",
        )

    def test_gateway_change_needs_3_db_or_a_weak_current(self) -> None:
        def reason(current_dbm, best_dbm):
            return self.strategy.gateway_switch_reason(
                candidate(RSU_A, target=RSU_A, rssi=current_dbm),
                candidate(RSU_B, target=RSU_B, rssi=best_dbm),
                0.1,
            )

        self.assertIsNone(reason(-70.0, -67.5))
        self.assertEqual(reason(-70.0, -67.0), "stronger_gateway")
        self.assertEqual(reason(-96.0, -95.5), "weak_gateway")

    def test_without_rssi_it_ranks_as_latency_and_says_so_once(self) -> None:
        latency = LatencyStrategy()
        cands = [
            unmeasured_rssi(candidate(FAR, 2, ms=1.0)),
            unmeasured_rssi(candidate(NEAR, 2, ms=30.0)),
        ]
        strategy = RssiStrategy()  # a fresh one: its log line not said yet
        with capture_log() as said:
            ranked = strategy.rank_upstream(list(reversed(cands)))
            strategy.rank_gateways(cands)
        self.assertEqual(ranked, latency.rank_upstream(cands))
        self.assertEqual(
            strategy.upstream_switch_reason(cands[1], cands[0]),
            latency.upstream_switch_reason(cands[1], cands[0]),
        )
        self.assertEqual(
            strategy.gateway_switch_reason(cands[1], cands[0], 0.1),
            latency.gateway_switch_reason(cands[1], cands[0], 0.1),
        )
        lines = [event for event in said if "no RSSI" in formatEvent(event)]
        self.assertEqual(len(lines), 1, [formatEvent(e) for e in said])
        self.assertIn("ranking by latency", formatEvent(lines[0]))

    def test_with_rssi_it_says_nothing(self) -> None:
        strategy = RssiStrategy()
        with capture_log() as said:
            strategy.rank_upstream([candidate(NEAR, 2), candidate(FAR, 2)])
        self.assertEqual(said, [])


@contextmanager
def capture_log():
    events: list[dict] = []
    publisher = rssi_plugin.log.observer
    rssi_plugin.log.observer = events.append
    try:
        yield events
    finally:
        rssi_plugin.log.observer = publisher


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

    def test_rssi_reaches_the_strategy_through_the_core(self) -> None:
        simulation = Simulation(load_topology(self.write(TWO_RSUS)), VirtualClock())
        simulation.startService()
        self.addCleanup(simulation.stopService)
        simulation.clock.run_until(5)
        # the core's upstream candidate carries the radio's RSSI and the
        # loss it saw (no fading at snr0 150 dB: none lost)
        core = simulation.nodes["car"].engine.routing
        (chosen,) = core.status(5.0)["candidates"]
        self.assertEqual(chosen["rssi_dbm"], -69.248)  # 290 m
        self.assertEqual(chosen["loss"], 0.0)
        # and /node_info (the older shape) shows it on the upstream
        older = call(SimulationAPI(simulation), "GET", "/node_info").json()
        upstream = older["car"]["upstream"]
        self.assertEqual(upstream["node_name"], "rsu-a")
        self.assertEqual(upstream["rssi_dbm"], round(chosen["rssi_dbm"], 2))
