"""The older implementation's newer YAML: its ``nakagami`` and ``mobility``
blocks on ``[radio]`` and ``[mobility] model = osm``, its ``osm_cache``
road graph, and what cannot be done offline."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import textwrap
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation
from vanet.sim.loader import load_topology
from vanet.sim.mobility.idm import IdmParams
from vanet.sim.mobility.osm import OsmRoads, RoadGraph, read_osm_cache
from vanet.sim.radio import RadioSettings
from vanet.sim.topology import SimConfigError

EXAMPLE = (
    Path(__file__).resolve().parent.parent
    / "examples"
    / "vp-yaml"
    / "vp-osm"
    / "simulator.yaml"
)
RSU = "node_type: Rsu\nhello_periodicity: 1000\n"
OBU = "node_type: Obu\n"
TWO = "nodes:\n  r: {config_path: r.yaml}\n  c: {config_path: c.yaml}\n"
#: a straight two-way road of 2 km along the equator, and a one-way spur
ROAD = {
    "nodes": [
        {"id": 1, "lat": 0.0, "lon": 0.0},
        {"id": 2, "lat": 0.0, "lon": 0.009},
        {"id": 3, "lat": 0.0, "lon": 0.018},
        {"id": 4, "lat": 0.009, "lon": 0.018},
    ],
    "ways": [
        {"id": 10, "node_ids": [1, 2, 3], "oneway": False},
        {"id": 11, "node_ids": [3, 4], "oneway": True},
    ],
}


class Files:
    def folder(self, files: dict[str, str]) -> Path:
        folder = Path(tempfile.mkdtemp(prefix="vanet-legacy-")).resolve()
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        for name, text in files.items():
            (folder / name).write_text(textwrap.dedent(text))
        return folder

    def error(
        self, files: dict[str, str], *fragments: str, file: str = "sim.yaml"
    ) -> str:
        folder = self.folder(files)
        with self.assertRaises(SimConfigError) as caught:
            load_topology(folder / "sim.yaml")
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        self.assertTrue(message.startswith(f"{folder / file}: "), message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message


def with_road(**files: str) -> dict[str, str]:
    return {"road.json": json.dumps(ROAD), "r.yaml": RSU, "c.yaml": OBU, **files}


MOBILITY = "mobility: {enabled: true, osm_cache: road.json}\n"


class ExampleTests(SynchronousTestCase):
    def test_it_loads_onto_our_model(self) -> None:
        topology = load_topology(EXAMPLE)
        mobility, radio = topology.mobility, topology.radio
        self.assertEqual(mobility.model, "osm")
        self.assertEqual(Path(mobility.osm_cache), EXAMPLE.parent / "osm_cache.json")
        self.assertEqual(mobility.osm_bbox, (41.148, -8.612, 41.159, -8.594))
        self.assertEqual(
            (mobility.step_ms, mobility.min_trip_m, mobility.speed_mps),
            (100, 800.0, (13.9, 13.9)),
        )
        self.assertEqual(
            radio,
            RadioSettings(
                m=2,
                eta=2.0,
                snr0_db=60.0,
                snr_threshold_db=5.0,
                max_range_m=500.0,
                ms_per_100m=2.0,
                update_ms=200,
                mode="periodic",
            ),
        )
        self.assertEqual(topology.links, {})
        # lat/lon of the node files, on the plane around the bbox's middle
        x, y = topology.nodes["rsu1"].position
        self.assertAlmostEqual(y, (41.15 - 41.1535) * 110_540, places=3)
        self.assertLess(x, -500)
        self.assertIsNone(topology.nodes["obu2"].position)

    def test_it_runs_and_links_come_and_go_as_vehicles_drive(self) -> None:
        simulation = Simulation(load_topology(EXAMPLE), VirtualClock())
        simulation.startService()
        self.addCleanup(simulation.stopService)
        graph = simulation.mobility.model.graph
        start = simulation.mobility.positions()
        seen_upstreams = set()
        for _ in range(12):
            simulation.clock.run_until(simulation.clock.seconds() + 10)
            for entry in simulation.node_info():
                if entry["role"] == "obu" and entry["upstream"]:
                    seen_upstreams.add((entry["name"], entry["upstream"]["node"]))
            for name, position in simulation.mobility.positions().items():
                # every vehicle is on a way of the graph; all have lat/lon
                if name.startswith("obu"):
                    self.assertTrue(on_a_way(graph, position.x, position.y), name)
                lat, lon = graph.unproject(position.x, position.y)
                self.assertAlmostEqual(position.lat, lat)
                self.assertAlmostEqual(position.lon, lon)
        fading = simulation.mobility.describe()
        self.assertGreater(fading["links_made"], 4)
        self.assertGreater(fading["links_cut"], 4)
        moved = simulation.mobility.positions()
        for name in ("obu1", "obu2", "obu3", "obu4"):
            self.assertNotEqual(
                (start[name].x, start[name].y), (moved[name].x, moved[name].y)
            )
            self.assertGreater(moved[name].speed, 10.0)
        self.assertEqual(moved["rsu1"], start["rsu1"])
        # vehicles found gateways through both RSUs and through each other
        via = {upstream for _, upstream in seen_upstreams}
        self.assertTrue({"rsu1", "rsu2"} <= via, seen_upstreams)
        self.assertTrue(via - {"rsu1", "rsu2"}, seen_upstreams)
        self.assertEqual(len(simulation.mobility.road()["polylines"]), 7)


def on_a_way(graph: RoadGraph, x: float, y: float) -> bool:
    for a, targets in graph.out.items():
        for b in targets:
            (ax, ay), (bx, by) = graph.xy[a], graph.xy[b]
            cross = (bx - ax) * (y - ay) - (by - ay) * (x - ax)
            within = (
                min(ax, bx) - 1e-6 <= x <= max(ax, bx) + 1e-6
                and min(ay, by) - 1e-6 <= y <= max(ay, by) + 1e-6
            )
            if abs(cross) / math.dist((ax, ay), (bx, by)) < 1e-6 and within:
                return True
    return False


class MappingTests(Files, SynchronousTestCase):
    def test_every_nakagami_key(self) -> None:
        folder = self.folder(
            with_road(
                **{
                    "sim.yaml": TWO
                    + MOBILITY
                    + "nakagami:\n"
                    + "  enabled: true\n"
                    + "  m: 3\n"
                    + "  eta: 2.7\n"
                    + "  snr_0_db: 85.0\n"
                    + "  snr_thresh_db: 10\n"
                    + "  max_range_m: 800\n"
                    + "  latency_ms_per_100m: 0.5\n"
                    + "  update_ms: 20\n"
                    + "  mode: per-packet\n"
                    + "  model: bernoulli\n"
                    + "  coherence_ms: 50\n"
                }
            )
        )
        radio = load_topology(folder / "sim.yaml").radio
        self.assertEqual(
            radio,
            RadioSettings(
                m=3,
                eta=2.7,
                snr0_db=85.0,
                snr_threshold_db=10.0,
                max_range_m=800.0,
                ms_per_100m=0.5,
                update_ms=20,
                mode="per-packet",
                coherence_ms=50.0,
            ),
        )

    def test_absent_keys_take_our_defaults(self) -> None:
        folder = self.folder(
            with_road(**{"sim.yaml": TWO + MOBILITY + "nakagami: {enabled: true}\n"})
        )
        topology = load_topology(folder / "sim.yaml")
        self.assertEqual(topology.radio, RadioSettings())
        self.assertEqual(topology.mobility.step_ms, 100)

    def test_disabled_blocks_leave_fixed_links(self) -> None:
        folder = self.folder(
            with_road(
                **{
                    "sim.yaml": TWO
                    + "topology: {r: {c: {latency: 5}}}\n"
                    + "mobility: {enabled: false, osm_cache: road.json}\n"
                    + "nakagami: {enabled: false}\n"
                }
            )
        )
        topology = load_topology(folder / "sim.yaml")
        self.assertIsNone(topology.mobility)
        self.assertEqual(topology.links["r", "c"].latency_ms, 5)

    def test_nakagami_alone_uses_the_node_files_positions(self) -> None:
        folder = self.folder(
            {
                "sim.yaml": TWO + "nakagami: {enabled: true}\n",
                "r.yaml": RSU + "lat: 0.0\nlon: 0.0\n",
                "c.yaml": OBU + "lat: 0.0\nlon: 0.003\n",
            }
        )
        topology = load_topology(folder / "sim.yaml")
        self.assertEqual(topology.mobility.model, "static")
        (rx, _), (cx, _) = (topology.nodes[n].position for n in ("r", "c"))
        self.assertAlmostEqual(cx - rx, 0.003 * 111_320, places=3)
        simulation = Simulation(topology, VirtualClock())
        simulation.startService()
        self.addCleanup(simulation.stopService)
        simulation.clock.run_until(4)
        (car,) = [e for e in simulation.node_info() if e["name"] == "c"]
        self.assertEqual(car["upstream"]["node"], "r")


class ErrorTests(Files, SynchronousTestCase):
    def test_unknown_keys_in_the_blocks(self) -> None:
        self.error(
            with_road(
                **{"sim.yaml": TWO + MOBILITY + "nakagami: {enabled: true, k: 1}\n"}
            ),
            "nakagami.k: unknown key",
            "snr_0_db",
        )
        self.error(
            with_road(
                **{
                    "sim.yaml": TWO
                    + MOBILITY
                    + "nakagami: {enabled: true, default_mode: x}\n"
                }
            ),
            "nakagami.default_mode: unknown key",
            "its key is mode",
        )
        self.error(
            with_road(
                **{
                    "sim.yaml": TWO
                    + "mobility: {enabled: true, osm_cache: road.json, lanes: 2}\n"
                }
            ),
            "mobility.lanes: unknown key",
            "min_trip_distance_m",
        )
        self.error(
            with_road(
                **{
                    "sim.yaml": TWO
                    + "mobility: {enabled: true, osm_cache: road.json, "
                    + "bbox: {north: 1}}\n"
                }
            ),
            "mobility.bbox.north: unknown key",
        )

    def test_values_we_cannot_model(self) -> None:
        for value, fragment in (
            ("m: 0.9", "nakagami.m = 0.9: the fading here takes a whole m"),
            ("mode: hybrid", "nakagami.mode = 'hybrid': hybrid is not modelled"),
            ("model: exact", "nakagami.model = 'exact': expected one of gamma"),
            ("max_range_m: -1", "nakagami.max_range_m = '-1': expected a number > 0"),
        ):
            with self.subTest(value=value):
                self.error(
                    with_road(
                        **{
                            "sim.yaml": TWO
                            + MOBILITY
                            + f"nakagami: {{enabled: true, {value}}}\n"
                        }
                    ),
                    fragment,
                )
        self.error(
            with_road(
                **{
                    "sim.yaml": TWO
                    + "mobility: {enabled: true, osm_cache: road.json, "
                    + "desired_speed_ms: fast}\n"
                }
            ),
            "mobility.desired_speed_ms = 'fast'",
        )

    def test_a_bbox_to_download_asks_for_a_local_file(self) -> None:
        message = self.error(
            {
                "sim.yaml": TWO
                + "mobility:\n  enabled: true\n  bbox: {min_lat: 41.1, "
                + "max_lat: 41.2, min_lon: -8.7, max_lon: -8.6}\n",
                "r.yaml": RSU,
                "c.yaml": OBU,
            },
            "mobility.osm_cache = 'osm_cache.json': no such file",
            "mobility.bbox",
            "not done here",
            "osm_cache JSON",
            "netconvert",
        )
        self.assertIn("Overpass", message)

    def test_a_bad_road_graph(self) -> None:
        self.error(
            with_road(
                **{"sim.yaml": TWO + MOBILITY, "road.json": '{"nodes": [{"id": 1}]}'}
            ),
            "mobility.osm_cache",
            "nodes[0]: expected {id, lat, lon}",
        )
        node = '{"id": 1, "lat": 0, "lon": 0}'
        for ways, problem in (
            ("5", "expected an osm_cache road graph"),
            ('[{"id": 1, "node_ids": "12"}]', "ways[0]: expected {id, node_ids"),
        ):
            self.error(
                with_road(
                    **{
                        "sim.yaml": TWO + MOBILITY,
                        "road.json": f'{{"nodes": [{node}], "ways": {ways}}}',
                    }
                ),
                "mobility.osm_cache",
                problem,
            )
        self.error(
            with_road(
                **{
                    "sim.yaml": TWO
                    + "mobility: {enabled: true, osm_cache: road.json, bbox: "
                    + "{min_lat: 50, max_lat: 51, min_lon: 0, max_lon: 1}}\n"
                }
            ),
            "no road to drive on",
        )

    def test_nakagami_without_positions(self) -> None:
        self.error(
            {
                "sim.yaml": TWO + "nakagami: {enabled: true}\n",
                "r.yaml": RSU,
                "c.yaml": OBU,
            },
            "nakagami: links from distances need positions",
            "missing for r, c",
        )

    def test_a_server_node(self) -> None:
        self.error(
            {"sim.yaml": TWO, "r.yaml": "node_type: Server\n", "c.yaml": OBU},
            "a Server",
            "no counterpart here",
            file="r.yaml",
        )


class RoadGraphTests(SynchronousTestCase):
    def graph(self) -> RoadGraph:
        folder = Path(tempfile.mkdtemp(prefix="vanet-osm-"))
        self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
        (folder / "road.json").write_text(json.dumps(ROAD))
        return RoadGraph(*read_osm_cache(folder / "road.json"))

    def test_ways_become_edges_one_way_only_where_marked(self) -> None:
        graph = self.graph()
        self.assertEqual(set(graph.out[1]), {2})
        self.assertEqual(set(graph.out[2]), {1, 3})
        self.assertEqual(set(graph.out[3]), {2, 4})
        self.assertNotIn(4, graph.out)  # the spur is one-way: no way back
        self.assertAlmostEqual(graph.out[1][2], 0.009 * 111_320, places=2)

    def test_vehicles_respect_one_way_and_do_not_collide(self) -> None:
        graph = self.graph()
        model = OsmRoads(
            graph,
            vehicles=[("lead", graph.xy[1], 10.0), ("fast", graph.xy[1], 30.0)],
            fixed={},
            idm=IdmParams(),
            vehicle_length_m=5.0,
            min_trip_m=2500.0,  # the far end of the spur: 1 -> 2 -> 3 -> 4
            seed=1,
        )
        lead, fast = model._vehicles["lead"], model._vehicles["fast"]
        self.assertEqual(lead.route, [1, 2, 3, 4])
        # the lead starts 20 m ahead at its speed; the fast one from a stop
        lead.s, lead.v = 20.0, 10.0
        for _ in range(2000):
            model.step(0.2)
            for vehicle in (lead, fast):
                edge = vehicle.edge()
                if edge is not None:
                    self.assertIn(edge[1], graph.out[edge[0]])
            if lead.edge() == fast.edge() and lead.edge() is not None:
                self.assertGreaterEqual(lead.s - 5.0 - fast.s, 0.0)
        # the spur has no way back: both ended at node 4, parked
        self.assertEqual((lead.route[-1], fast.route[-1]), (4, 4))
        self.assertEqual(model.positions()["fast"].speed, 0.0)


class IniTests(Files, SynchronousTestCase):
    def test_model_osm_in_an_ini_topology(self) -> None:
        folder = self.folder(
            {
                "road.json": json.dumps(ROAD),
                "sim.ini": """\
                    [mobility]
                    model = osm
                    osm_cache = road.json
                    speed_mps = 20
                    [node:rsu]
                    role = rsu
                    position = 0, 0
                    [node:car]
                    role = obu
                    position = -1000, 0
                    """,
            }
        )
        topology = load_topology(folder / "sim.ini")
        simulation = Simulation(topology, VirtualClock())
        simulation.startService()
        self.addCleanup(simulation.stopService)
        # the car starts at node 1, the west end, and drives east
        self.assertAlmostEqual(simulation.mobility.positions()["car"].x, -1001.88, 2)
        simulation.clock.run_until(10)
        car = simulation.mobility.positions()["car"]
        self.assertGreater(car.x, -1001.88 + 100)
        self.assertEqual((round(car.lat, 6), car.heading), (0.0, 90.0))

    def test_osm_keys_only_with_model_osm(self) -> None:
        folder = self.folder(
            {"sim.ini": "[mobility]\nosm_cache = road.json\n[node:r]\nrole = rsu\n"}
        )
        with self.assertRaises(SimConfigError) as caught:
            load_topology(folder / "sim.ini")
        self.assertIn("osm_cache", str(caught.exception))
        self.assertIn("only with model = osm", str(caught.exception))
