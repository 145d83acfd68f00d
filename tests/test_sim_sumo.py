"""SUMO drives the vehicles (the ``sumo`` extra): a scenario shipped in the
installed eclipse-sumo package runs for 60 simulated seconds with its
vehicles bound to OBUs, routes form and change; a local OpenStreetMap file
is converted and driven; config errors name the key."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from unittest import skipIf

from twisted.trial.unittest import SynchronousTestCase

from vanet.sim.api import SimulationAPI
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation, run_virtual
from vanet.sim.loader import load_topology

from .test_sim_inprocess_api import call
from .test_sim_mobility import NODES, TopologyFiles

REPO = Path(__file__).resolve().parents[1]
RAMP = REPO / "examples" / "sumo-ramp.ini"
OSM = Path(__file__).resolve().parent / "data" / "motorway.osm"

HAVE_SUMO = importlib.util.find_spec("sumo") is not None and (
    importlib.util.find_spec("libsumo") is not None
    or importlib.util.find_spec("traci") is not None
)
NO_SUMO = "the sumo extra is not installed: pip install 'vanet[sumo]' (CI installs it)"


@skipIf(not HAVE_SUMO, NO_SUMO)
class SumoRunTests(SynchronousTestCase):
    def test_the_packaged_ramp_for_60_seconds(self) -> None:
        topology = load_topology(RAMP)
        simulation = Simulation(topology, VirtualClock())
        self.addCleanup(simulation.stopService)
        model = simulation.mobility.model
        samples = []
        run_virtual(
            simulation,
            60.0,
            progress=lambda _t: samples.append(
                {e["name"]: e for e in simulation.node_info()}
            ),
        )
        # SUMO's clock and ours in lock step
        self.assertAlmostEqual(model.time_s, 60.0)
        self.assertEqual(simulation.clock.seconds(), 60.0)
        # vehicles took OBUs, left SUMO and gave them back to new ones
        self.assertGreater(model.bound_total, 16)
        vehicles = [n for n, s in topology.nodes.items() if s.role == "obu"]
        bound = [n for n in vehicles if model.vehicle_of(n)]
        self.assertGreater(len(bound), 8)
        last = samples[-1]
        # a bound vehicle is where SUMO has it: on the motorway's stretch
        # (a network without a geo-projection: no latitude, longitude)
        for name in bound:
            position = last[name]["position"]
            self.assertTrue(-600 <= position["x"] <= 1420, position)
            self.assertNotIn("lat", position)
        # routes form ...
        with_gateway = [n for n in bound if last[n]["gateway_node"]]
        self.assertGreater(len(with_gateway), len(bound) // 2)
        # ... and change as they drive from rsu-west's stretch to rsu-east's
        switched = sum(1 for n in vehicles if last[n]["handovers"])
        self.assertGreater(switched, 3)
        gateways = {s[n]["gateway_node"] for s in samples[10:] for n in vehicles}
        self.assertEqual(gateways - {None}, {"rsu-west", "rsu-east"})

    def test_a_local_openstreetmap_file(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="vanet-sumo-"))
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        shutil.copy(OSM, folder / "motorway.osm")
        path = folder / "sim.ini"
        path.write_text(
            "[mobility]\nmodel = sumo\nsumo_osm = motorway.osm\n"
            "[node:rsu]\nrole = rsu\nrouting.hello_period_ms = 1000\n"
            "position = 1000, 40\n"
            + "".join(
                f"[node:car{i}]\nrole = obu\nrouting.hello_period_ms = 1000\n"
                for i in range(4)
            )
        )
        simulation = Simulation(load_topology(path), VirtualClock())
        self.addCleanup(simulation.stopService)
        run_virtual(simulation, 20.0)
        positions = simulation.positions()
        cars = [name for name in positions if name.startswith("car")]
        self.assertTrue(cars, positions)
        for name in cars:
            # the motorway runs 3 km along x, from y = 71 m to 0 ...
            self.assertTrue(0 <= positions[name]["x"] <= 3060, positions[name])
            self.assertGreater(positions[name]["speed"], 0)
            # ... at 52.5005 N from 13.300 E to 13.345 E (the OSM file's)
            self.assertLess(abs(positions[name]["lat"] - 52.5005), 0.001)
            self.assertTrue(13.2999 <= positions[name]["lon"] <= 13.3451)
        self.assertLess(abs(positions["rsu"]["lon"] - 13.3148), 0.001)
        # the root's /positions, the older shape: lat/lon, no x/y needed
        older = call(SimulationAPI(simulation), "GET", "/positions").json()
        for name in cars:
            self.assertEqual(
                (older[name]["lat"], older[name]["lon"], older[name]["speed"]),
                (
                    positions[name]["lat"],
                    positions[name]["lon"],
                    positions[name]["speed"],
                ),
            )
            self.assertNotIn("x", older[name])
            self.assertEqual(older[name]["bearing"], positions[name]["heading"] % 360)
        simulation.stopService()
        # the converted network lived in a temporary folder, now removed
        workdir = simulation.mobility.model._workdir
        self.assertIsNone(workdir)


@skipIf(not HAVE_SUMO, NO_SUMO)
class SumoConfigTests(TopologyFiles, SynchronousTestCase):
    def test_errors_name_the_key(self) -> None:
        cases = {
            "model = sumo\n": "[mobility] model = 'sumo': model = sumo needs one of "
            "sumo_config, sumo_net (with sumo_routes) or sumo_osm",
            "model = sumo\nsumo_config = nowhere.sumocfg\n": "[mobility] sumo_config "
            "= 'nowhere.sumocfg': no such file",
            "model = sumo\nsumo_config = sumo:tools/game/none.sumocfg\n": "[mobility] "
            "sumo_config = 'sumo:tools/game/none.sumocfg': no such file",
            "model = sumo\nsumo_osm = https://example.org/map.osm\n": "[mobility] "
            "sumo_osm = 'https://example.org/map.osm': a download is not made here",
            "model = sumo\nsumo_osm = 13.30,52.50,13.34,52.51\n": "[mobility] "
            "sumo_osm = '13.30,52.50,13.34,52.51': a download is not made here",
            "model = sumo\nsumo_net = a.net.xml\nsumo_config = b.sumocfg\n": "[mobility] "
            "model = 'sumo': model = sumo needs one of",
            "sumo_config = sumo:tools/game/ramp.sumocfg\n": "[mobility] sumo_config = "
            "'sumo:tools/game/ramp.sumocfg': only with model = sumo",
        }
        for body, expected in cases.items():
            message = self.error("[mobility]\n" + body + NODES)
            self.assertTrue(message.startswith(expected), (body, message))


class WithoutSumoTests(TopologyFiles, SynchronousTestCase):
    def test_model_sumo_says_how_to_install_it(self) -> None:
        import sys
        from unittest import mock

        # as if eclipse-sumo were not installed
        patcher = mock.patch.dict(sys.modules, {"sumo": None})
        patcher.start()
        self.addCleanup(patcher.stop)
        message = self.error(
            "[mobility]\nmodel = sumo\nsumo_config = sumo:x.sumocfg\n" + NODES
        )
        self.assertEqual(
            message,
            "[mobility] model = 'sumo': model = sumo needs SUMO: "
            "pip install 'vanet[sumo]' (eclipse-sumo)",
        )
