"""The round-trip time shown for a vehicle (issue 9, "latency shown"):
``vanet-sim``'s RTT_MS column, ``/node_info``'s ``rtt_ms`` and ``vanetctl
routes`` against the gateway RSU show one value, the time from the RSU
sending a heartbeat to it receiving the vehicle's reply (docs/protocol.md
§4), on a chain with fixed, asymmetric link latencies and no jitter."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests.test_ctl import run_ctl, serve_status
from tests.test_sim_cli import run_main
from tests.test_sim_inprocess_api import call
from vanet.sim.api import SimulationAPI
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation
from vanet.sim.loader import load_topology

# rsu -> near: 3 ms, near -> rsu: 4 ms; near -> far: 5 ms, far -> near: 6 ms.
# The RSU hears far only through near.
CHAIN = """\
[sim]
seed = 7

[node:rsu]
role = rsu
routing.hello_period_ms = 1000

[node:near]
role = obu
routing.hello_period_ms = 1000

[node:far]
role = obu
routing.hello_period_ms = 1000

[link:rsu>near]
latency_ms = 3
[link:near>rsu]
latency_ms = 4
[link:near>far]
latency_ms = 5
[link:far>near]
latency_ms = 6
"""
EXPECTED_RTT_MS = {"near": 3 + 4, "far": 3 + 5 + 6 + 4}
# The heartbeat's duration field is in whole ms; the clock is exact.
TOLERANCE_MS = 0.5
DURATION_S = 10


class RoundTripTests(SynchronousTestCase):
    def setUp(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="vanet-rtt-"))
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        self.config = tmp / "chain.ini"
        self.config.write_text(CHAIN)

    def running(self) -> Simulation:
        simulation = Simulation(load_topology(self.config), VirtualClock())
        simulation.startService()
        self.addCleanup(simulation.stopService)
        simulation.clock.run_until(DURATION_S)
        return simulation

    def assert_expected(self, shown: dict[str, float], where: str) -> None:
        self.assertEqual(set(shown), set(EXPECTED_RTT_MS), where)
        for name, expected in EXPECTED_RTT_MS.items():
            self.assertNotEqual(shown[name], 0, f"{where}: {name}")
            self.assertAlmostEqual(
                shown[name], expected, delta=TOLERANCE_MS, msg=f"{where}: {name}"
            )

    def test_cli_table_and_json(self) -> None:
        status, out, err = run_main(
            "--config", str(self.config), "--clock", "virtual", "--duration", "10"
        )
        self.assertEqual(status, 0, err)
        lines = out.split("\nTraffic\n")[0].splitlines()
        header = lines[1].split()
        column = header.index("RTT_MS")
        rows = {line.split()[0]: line.split() for line in lines[2:-1]}
        self.assertEqual(rows["rsu"][column], "-")
        self.assert_expected(
            {name: float(rows[name][column]) for name in EXPECTED_RTT_MS}, "table"
        )
        status, out, err = run_main(
            "--config",
            str(self.config),
            "--clock",
            "virtual",
            "--duration",
            "10",
            "--json",
        )
        self.assertEqual(status, 0, err)
        report = {entry["name"]: entry for entry in json.loads(out)["node_info"]}
        self.assert_expected(
            {name: report[name]["rtt_ms"] for name in EXPECTED_RTT_MS}, "--json"
        )

    def test_node_info_and_vanetctl_show_the_same_value(self) -> None:
        simulation = self.running()
        reply = call(SimulationAPI(simulation), "GET", "/api/v1/node_info")
        self.assertEqual(reply.code, 200, reply.body)
        info = {entry["name"]: entry for entry in reply.json()}
        for name in EXPECTED_RTT_MS:
            self.assertEqual(info[name]["gateway_node"], "rsu")
        from_api = {name: info[name]["rtt_ms"] for name in EXPECTED_RTT_MS}
        self.assert_expected(from_api, "/api/v1/node_info")
        # the root's older shape: the same round trip, in whole microseconds
        older = call(SimulationAPI(simulation), "GET", "/node_info").json()
        for name in EXPECTED_RTT_MS:
            self.assertEqual(
                older[name]["upstream"]["latency_us"], round(from_api[name] * 1000)
            )

        # vanetctl against the RSU's control endpoint (what it would serve).
        url = serve_status(self, simulation.nodes["rsu"].engine.status())
        code, out, err = run_ctl(url, "routes")
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        column = lines[0].split().index("RTT_MS")
        by_mac = {line.split()[0]: float(line.split()[column]) for line in lines[1:]}
        from_ctl = {name: by_mac[info[name]["mac"]] for name in EXPECTED_RTT_MS}
        self.assert_expected(from_ctl, "vanetctl routes")
        for name in EXPECTED_RTT_MS:
            self.assertEqual(f"{from_ctl[name]:.2f}", f"{from_api[name]:.2f}", name)

        code, out, err = run_ctl(url, "--json", "routes")
        self.assertEqual(code, 0, err)
        routes = json.loads(out)
        for name in EXPECTED_RTT_MS:
            self.assertEqual(routes[info[name]["mac"]]["latency_ms"], from_api[name])

    def test_no_route_yet_shows_none(self) -> None:
        simulation = Simulation(load_topology(self.config), VirtualClock())
        simulation.startService()
        self.addCleanup(simulation.stopService)
        info = {entry["name"]: entry for entry in simulation.node_info()}
        self.assertIsNone(info["far"]["rtt_ms"])
        self.assertIsNone(info["far"]["upstream"])
