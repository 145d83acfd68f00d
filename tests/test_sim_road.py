"""``GET /api/v1/road``: the road the mobility model knows, as polylines in
metres on the positions' plane (the built-in highway's lanes, SUMO's lane
shapes, none for static positions or without ``[mobility]``)."""

from __future__ import annotations

from unittest import skipIf

from twisted.trial.unittest import SynchronousTestCase

from tests.geometry import distance_to_line
from vanet.sim.api import SimulationAPI
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation
from vanet.sim.loader import load_topology
from vanet.sim.mobility.road import MAX_POINTS, bounded

from .test_sim_inprocess_api import CHAIN, call
from .test_sim_mobility import MOVING, STATIC_CHAIN, TopologyFiles
from .test_sim_sumo import HAVE_SUMO, NO_SUMO, RAMP


def road_of(test, path, seconds: float = 0.0) -> tuple[dict, Simulation]:
    simulation = Simulation(load_topology(path), VirtualClock())
    simulation.startService()
    test.addCleanup(simulation.stopService)
    if seconds:
        simulation.clock.run_until(seconds)
    reply = call(SimulationAPI(simulation), "GET", "/api/v1/road")
    test.assertEqual(reply.code, 200, reply.body)
    return reply.json(), simulation


class HighwayRoadTests(SynchronousTestCase):
    def test_the_moving_highway_has_its_lanes(self) -> None:
        road, simulation = road_of(self, MOVING, 5.0)
        settings = load_topology(MOVING).mobility
        self.assertEqual((settings.lanes, settings.length_m), (2, 3000.0))
        self.assertEqual(road["lanes"], settings.lanes)
        self.assertEqual(road["lane_width_m"], settings.lane_width_m)
        self.assertEqual(len(road["polylines"]), settings.lanes)
        for lane, line in enumerate(road["polylines"]):
            y = lane * settings.lane_width_m
            self.assertEqual(line, [[0.0, y], [settings.length_m, y]])
        # the vehicles drive on those lines
        positions = simulation.positions()
        vehicles = [n for n, s in simulation.topology.nodes.items() if s.role == "obu"]
        on_road = [n for n in vehicles if n in positions]
        self.assertGreater(len(on_road), len(vehicles) // 2)
        for name in on_road:
            where = (positions[name]["x"], positions[name]["y"])
            nearest = min(distance_to_line(where, line) for line in road["polylines"])
            self.assertLess(nearest, 0.01, (name, where))

    def test_the_root_answers_the_same(self) -> None:
        simulation = Simulation(load_topology(MOVING), VirtualClock())
        api = SimulationAPI(simulation)
        self.assertEqual(
            call(api, "GET", "/road").json(), call(api, "GET", "/api/v1/road").json()
        )
        self.assertIn(
            "GET /api/v1/road", call(api, "GET", "/api/v1").json()["endpoints"]
        )


class NoRoadTests(TopologyFiles, SynchronousTestCase):
    def test_without_mobility_no_polylines(self) -> None:
        road, _ = road_of(self, CHAIN)
        self.assertEqual(road, {"polylines": []})

    def test_static_positions_have_no_road(self) -> None:
        road, _ = road_of(self, self.write(STATIC_CHAIN))
        self.assertEqual(road, {"polylines": []})


class BoundedTests(SynchronousTestCase):
    def test_lanes_past_the_limit_are_left_out_and_it_says_so(self) -> None:
        shapes = [[(0, i), (10, i), (20, i)] for i in range(10)]
        road = bounded(shapes, limit=9).as_dict()
        self.assertEqual(len(road["polylines"]), 3)
        self.assertEqual((road["truncated"], road["total_lanes"]), (True, 10))
        whole = bounded(shapes).as_dict()
        self.assertEqual(len(whole["polylines"]), 10)
        self.assertNotIn("truncated", whole)
        self.assertLessEqual(3 * 10, MAX_POINTS)

    def test_a_shape_of_one_point_is_no_line(self) -> None:
        self.assertEqual(bounded([[(1, 2)]]).as_dict(), {"polylines": []})


@skipIf(not HAVE_SUMO, NO_SUMO)
class SumoRoadTests(SynchronousTestCase):
    def test_the_packaged_ramp_gives_its_lane_shapes(self) -> None:
        road, simulation = road_of(self, RAMP, 30.0)
        lines = road["polylines"]
        self.assertNotIn("truncated", road)
        self.assertNotIn("lanes", road)  # no one lane count for a network
        points = sum(len(line) for line in lines)
        self.assertLessEqual(points, MAX_POINTS)
        # every lane of the network, each as SUMO shapes it
        api = simulation.mobility.model._api
        self.assertEqual(len(lines), len(api.lane.getIDList()))
        xs = [x for line in lines for x, _ in line]
        # the motorway runs from x = -577 m to 1410 m (examples/sumo-ramp.ini)
        self.assertLess(min(xs), -500)
        self.assertGreater(max(xs), 1400)
        # the vehicles SUMO drives are on its lanes
        positions = simulation.positions()
        bound = [
            n
            for n, s in simulation.topology.nodes.items()
            if s.role == "obu" and n in positions
        ]
        self.assertGreater(len(bound), 4)
        for name in bound:
            where = (positions[name]["x"], positions[name]["y"])
            nearest = min(distance_to_line(where, line) for line in lines)
            self.assertLess(nearest, 0.5, (name, where))
