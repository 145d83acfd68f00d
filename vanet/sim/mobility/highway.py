"""A straight multi-lane highway with IDM car following (sans-I/O).

Vehicles drive along +x in their lane (no lane changes, so no overtaking
within a lane); lane ``i`` lies at ``y = i * lane_width_m``. Fixed nodes
(RSUs) stand where they were put. At the end of the road a vehicle either
re-enters at ``start_m`` (``exit = wrap``: a new vehicle entering, with the
same node) once its lane has room there, or leaves the road for good
(``exit = leave``): it has no position, so the radio gives it no links.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from zope.interface import implementer

from vanet.interfaces import IMobilityModel
from vanet.sim.mobility.idm import IdmParams, acceleration, desired_gap
from vanet.sim.mobility.position import Position
from vanet.sim.mobility.road import NO_ROAD, Road

#: compass heading of a vehicle driving along +x
EAST = 90.0


class _Vehicle:
    __slots__ = ("name", "lane", "x", "v", "v0")

    def __init__(self, name: str, lane: int, x: float, v: float, v0: float) -> None:
        self.name = name
        self.lane = lane
        self.x = x  # front bumper, metres along the road
        self.v = v
        self.v0 = v0  # desired speed


@implementer(IMobilityModel)
class Highway:
    """See the module docstring. ``vehicles``: ``(name, lane, x, v0)``,
    placed with room for their length; they start at their desired speed."""

    name = "highway"

    def __init__(
        self,
        *,
        length_m: float,
        lanes: int,
        lane_width_m: float,
        vehicle_length_m: float,
        start_m: float,
        exit: str,
        idm: IdmParams,
        vehicles: Iterable[tuple[str, int, float, float]],
        fixed: Mapping[str, Position],
        describe: Mapping[str, object] | None = None,
    ) -> None:
        if exit not in ("wrap", "leave"):
            raise ValueError(f"exit must be wrap or leave, got {exit!r}")
        self.length_m = length_m
        self.lane_width_m = lane_width_m
        self.vehicle_length_m = vehicle_length_m
        self.start_m = start_m
        self.exit = exit
        self.idm = idm
        self._describe = dict(describe or {})
        self._fixed = dict(fixed)
        self._vehicles: dict[str, _Vehicle] = {}
        # Each lane front first (largest x first); no overtaking keeps it so.
        self._lanes: list[list[_Vehicle]] = [[] for _ in range(lanes)]
        # Vehicles past the end waiting for room at the start, per lane.
        self._waiting: list[list[_Vehicle]] = [[] for _ in range(lanes)]
        for name, lane, x, v0 in vehicles:
            if not 0 <= lane < lanes:
                raise ValueError(f"vehicle {name}: lane {lane} not in 0..{lanes - 1}")
            vehicle = _Vehicle(name, lane, x, v0, v0)
            self._vehicles[name] = vehicle
            self._lanes[lane].append(vehicle)
        for lane in self._lanes:
            lane.sort(key=lambda vehicle: -vehicle.x)
            for ahead, behind in zip(lane, lane[1:]):
                if ahead.x - vehicle_length_m - behind.x < 0:
                    raise ValueError(
                        f"vehicles {ahead.name} and {behind.name} overlap in lane "
                        f"{ahead.lane}"
                    )
        #: times a vehicle had to be held back behind its leader because
        #: the step was too coarse for IDM's braking (should stay 0)
        self.clamps = 0
        self.exits = 0
        self.time_s = 0.0

    # -- IMobilityModel ----------------------------------------------------

    def step(self, dt: float) -> None:
        if dt <= 0:
            return
        for lane in self._lanes:
            self._step_lane(lane, dt)
        self._leave_and_enter()
        self.time_s += dt

    def positions(self) -> dict[str, Position]:
        result = dict(self._fixed)
        for lane in self._lanes:
            for vehicle in lane:
                result[vehicle.name] = Position(
                    vehicle.x, vehicle.lane * self.lane_width_m, vehicle.v, EAST
                )
        return result

    def set_position(self, name: str, x: float, y: float) -> None:
        if name in self._fixed:
            self._fixed[name] = Position(x, y)
            return
        if name in self._vehicles:
            raise ValueError(
                f"{name} is a vehicle on the highway and follows the road; "
                "only fixed nodes (RSUs) can be moved"
            )
        raise KeyError(name)

    def describe(self) -> dict[str, object]:
        return {"model": self.name, **self._describe}

    def road(self) -> Road:
        """Each lane's centre line, from x = 0 to the end of the road (the
        line its vehicles drive on)."""
        return Road(
            polylines=tuple(
                (
                    (0.0, lane * self.lane_width_m),
                    (self.length_m, lane * self.lane_width_m),
                )
                for lane in range(len(self._lanes))
            ),
            lanes=len(self._lanes),
            lane_width_m=self.lane_width_m,
        )

    def close(self) -> None:
        pass

    # -- the road ----------------------------------------------------------

    def lane_of(self, name: str) -> list[str]:
        """The names in ``name``'s lane, front first (for tests and tools)."""
        return [v.name for v in self._lanes[self._vehicles[name].lane]]

    def _step_lane(self, lane: list[_Vehicle], dt: float) -> None:
        idm = self.idm
        length = self.vehicle_length_m
        # Every vehicle reacts to the state at the start of the step.
        accelerations = []
        leader = None
        for vehicle in lane:
            if leader is None:
                accel = acceleration(idm, vehicle.v, vehicle.v0)
            else:
                gap = leader.x - length - vehicle.x
                accel = acceleration(
                    idm, vehicle.v, vehicle.v0, gap, vehicle.v - leader.v
                )
            accelerations.append(accel)
            leader = vehicle
        leader = None
        for vehicle, accel in zip(lane, accelerations):
            v = vehicle.v
            v_new = v + accel * dt
            if v_new < 0:
                # Stops within the step: no reversing (ballistic update).
                vehicle.x += -v * v / (2 * accel)
                vehicle.v = 0.0
            else:
                vehicle.x += (v + v_new) / 2 * dt
                vehicle.v = v_new
            if leader is not None:
                limit = leader.x - length
                if vehicle.x > limit:
                    # A step too coarse for the braking IDM asked for.
                    self.clamps += 1
                    vehicle.x = limit
                    vehicle.v = min(vehicle.v, leader.v)
            leader = vehicle

    def _leave_and_enter(self) -> None:
        for index, lane in enumerate(self._lanes):
            while lane and lane[0].x >= self.length_m:
                vehicle = lane.pop(0)
                self.exits += 1
                if self.exit == "wrap":
                    self._waiting[index].append(vehicle)
            waiting = self._waiting[index]
            while waiting:
                vehicle = waiting[0]
                last = lane[-1] if lane else None
                if last is not None:
                    room = last.x - self.vehicle_length_m - self.start_m
                    speed = min(vehicle.v, last.v)
                    if room < desired_gap(self.idm, speed, 0.0):
                        break  # no room yet: it waits off the road
                else:
                    speed = vehicle.v
                waiting.pop(0)
                vehicle.x = self.start_m
                vehicle.v = speed
                lane.append(vehicle)


@implementer(IMobilityModel)
class StaticPositions:
    """Every node stands where it was put until moved (``POST
    /node/NAME/position``): the radio from positions without a road."""

    name = "static"

    def __init__(self, fixed: Mapping[str, Position]) -> None:
        self._fixed = dict(fixed)
        self.time_s = 0.0

    def step(self, dt: float) -> None:
        self.time_s += max(0.0, dt)

    def positions(self) -> dict[str, Position]:
        return dict(self._fixed)

    def set_position(self, name: str, x: float, y: float) -> None:
        if name not in self._fixed:
            raise KeyError(name)
        self._fixed[name] = Position(x, y)

    def describe(self) -> dict[str, object]:
        return {"model": self.name}

    def road(self) -> Road:
        return NO_ROAD

    def close(self) -> None:
        pass
