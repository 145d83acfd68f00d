"""Vehicles on a road graph read from a local OpenStreetMap extract: the
older implementation's ``osm_cache`` JSON (sans-I/O once loaded).

The file is ``{"nodes": [{"id", "lat", "lon"}], "ways": [{"id",
"node_ids", "oneway"}]}``: each way joins its nodes in order, both ways
unless ``oneway``. Nothing is downloaded: a file that is missing is an
error that asks for one.

Positions are metres on a plane around an origin (the middle of ``bbox``
when given, else of the graph's nodes), east ``+x`` and north ``+y``, by
an equirectangular projection (good to well under a metre over a city);
every position also carries its latitude and longitude.

Each vehicle drives a trip: the shortest way by road (Dijkstra) from where
it is to a node at least ``min_trip_m`` away by road (else the farthest it
can reach), then the next trip from there. Along its way it follows IDM
(``vanet.sim.mobility.idm``) behind the nearest vehicle ahead on the same
directed edge or on the next edge of its route. Junctions have no right of
way: vehicles merging from different edges do not see each other until they
share one, so two may briefly overlap there (a simplification; use SUMO for
traffic at junctions).
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Iterable, Mapping
from pathlib import Path

from zope.interface import implementer

from vanet.interfaces import IMobilityModel
from vanet.sim.mobility.idm import IdmParams, acceleration
from vanet.sim.mobility.position import Position
from vanet.sim.mobility.road import Road, bounded

#: metres per degree of latitude, and of longitude at the equator
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON = 111_320.0
#: destinations tried for a trip of at least ``min_trip_m``
TRIP_TRIES = 50

BBox = tuple[float, float, float, float]  # min_lat, min_lon, max_lat, max_lon


class OsmCacheError(ValueError):
    """The file is missing or not an osm_cache road graph; ``str()`` says
    what is wrong, naming the file."""


def read_osm_cache(path: Path) -> tuple[dict[int, tuple[float, float]], list]:
    """``({node id: (lat, lon)}, [(way id, [node ids], oneway)])``."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise OsmCacheError(f"{path}: no such file") from None
    except OSError as e:
        raise OsmCacheError(f"{path}: cannot read: {e.strerror or e}") from None
    except ValueError as e:
        raise OsmCacheError(f"{path}: not valid JSON: {e}") from None
    if (
        not isinstance(document, dict)
        or not isinstance(document.get("nodes"), list)
        or not isinstance(document.get("ways", []), list | None)
    ):
        raise OsmCacheError(
            f"{path}: expected an osm_cache road graph "
            '{"nodes": [{"id", "lat", "lon"}], "ways": [{"id", "node_ids", "oneway"}]}'
        )
    nodes: dict[int, tuple[float, float]] = {}
    for index, node in enumerate(document["nodes"]):
        try:
            lat, lon = float(node["lat"]), float(node["lon"])
            nodes[int(node["id"])] = (lat, lon)
        except (KeyError, TypeError, ValueError):
            raise OsmCacheError(
                f"{path}: nodes[{index}]: expected {{id, lat, lon}} numbers"
            ) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise OsmCacheError(f"{path}: nodes[{index}]: lat/lon out of range")
    ways = []
    for index, way in enumerate(document.get("ways") or []):
        try:
            if not isinstance(way["node_ids"], list):
                raise TypeError  # a string would pass as digits
            ids = [int(i) for i in way["node_ids"]]
            oneway = way.get("oneway", False)
            if not isinstance(oneway, bool):
                raise TypeError
            ways.append((int(way["id"]), ids, oneway))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise OsmCacheError(
                f"{path}: ways[{index}]: expected {{id, node_ids: [ids], "
                "oneway: true|false}"
            ) from None
    return nodes, ways


