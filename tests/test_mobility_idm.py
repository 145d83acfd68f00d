"""The built-in highway: IDM car following (units) and, over random roads,
no collisions and speeds within bounds (properties)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.interfaces import IMobilityModel
from vanet.sim.mobility.highway import Highway
from vanet.sim.mobility.idm import IdmParams, acceleration, desired_gap
from vanet.sim.mobility.settings import MobilityError, MobilitySettings, build_model

IDM = IdmParams()
LENGTH = 5.0


def highway(vehicles, *, length_m=10_000.0, lanes=1, exit="leave", start_m=0.0):
    return Highway(
        length_m=length_m,
        lanes=lanes,
        lane_width_m=3.5,
        vehicle_length_m=LENGTH,
        start_m=start_m,
        exit=exit,
        idm=IDM,
        vehicles=vehicles,
        fixed={},
    )


def set_speeds(road: Highway, speeds: dict[str, float]) -> None:
    """Vehicles start at their desired speed; some tests want them slower."""
    for name, speed in speeds.items():
        road._vehicles[name].v = speed


def run(road: Highway, seconds: float, dt: float = 0.1) -> None:
    for _ in range(round(seconds / dt)):
        road.step(dt)


class IdmTests(SynchronousTestCase):
    def test_defaults_are_the_older_implementations(self) -> None:
        self.assertEqual(
            (IDM.a, IDM.b, IDM.s0, IDM.t, IDM.delta), (2.5, 2.5, 2.0, 1.0, 4.0)
        )

    def test_free_road_accelerates_at_a_from_standstill(self) -> None:
        self.assertEqual(acceleration(IDM, 0.0, 30.0), 2.5)

    def test_at_desired_speed_on_a_free_road_it_cruises(self) -> None:
        self.assertEqual(acceleration(IDM, 30.0, 30.0), 0.0)

    def test_half_desired_speed(self) -> None:
        # a * (1 - (1/2)^4)
        self.assertAlmostEqual(acceleration(IDM, 15.0, 30.0), 2.5 * 15 / 16)

    def test_desired_gap(self) -> None:
        # s0 + v T + v dv / (2 sqrt(ab)) = 2 + 20 + 20 * 5 / 5
        self.assertAlmostEqual(desired_gap(IDM, 20.0, 5.0), 42.0)
        # opening gap: the dynamic part is never negative
        self.assertEqual(desired_gap(IDM, 0.0, -10.0), 2.0)

    def test_close_behind_a_stopped_vehicle_brakes_hard(self) -> None:
        self.assertLess(acceleration(IDM, 20.0, 30.0, gap=20.0, dv=20.0), -IDM.b)

    def test_following_at_the_equilibrium_gap_barely_accelerates(self) -> None:
        v = 20.0
        s_star = desired_gap(IDM, v, 0.0)
        # at s*, the interaction term cancels the free term's 1
        self.assertAlmostEqual(
            acceleration(IDM, v, 30.0, gap=s_star, dv=0.0),
            -2.5 * (v / 30.0) ** 4,
        )

    def test_queue_behind_a_slow_leader_settles_at_its_speed(self) -> None:
        road = highway([("slow", 0, 500.0, 15.0), ("fast", 0, 400.0, 30.0)])
        run(road, 120)
        positions = road.positions()
        self.assertLess(abs(positions["fast"].speed - 15.0), 0.05)
        gap = positions["slow"].x - LENGTH - positions["fast"].x
        # IDM's equilibrium: s*(v) / sqrt(1 - (v/v0)^delta)
        equilibrium = desired_gap(IDM, 15.0, 0.0) / math.sqrt(1 - (15 / 30) ** 4)
        self.assertLess(abs(gap - equilibrium), 0.05, (gap, equilibrium))
        self.assertEqual(road.clamps, 0)

    def test_positions_lanes_and_heading(self) -> None:
        road = highway([("a", 0, 100.0, 20.0), ("b", 1, 50.0, 25.0)], lanes=2)
        verifyObject(IMobilityModel, road)
        run(road, 2)
        a, b = road.positions()["a"], road.positions()["b"]
        self.assertAlmostEqual(a.x, 140.0, places=6)
        self.assertAlmostEqual(b.x, 100.0, places=6)
        self.assertEqual((a.y, b.y), (0.0, 3.5))
        self.assertEqual((a.heading, a.speed), (90.0, 20.0))

    def test_leave_at_the_end(self) -> None:
        road = highway([("a", 0, 90.0, 20.0)], length_m=100.0)
        run(road, 1)
        self.assertNotIn("a", road.positions())
        self.assertEqual(road.exits, 1)

    def test_wrap_waits_for_room_at_the_start(self) -> None:
        road = highway(
            [("a", 0, 995.0, 20.0), ("b", 0, 3.0, 20.0)],
            length_m=1000.0,
            exit="wrap",
        )
        road.step(0.5)
        # a is past the end, but b is still at the entry: a waits
        self.assertNotIn("a", road.positions())
        run(road, 3)
        self.assertIn("a", road.positions())
        self.assertEqual(road.lane_of("b"), ["b", "a"])
        self.assertLess(road.positions()["a"].x, road.positions()["b"].x)

    def test_vehicles_cannot_be_moved_by_hand(self) -> None:
        road = highway([("a", 0, 0.0, 20.0)])
        with self.assertRaises(ValueError):
            road.set_position("a", 10, 0)
        with self.assertRaises(KeyError):
            road.set_position("nobody", 10, 0)


class PlacementTests(SynchronousTestCase):
    ROLES = {"r1": "rsu", "r2": "rsu", **{f"v{i}": "obu" for i in range(7)}}

    def test_rsus_every_spacing_and_vehicles_round_robin(self) -> None:
        settings = MobilitySettings(lanes=3, spacing_m=40.0, speed_mps=(20.0, 30.0))
        model = build_model(settings, self.ROLES, {"r2": (7.0, 8.0)}, seed=5)
        positions = model.positions()
        self.assertEqual((positions["r1"].x, positions["r1"].y), (500.0, -10.0))
        self.assertEqual((positions["r2"].x, positions["r2"].y), (7.0, 8.0))
        lanes = [positions[f"v{i}"].y / 3.5 for i in range(7)]
        self.assertEqual(lanes, [0, 1, 2, 0, 1, 2, 0])
        # in a lane, the earlier vehicles are in front, spacing_m apart
        self.assertEqual(positions["v0"].x - positions["v3"].x, 40.0)
        for i in range(7):
            self.assertTrue(20.0 <= positions[f"v{i}"].speed <= 30.0)

    def test_same_seed_same_speeds(self) -> None:
        def speeds(seed):
            model = build_model(MobilitySettings(), self.ROLES, {}, seed)
            return [p.speed for p in model.positions().values()]

        self.assertEqual(speeds(3), speeds(3))
        self.assertNotEqual(speeds(3), speeds(4))

    def test_too_many_vehicles_for_the_road(self) -> None:
        settings = MobilitySettings(length_m=100.0, spacing_m=50.0)
        with self.assertRaises(MobilityError) as caught:
            build_model(settings, self.ROLES, {}, 1)
        self.assertEqual(caught.exception.key, "length_m")

    def test_spacing_below_length_plus_jam_gap(self) -> None:
        with self.assertRaises(MobilityError) as caught:
            build_model(MobilitySettings(spacing_m=6.0), self.ROLES, {}, 1)
        self.assertEqual(caught.exception.key, "spacing_m")


# A lane of vehicles, front first: gaps >= s0 ahead of each, any speeds up to
# their desired speed (which may leave too little room to brake gently).
vehicle = st.tuples(
    st.floats(IDM.s0, 120.0),  # gap to the vehicle ahead
    st.floats(5.0, 40.0),  # desired speed
    st.floats(0.0, 1.0),  # start speed, as a share of the desired one
)


class HighwayProperties(SynchronousTestCase):
    @settings(max_examples=60, deadline=None)
    @given(
        lanes=st.lists(
            st.lists(vehicle, min_size=1, max_size=8), min_size=1, max_size=3
        ),
        dt=st.sampled_from([0.05, 0.1, 0.2, 0.5]),
        exit=st.sampled_from(["wrap", "leave"]),
    )
    def test_no_collisions_and_speeds_within_bounds(self, lanes, dt, exit) -> None:
        vehicles, desired, start = [], {}, {}
        for lane, cars in enumerate(lanes):
            x = 2_000.0
            for i, (gap, v0, share) in enumerate(cars):
                x -= gap + LENGTH
                name = f"l{lane}v{i}"
                vehicles.append((name, lane, x, v0))
                desired[name], start[name] = v0, v0 * share
        road = highway(vehicles, lanes=len(lanes), length_m=2_500.0, exit=exit)
        set_speeds(road, start)
        for _ in range(round(60 / dt)):
            road.step(dt)
            by_lane: dict[float, list] = {}
            for name, position in road.positions().items():
                self.assertGreaterEqual(position.speed, 0.0, name)
                self.assertLessEqual(position.speed, desired[name] + 1e-9, name)
                by_lane.setdefault(position.y, []).append(position.x)
            for xs in by_lane.values():
                xs.sort()
                for behind, ahead in zip(xs, xs[1:]):
                    self.assertGreaterEqual(ahead - LENGTH - behind, 0.0)

    @settings(max_examples=40, deadline=None)
    @given(
        cars=st.lists(vehicle, min_size=2, max_size=10),
        dt=st.sampled_from([0.05, 0.1, 0.2]),
    )
    def test_idm_alone_keeps_its_distance_from_a_safe_start(self, cars, dt) -> None:
        # Started at a gap a driver would keep (s0 + v T) and no faster than
        # the vehicle ahead, IDM brakes in time by itself: the step never
        # has to hold a vehicle back, and no gap shrinks below a metre.
        vehicles, start, x, ahead_v = [], {}, 5_000.0, math.inf
        for i, (_gap, v0, share) in enumerate(cars):
            v = start[f"v{i}"] = min(v0 * share, ahead_v)
            x -= LENGTH + desired_gap(IDM, v, 0.0)
            vehicles.append((f"v{i}", 0, x, v0))
            ahead_v = v
        road = highway(vehicles)
        set_speeds(road, start)
        for _ in range(round(60 / dt)):
            road.step(dt)
            xs = sorted(p.x for p in road.positions().values())
            for behind, ahead in zip(xs, xs[1:]):
                self.assertGreater(ahead - LENGTH - behind, 1.0)
        self.assertEqual(road.clamps, 0)
