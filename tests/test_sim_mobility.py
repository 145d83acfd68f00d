"""Moving nodes in the simulator: the [mobility] and [radio] sections,
routes that form and change as vehicles drive (hand-overs between RSUs,
relaying through another vehicle), and the API's positions."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from vanet.sim.api import SimulationAPI
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation, run_virtual
from vanet.sim.loader import load_topology
from vanet.sim.topology import SimConfigError

from .test_sim_inprocess_api import call

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MOVING = EXAMPLES / "moving-highway.ini"

NODES = """
[node:rsu]
role = rsu
routing.hello_period_ms = 1000

[node:car1]
role = obu
routing.hello_period_ms = 1000

[node:car2]
role = obu
routing.hello_period_ms = 1000
"""

# No fading loss (a very strong radio), 400 m range: a chain along x.
STATIC_CHAIN = """
[sim]
seed = 1
[mobility]
model = static
[radio]
snr0_db = 150
max_range_m = 400
[node:rsu]
role = rsu
routing.hello_period_ms = 1000
position = 0, 0
[node:car1]
role = obu
routing.hello_period_ms = 1000
position = 350, 0
[node:car2]
role = obu
routing.hello_period_ms = 1000
position = 700, 0
"""


class TopologyFiles:
    def write(self, text: str) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="vanet-mobility-"))
        self.addCleanup(lambda: [p.unlink() for p in folder.iterdir()] and None)
        path = folder / "sim.ini"
        path.write_text(textwrap.dedent(text))
        return path

    def error(self, text: str) -> str:
        path = self.write(text)
        with self.assertRaises(SimConfigError) as caught:
            load_topology(path)
        message = str(caught.exception)
        self.assertEqual(message.count("\n"), 0, message)
        self.assertTrue(message.startswith(f"{path}: "), message)
        return message[len(str(path)) + 2 :]


class ConfigTests(TopologyFiles, SynchronousTestCase):
    def test_sections_load(self) -> None:
        topology = load_topology(
            self.write(
                "[mobility]\nlanes = 3\nspeed_mps = 20-35\n"
                "[radio]\nm = 3\nmode = per-packet\ncoherence_ms = 2\n" + NODES
            )
        )
        self.assertEqual(topology.mobility.lanes, 3)
        self.assertEqual(topology.mobility.speed_mps, (20.0, 35.0))
        self.assertEqual((topology.radio.m, topology.radio.mode), (3, "per-packet"))

    def test_mobility_alone_gets_the_default_radio(self) -> None:
        topology = load_topology(self.write("[mobility]\n" + NODES))
        self.assertEqual(topology.radio.max_range_m, 500.0)

    def test_without_mobility_nothing_moves(self) -> None:
        topology = load_topology(self.write(NODES))
        self.assertIsNone(topology.mobility)
        self.assertIsNone(topology.radio)

    def test_errors_name_section_and_key(self) -> None:
        cases = {
            "[mobility]\nlanes = 0\n": "[mobility] lanes = '0': expected a whole "
            "number from 1 to 16",
            "[mobility]\nlane = 2\n": "[mobility] lane = '2': unknown key; allowed: "
            "model, step_ms,",
            "[mobility]\nmodel = bicycle\n": "[mobility] model = 'bicycle': expected one of "
            "highway, static, sumo",
            "[mobility]\nspeed_mps = 30-20\n": "[mobility] speed_mps = '30-20': "
            "expected a speed in m/s",
            "[mobility]\nspacing_m = 4\n": "[mobility] spacing_m = '4': vehicles would "
            "start closer",
            "[mobility]\nlength_m = 50\nspacing_m = 50\nlanes = 1\n": "[mobility] "
            "length_m = '50': 2 vehicles in 1 lane(s)",
            "[mobility]\n[radio]\nm = 1.5\n": "[radio] m = '1.5': expected a whole "
            "number from 1 to 64",
            "[mobility]\n[radio]\nmode = burst\n": "[radio] mode = 'burst': expected "
            "one of periodic, per-packet",
            "[mobility]\n[radio]\nms_per_100m = -1\n": "[radio] ms_per_100m = '-1': "
            "expected a number >= 0",
            "[radio]\n": "[radio]: links from positions need a [mobility] section",
        }
        for head, expected in cases.items():
            message = self.error(head + NODES)
            self.assertTrue(message.startswith(expected), (head, message))

    def test_positions(self) -> None:
        message = self.error(NODES.replace("role = rsu", "role = rsu\nposition = 1"))
        self.assertTrue(
            message.startswith("[node:rsu] position = '1': expected X, Y in metres"),
            message,
        )
        message = self.error(NODES.replace("role = rsu", "role = rsu\nposition = 1,2"))
        self.assertEqual(
            message, "[node:rsu] position: positions need a [mobility] section"
        )
        message = self.error(
            "[mobility]\n" + NODES.replace("role = obu", "role = obu\nposition = 1,2")
        )
        self.assertTrue(
            message.startswith("[node:car1] position: model = highway places"), message
        )
        message = self.error("[mobility]\nmodel = static\n" + NODES)
        self.assertTrue(
            message.startswith("[node:rsu] position: model = static needs a position"),
            message,
        )


def upstreams(simulation: Simulation) -> dict[str, tuple[str | None, int | None]]:
    result = {}
    for entry in simulation.node_info():
        if entry["role"] == "obu":
            upstream = entry["upstream"] or {}
            result[entry["name"]] = (upstream.get("node"), upstream.get("hops"))
    return result


class StaticChainTests(TopologyFiles, SynchronousTestCase):
    def setUp(self) -> None:
        self.simulation = Simulation(
            load_topology(self.write(STATIC_CHAIN)), VirtualClock()
        )
        self.simulation.startService()
        self.addCleanup(self.simulation.stopService)
        self.api = SimulationAPI(self.simulation)

    def run_for(self, seconds: float) -> None:
        clock = self.simulation.clock
        clock.run_until(clock.seconds() + seconds)

    def post(self, name: str, x: float, y: float):
        return call(
            self.api,
            "POST",
            f"/api/v1/node/{name}/position",
            f'{{"x": {x}, "y": {y}}}'.encode(),
        )

    def test_out_of_range_goes_through_the_vehicle_between(self) -> None:
        self.run_for(4)
        self.assertEqual(
            upstreams(self.simulation), {"car1": ("rsu", 1), "car2": ("car1", 2)}
        )
        info = {e["name"]: e for e in self.simulation.node_info()}
        self.assertEqual(info["car2"]["position"]["x"], 350 * 2)
        self.assertEqual(info["car2"]["upstream"]["distance_m"], 350.0)
        self.assertEqual(info["car2"]["upstream"]["rssi_dbm"], -70.88)

    def test_moving_in_range_goes_direct_and_out_of_all_range_loses_it(self) -> None:
        self.run_for(4)
        reply = self.post("car2", 200, 0)
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(reply.json()["x"], 200)
        self.run_for(4)
        self.assertEqual(upstreams(self.simulation)["car2"], ("rsu", 1))
        # far from everyone: no links, so the upstream times out
        self.post("car2", 5000, 0)
        self.run_for(6)
        self.assertEqual(upstreams(self.simulation)["car2"], (None, None))
        self.assertEqual(upstreams(self.simulation)["car1"], ("rsu", 1))

    def test_positions_and_fading_endpoints(self) -> None:
        positions = call(self.api, "GET", "/api/v1/positions").json()
        self.assertEqual(
            positions["car1"], {"x": 350.0, "y": 0.0, "speed": 0.0, "heading": 0.0}
        )
        self.assertEqual(set(positions), {"rsu", "car1", "car2"})
        fading = call(self.api, "GET", "/fading").json()
        self.assertEqual(fading["model"], "nakagami")
        self.assertEqual((fading["m"], fading["max_range_m"]), (2, 400.0))
        self.assertEqual(fading["mobility"], {"model": "static"})
        self.assertEqual(fading["radio_links"], 4)

    def test_root_paths_answer_the_same_facts_in_the_older_shapes(self) -> None:
        self.run_for(4)
        ours = call(self.api, "GET", "/api/v1/positions").json()
        older = call(self.api, "GET", "/positions").json()
        self.assertEqual(set(older), set(ours))
        # no lat/lon in this scenario: x, y kept, lat and lon null
        self.assertEqual(
            older["car2"],
            {
                "lat": None,
                "lon": None,
                "x": 700.0,
                "y": 0.0,
                "speed": 0.0,
                "bearing": 0.0,
            },
        )
        for name, position in ours.items():
            self.assertEqual(
                (older[name]["x"], older[name]["y"], older[name]["speed"]),
                (position["x"], position["y"], position["speed"]),
            )
        info = {e["name"]: e for e in call(self.api, "GET", "/api/v1/node_info").json()}
        older_info = call(self.api, "GET", "/node_info").json()
        upstream = older_info["car2"]["upstream"]
        self.assertEqual((upstream["node_name"], upstream["hops"]), ("car1", 2))
        self.assertEqual(upstream["rssi_dbm"], -70.88)
        self.assertEqual(upstream["rssi_dbm"], info["car2"]["upstream"]["rssi_dbm"])
        self.assertEqual(
            upstream["latency_us"],
            None
            if info["car2"]["rtt_ms"] is None
            else round(info["car2"]["rtt_ms"] * 1000),
        )

    def test_bad_position_posts(self) -> None:
        self.assertEqual(self.post("nobody", 1, 1).code, 404)
        for body in (b'{"x": 1}', b'{"x": "a", "y": 1}', b"[1, 2]", b"{"):
            reply = call(self.api, "POST", "/node/car1/position", body)
            self.assertEqual(reply.code, 400, body)
        reply = call(self.api, "GET", "/node/car1/position")
        self.assertEqual(reply.code, 405)


class MovingHighwayApiTests(SynchronousTestCase):
    """examples/moving-highway.ini: vehicles driving east, both shapes of
    ``/positions`` and ``/node_info`` from the same moment."""

    def test_bearing_speed_and_upstreams_agree(self) -> None:
        simulation = Simulation(load_topology(MOVING), VirtualClock())
        simulation.startService()
        self.addCleanup(simulation.stopService)
        simulation.clock.run_until(10.0)
        api = SimulationAPI(simulation)
        ours = call(api, "GET", "/api/v1/positions").json()
        older = call(api, "GET", "/positions").json()
        self.assertEqual(set(older), set(ours))
        moving = [name for name, p in ours.items() if p["speed"] > 0]
        self.assertTrue(moving, ours)
        for name in moving:
            # along +x, east: 90 degrees clockwise from north
            self.assertEqual(older[name]["bearing"], 90.0)
            self.assertEqual(older[name]["speed"], ours[name]["speed"])
            self.assertEqual(older[name]["x"], ours[name]["x"])
            self.assertEqual((older[name]["lat"], older[name]["lon"]), (None, None))
        info = {e["name"]: e for e in call(api, "GET", "/api/v1/node_info").json()}
        older_info = call(api, "GET", "/node_info").json()
        self.assertEqual(set(older_info), set(info))
        linked = 0
        for name, entry in info.items():
            self.assertEqual(older_info[name]["node_type"], entry["role"])
            self.assertEqual(older_info[name]["mac"], entry["mac"])
            upstream = entry.get("upstream")
            if not upstream:
                self.assertIsNone(older_info[name]["upstream"])
                continue
            linked += 1
            rtt = entry["rtt_ms"]
            self.assertEqual(
                older_info[name]["upstream"],
                {
                    "hops": upstream["hops"],
                    "mac": upstream["mac"],
                    "node_name": upstream["node"],
                    "rssi_dbm": upstream["rssi_dbm"],
                    "latency_us": None if rtt is None else round(rtt * 1000),
                },
            )
            self.assertIsNotNone(upstream["rssi_dbm"])
        self.assertGreater(linked, 0)


def sample_run(path: Path, seconds: int, **radio: str):
    """Run ``path`` on a virtual clock, one node_info sample a second."""
    topology = load_topology(path)
    if radio:
        import attrs

        topology = attrs.evolve(topology, radio=attrs.evolve(topology.radio, **radio))
    simulation = Simulation(topology, VirtualClock())
    samples: list[dict] = []

    def progress(_elapsed: float) -> None:
        samples.append({e["name"]: e for e in simulation.node_info()})

    run_virtual(simulation, seconds, progress=progress)
    simulation.stopService()
    return simulation, samples


class MovingHighwayTests(SynchronousTestCase):
    def check_moving_run(self, **radio: str) -> None:
        simulation, samples = sample_run(MOVING, 60, **radio)
        vehicles = [n for n, e in samples[0].items() if e["role"] == "obu"]
        self.assertEqual(len(vehicles), 12)
        gateways = {
            name: [s[name]["gateway_node"] for s in samples] for name in vehicles
        }
        # routes form: after the warm-up nearly every sample has a gateway
        with_gateway = sum(g is not None for gs in gateways.values() for g in gs[5:])
        self.assertGreater(with_gateway / (len(vehicles) * 55), 0.95)
        # and change as vehicles drive: hand-overs between RSUs
        handovers = {
            name: sum(1 for a, b in zip(gs, gs[1:]) if a and b and a != b)
            for name, gs in gateways.items()
        }
        self.assertGreaterEqual(sum(1 for n in handovers.values() if n), 6, handovers)
        # a vehicle's gateway is an RSU within range of where it is, or of
        # a vehicle it relays through
        rsus = {"rsu-west": 500.0, "rsu-mid": 1500.0, "rsu-east": 2500.0}
        last = samples[-1]
        for name in vehicles:
            entry = last[name]
            if entry["upstream"] and entry["upstream"]["hops"] == 1:
                self.assertLessEqual(
                    abs(entry["position"]["x"] - rsus[entry["gateway_node"]]), 500.0
                )
                self.assertLessEqual(entry["upstream"]["distance_m"], 500.0)
        # everyone moved on, at a speed in the configured range
        for name in vehicles:
            speed = last[name]["position"]["speed"]
            self.assertTrue(0 < speed <= 33.0, (name, speed))
        report = simulation.report()
        self.assertGreater(report["traffic"]["received"], 0)

    def test_periodic_fading(self) -> None:
        self.check_moving_run()

    def test_per_packet_fading(self) -> None:
        self.check_moving_run(mode="per-packet", coherence_ms=2.0)

    def test_same_seed_same_run(self) -> None:
        first = sample_run(MOVING, 20)[0].report()
        second = sample_run(MOVING, 20)[0].report()
        self.assertEqual(first, second)


class EmbeddedDefaultTests(SynchronousTestCase):
    def test_the_embedded_default_is_the_example(self) -> None:
        from vanet.sim.cli import embedded_topology_path

        self.assertEqual(embedded_topology_path().read_text(), MOVING.read_text())


class DocTests(SynchronousTestCase):
    def test_docs_list_every_key_as_declared(self) -> None:
        from vanet.sim.mobility.settings import MobilitySettings
        from vanet.sim.radio import RadioSettings
        from vanet.sim.sections import section_table

        text = (EXAMPLES.parent / "docs" / "simulator.md").read_text()
        for cls in (MobilitySettings, RadioSettings):
            self.assertIn(section_table(cls), text, cls.__name__)