class Projection:
    """Latitude and longitude to metres on the plane around ``origin``
    (lat, lon) and back: east +x, north +y (equirectangular)."""

    def __init__(self, origin: tuple[float, float]) -> None:
        self.origin = origin
        self._cos = math.cos(math.radians(origin[0]))

    @classmethod
    def around(cls, points: Iterable[tuple[float, float]]) -> Projection:
        """Centred on the middle of ``points`` (lat, lon)."""
        points = list(points)
        if not points:
            return cls((0.0, 0.0))
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        return cls(((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2))

    def project(self, lat: float, lon: float) -> tuple[float, float]:
        return (
            (lon - self.origin[1]) * M_PER_DEG_LON * self._cos,
            (lat - self.origin[0]) * M_PER_DEG_LAT,
        )

    def unproject(self, x: float, y: float) -> tuple[float, float]:
        return (
            self.origin[0] + y / M_PER_DEG_LAT,
            self.origin[1] + x / (M_PER_DEG_LON * self._cos),
        )


class RoadGraph(Projection):
    """Directed edges between OSM nodes, lengths in metres, on the plane
    around ``origin`` (lat, lon)."""

    def __init__(
        self,
        nodes: Mapping[int, tuple[float, float]],
        ways: Iterable[tuple[int, list[int], bool]],
        bbox: BBox | None = None,
    ) -> None:
        if bbox is not None:
            # the older simulator keeps only nodes inside its bounding box
            lat0, lon0, lat1, lon1 = bbox
            nodes = {
                i: p
                for i, p in nodes.items()
                if lat0 <= p[0] <= lat1 and lon0 <= p[1] <= lon1
            }
            super().__init__(((lat0 + lat1) / 2, (lon0 + lon1) / 2))
        else:
            super().__init__(Projection.around(nodes.values()).origin)
        self.xy: dict[int, tuple[float, float]] = {
            i: self.project(*p) for i, p in nodes.items()
        }
        self.out: dict[int, dict[int, float]] = {}
        self.lines: list[tuple[tuple[float, float], ...]] = []
        for _, ids, oneway in ways:
            ids = [i for i in ids if i in self.xy]
            if len(ids) >= 2:
                self.lines.append(tuple(self.xy[i] for i in ids))
            for a, b in zip(ids, ids[1:]):
                if a == b:
                    continue
                length = math.dist(self.xy[a], self.xy[b])
                self.out.setdefault(a, {})[b] = length
                if not oneway:
                    self.out.setdefault(b, {})[a] = length
        #: nodes a vehicle can leave (places to start a trip)
        self.starts = sorted(self.out)

    def nearest(self, x: float, y: float) -> int:
        """The node a vehicle can leave nearest to (x, y)."""
        return min(self.starts, key=lambda i: math.dist(self.xy[i], (x, y)))

    def shortest(self, start: int) -> tuple[dict[int, float], dict[int, int]]:
        """Dijkstra from ``start``: road distance and predecessor per node."""
        dist = {start: 0.0}
        prev: dict[int, int] = {}
        heap = [(0.0, start)]
        while heap:
            d, node = heapq.heappop(heap)
            if d > dist[node]:
                continue
            for nxt, length in self.out.get(node, {}).items():
                nd = d + length
                if nd < dist.get(nxt, math.inf):
                    dist[nxt] = nd
                    prev[nxt] = node
                    heapq.heappush(heap, (nd, nxt))
        return dist, prev


def _path(prev: Mapping[int, int], start: int, end: int) -> list[int]:
    path = [end]
    while path[-1] != start:
        path.append(prev[path[-1]])
    path.reverse()
    return path


class _Vehicle:
    __slots__ = ("name", "route", "leg", "s", "v", "v0")

    def __init__(self, name: str, route: list[int], v0: float) -> None:
        self.name = name
        self.route = route  # nodes; it drives route[leg] -> route[leg + 1]
        self.leg = 0
        self.s = 0.0  # metres along the current edge
        self.v = 0.0
        self.v0 = v0

    def edge(self) -> tuple[int, int] | None:
        if self.leg + 1 >= len(self.route):
            return None
        return self.route[self.leg], self.route[self.leg + 1]


@implementer(IMobilityModel)
class OsmRoads:
    """See the module docstring. ``vehicles``: ``(name, start (x, y) or
    None, desired speed)``; a vehicle without a start begins at a node of
    its own where the graph has enough (drawn from ``seed``)."""

    name = "osm"

    def __init__(
        self,
        graph: RoadGraph,
        *,
        vehicles: Iterable[tuple[str, tuple[float, float] | None, float]],
        fixed: Mapping[str, Position],
        idm: IdmParams,
        vehicle_length_m: float,
        min_trip_m: float,
        seed: int | None,
        describe: Mapping[str, object] | None = None,
    ) -> None:
        if not graph.starts:
            raise ValueError("the road graph has no road to drive on (no ways)")
        self.graph = graph
        self.idm = idm
        self.vehicle_length_m = vehicle_length_m
        self.min_trip_m = min_trip_m
        self._rng = random.Random(f"vanet.sim.mobility.osm:{seed}")
        self._describe = dict(describe or {})
        self._fixed = {n: self._located(p) for n, p in fixed.items()}
        self._vehicles: dict[str, _Vehicle] = {}
        self.trips = 0
        self.time_s = 0.0
        free = list(graph.starts)
        self._rng.shuffle(free)
        for index, (name, start, v0) in enumerate(vehicles):
            if start is not None:
                node = graph.nearest(*start)
            else:
                node = free[index % len(free)]
            vehicle = _Vehicle(name, [node], v0)
            self._plan(vehicle)
            self._vehicles[name] = vehicle

    # -- IMobilityModel ----------------------------------------------------

    def step(self, dt: float) -> None:
        if dt <= 0:
            return
        # Every vehicle reacts to the state at the start of the step.
        on_edge: dict[tuple[int, int], list[_Vehicle]] = {}
        for vehicle in self._vehicles.values():
            edge = vehicle.edge()
            if edge is not None:
                on_edge.setdefault(edge, []).append(vehicle)
        accelerations = [
            (vehicle, self._acceleration(vehicle, on_edge))
            for vehicle in self._vehicles.values()
        ]
        for vehicle, accel in accelerations:
            self._advance(vehicle, accel, dt)
        self.time_s += dt

    def positions(self) -> dict[str, Position]:
        result = dict(self._fixed)
        xy = self.graph.xy
        for name, vehicle in self._vehicles.items():
            edge = vehicle.edge()
            if edge is None:
                x, y = xy[vehicle.route[-1]]
                heading = 0.0
            else:
                (ax, ay), (bx, by) = xy[edge[0]], xy[edge[1]]
                share = vehicle.s / self.graph.out[edge[0]][edge[1]]
                x, y = ax + (bx - ax) * share, ay + (by - ay) * share
                heading = math.degrees(math.atan2(bx - ax, by - ay)) % 360.0
            result[name] = self._located(Position(x, y, vehicle.v, heading))
        return result

    def set_position(self, name: str, x: float, y: float) -> None:
        if name in self._fixed:
            self._fixed[name] = self._located(Position(x, y))
            return
        vehicle = self._vehicles.get(name)
        if vehicle is None:
            raise KeyError(name)
        # A vehicle gets a new destination: the node nearest (x, y), by
        # road from the end of the edge it is on.
        target = self.graph.nearest(x, y)
        edge = vehicle.edge()
        here = vehicle.route[-1] if edge is None else edge[1]
        dist, prev = self.graph.shortest(here)
        if target not in dist:
            raise ValueError(
                f"{name} cannot reach the road nearest ({x:g}, {y:g}) from where "
                "it is (one-way streets)"
            )
        tail = _path(prev, here, target)
        if edge is None:
            vehicle.route, vehicle.leg, vehicle.s = tail, 0, 0.0
        else:
            vehicle.route = [edge[0], *tail]
            vehicle.leg = 0

    def describe(self) -> dict[str, object]:
        return {
            "model": self.name,
            **self._describe,
            "graph_nodes": len(self.graph.xy),
            "origin": list(self.graph.origin),
            "trips": self.trips,
        }

    def road(self) -> Road:
        """Every way of the graph, as a polyline."""
        return bounded(self.graph.lines)

    def close(self) -> None:
        pass

    # -- driving -----------------------------------------------------------

    def _located(self, position: Position) -> Position:
        lat, lon = self.graph.unproject(position.x, position.y)
        return Position(
            position.x, position.y, position.speed, position.heading, lat, lon
        )

    def _plan(self, vehicle: _Vehicle) -> None:
        """A new trip from where the vehicle is: at least min_trip_m by road
        if it can, else as far as it can go (a dead end: it stays)."""
        start = vehicle.route[-1]
        dist, prev = self.graph.shortest(start)
        far = [n for n, d in dist.items() if d >= self.min_trip_m]
        if far:
            target = far[self._rng.randrange(len(far))]
        else:
            target = max(dist, key=lambda n: (dist[n], -n))
        vehicle.route = _path(prev, start, target)
        vehicle.leg = 0
        vehicle.s = 0.0
        self.trips += 1

    def _acceleration(
        self, vehicle: _Vehicle, on_edge: Mapping[tuple[int, int], list[_Vehicle]]
    ) -> float:
        edge = vehicle.edge()
        if edge is None:
            return 0.0
        length = self.vehicle_length_m
        gap = math.inf
        leader_v = vehicle.v
        for other in on_edge.get(edge, ()):
            if other is not vehicle and other.s > vehicle.s:
                g = other.s - length - vehicle.s
                if g < gap:
                    gap, leader_v = g, other.v
        if math.isinf(gap) and vehicle.leg + 2 < len(vehicle.route):
            # the nearest vehicle on the next edge of the route
            rest = self.graph.out[edge[0]][edge[1]] - vehicle.s
            following = (vehicle.route[vehicle.leg + 1], vehicle.route[vehicle.leg + 2])
            for other in on_edge.get(following, ()):
                g = rest + other.s - length
                if g < gap:
                    gap, leader_v = g, other.v
        return acceleration(self.idm, vehicle.v, vehicle.v0, gap, vehicle.v - leader_v)

    def _advance(self, vehicle: _Vehicle, accel: float, dt: float) -> None:
        v = vehicle.v
        v_new = v + accel * dt
        if v_new < 0:
            moved = -v * v / (2 * accel)  # stops within the step
            v_new = 0.0
        else:
            moved = (v + v_new) / 2 * dt
        vehicle.v = v_new
        vehicle.s += moved
        out = self.graph.out
        while True:
            edge = vehicle.edge()
            if edge is None:
                self._plan(vehicle)
                if vehicle.edge() is None:
                    vehicle.v = 0.0  # nowhere to go: parked
                    return
                continue
            length = out[edge[0]][edge[1]]
            if vehicle.s < length:
                return
            vehicle.s -= length
            vehicle.leg += 1
