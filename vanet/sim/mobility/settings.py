"""The ``[mobility]`` section, and the model it builds for a topology.

Nodes may carry a fixed ``position = X, Y`` (metres) in their
``[node:NAME]`` section. With ``model = highway`` the vehicles (OBUs) are
placed on the road by the model, round-robin over the lanes, ``spacing_m``
apart from ``start_m`` on; RSUs without a position stand every
``rsu_spacing_m`` from ``rsu_start_m`` on, ``rsu_y_m`` beside the road.
With ``model = static`` every node needs a position and stays there until
moved through the API. With ``model = osm`` vehicles drive on the road graph
of a local ``osm_cache`` JSON file (``vanet.sim.mobility.osm``); a node's
``position`` is metres on that graph's plane (a vehicle starts at the road
node nearest it), and RSUs without one stand at road nodes drawn from the
seed.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from vanet.interfaces import IMobilityModel
from vanet.schema import Invalid, choice, number, setting, text, whole
from vanet.sim.mobility.highway import Highway, StaticPositions
from vanet.sim.mobility.idm import IdmParams
from vanet.sim.mobility.position import Position
from vanet.sim.sections import finite, positive, speed_range

MODELS = ("highway", "static", "sumo", "osm")
SUMO_KEYS = ("sumo_config", "sumo_net", "sumo_routes", "sumo_osm")
OSM_KEYS = ("osm_cache", "osm_bbox")
EXITS = ("wrap", "leave")
_IDM = IdmParams()  # the IDM's defaults, declared once there


def bbox(value: str) -> tuple[float, float, float, float]:
    """``MIN_LAT, MIN_LON, MAX_LAT, MAX_LON`` in degrees."""
    try:
        box = tuple(float(v) for v in value.split(","))
    except ValueError:
        box = ()
    if (
        len(box) != 4
        or not all(math.isfinite(v) for v in box)
        or not (-90 <= box[0] < box[2] <= 90 and -180 <= box[1] < box[3] <= 180)
    ):
        raise Invalid(
            "expected MIN_LAT, MIN_LON, MAX_LAT, MAX_LON in degrees, e.g. "
            "41.14, -8.66, 41.175, -8.59"
        )
    return box  # type: ignore[return-value]


class MobilityError(ValueError):
    """Settings that do not fit the nodes; ``key`` names the key to fix
    (``None``: a node's ``position``)."""

    def __init__(self, key: str | None, message: str, node: str | None = None):
        super().__init__(message)
        self.key = key
        self.node = node


@attrs.frozen(kw_only=True)
class MobilitySettings:
    """The ``[mobility]`` section: where nodes are and how vehicles move."""

    model: str = setting(
        choice(*MODELS),
        "highway",
        "highway: a straight multi-lane road with IDM car following; "
        "static: every node at its position; sumo: vehicles driven by SUMO "
        "(pip install 'vanet[sumo]'); osm: vehicles on the road graph of an "
        "osm_cache JSON file, IDM along each way",
    )
    step_ms: int = setting(
        whole(1, 1000), 100, "the model advances this often, on the simulation clock"
    )
    length_m: float = setting(positive, 3000.0, "road length, m")
    lanes: int = setting(whole(1, 16), 2, "lanes, all one way (+x)")
    lane_width_m: float = setting(positive, 3.5, "lane i lies at y = i × lane_width_m")
    speed_mps: tuple[float, float] = setting(
        speed_range,
        (25.0, 30.0),
        "desired speed in m/s, or a range MIN-MAX each vehicle draws from "
        "(seeded by [sim] seed)",
    )
    spacing_m: float = setting(
        positive, 50.0, "distance between vehicles in a lane at the start"
    )
    start_m: float = setting(
        number(0), 0.0, "where vehicles enter the road (and the last one starts)"
    )
    exit: str = setting(
        choice(*EXITS),
        "wrap",
        "at the end of the road a vehicle re-enters at start_m once there is "
        "room (wrap), or leaves the simulation's radio for good (leave)",
    )
    vehicle_length_m: float = setting(positive, 5.0, "vehicle length, m")
    a: float = setting(positive, _IDM.a, "IDM maximum acceleration, m/s²")
    b: float = setting(positive, _IDM.b, "IDM comfortable deceleration, m/s²")
    s0_m: float = setting(number(0), _IDM.s0, "IDM minimum gap, m")
    headway_s: float = setting(number(0), _IDM.t, "IDM time headway T, s")
    delta: float = setting(positive, _IDM.delta, "IDM acceleration exponent δ")
    rsu_spacing_m: float = setting(
        positive, 1000.0, "RSUs without a position stand this far apart"
    )
    rsu_start_m: float = setting(number(0), 500.0, "x of the first such RSU")
    rsu_y_m: float = setting(finite, -10.0, "y of those RSUs (beside the road)")
    sumo_config: str | None = setting(
        text,
        None,
        "model = sumo: a .sumocfg file; sumo:PATH is a file of the installed "
        "eclipse-sumo package, e.g. sumo:tools/game/ramp.sumocfg",
    )
    sumo_net: str | None = setting(
        text, None, "model = sumo: a .net.xml file (instead of sumo_config)"
    )
    sumo_routes: str | None = setting(
        text, None, "model = sumo: route files for sumo_net, comma-separated"
    )
    sumo_osm: str | None = setting(
        text,
        None,
        "model = sumo: a local OpenStreetMap file, converted with netconvert, "
        "random routes with randomTrips.py",
    )

    osm_cache: str | None = setting(
        text,
        None,
        'model = osm: the road graph, a local JSON file {"nodes": [{"id", '
        '"lat", "lon"}], "ways": [{"id", "node_ids", "oneway"}]} (the older '
        "implementation's osm_cache); nothing is downloaded",
    )
    osm_bbox: tuple[float, float, float, float] | None = setting(
        bbox,
        None,
        "model = osm: MIN_LAT, MIN_LON, MAX_LAT, MAX_LON: only the graph's "
        "nodes inside are kept, and positions are metres from its middle "
        "(default: the middle of the graph)",
    )
    min_trip_m: float = setting(
        number(0),
        1500.0,
        "model = osm: a vehicle's next destination is at least this far by "
        "road (else the farthest it can reach)",
    )

    @property
    def idm(self) -> IdmParams:
        return IdmParams(
            a=self.a, b=self.b, s0=self.s0_m, t=self.headway_s, delta=self.delta
        )


def check_model(
    settings: MobilitySettings,
    roles: Mapping[str, str],
    positions: Mapping[str, tuple[float, float]],
    seed: int | None,
    base: Path | None = None,
) -> None:
    """What ``build_model`` would complain of, without starting anything
    (SUMO): ``MobilityError`` naming the key."""
    if settings.model != "osm":
        for key in OSM_KEYS:
            if getattr(settings, key) is not None:
                raise MobilityError(key, "only with model = osm")
    if settings.model != "sumo":
        for key in SUMO_KEYS:
            if getattr(settings, key) is not None:
                raise MobilityError(key, "only with model = sumo")
        build_model(settings, roles, positions, seed, base)
        return
    _vehicles_and_fixed(settings, roles, positions)
    _check_sumo(settings, base)


def build_model(
    settings: MobilitySettings,
    roles: Mapping[str, str],
    positions: Mapping[str, tuple[float, float]],
    seed: int | None,
    base: Path | None = None,
) -> IMobilityModel:
    """The model for nodes ``roles`` (name -> rsu | obu, in file order)
    with the fixed ``positions`` given; ``MobilityError`` if they do not
    fit. The same arguments give the same model (desired speeds are drawn
    from ``seed``). ``base``: the folder relative paths are taken from.
    ``model = sumo`` starts SUMO."""
    if settings.model == "static":
        missing = [name for name in roles if name not in positions]
        if missing:
            raise MobilityError(
                None,
                "model = static needs a position = X, Y for every node; "
                f"missing for {', '.join(missing)}",
                node=missing[0],
            )
        return StaticPositions({n: Position(*positions[n]) for n in roles})
    if settings.model == "osm":
        return _osm_model(settings, roles, positions, seed, base)
    vehicles, fixed = _vehicles_and_fixed(settings, roles, positions)
    describe = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in attrs.asdict(settings).items()
        if key != "model"
    }
    if settings.model == "sumo":
        from vanet.sim.mobility.sumo import SumoMobility, sumo_inputs

        _check_sumo(settings, base)
        try:
            inputs, workdir = sumo_inputs(
                settings.sumo_config,
                settings.sumo_net,
                settings.sumo_routes,
                settings.sumo_osm,
                base,
                seed or 0,
            )
            return SumoMobility(
                inputs,
                vehicles,
                fixed,
                settings.step_ms / 1000.0,
                seed or 0,
                describe={k: v for k, v in describe.items() if k.startswith("sumo")},
                workdir=workdir,
            )
        except ValueError as e:
            raise MobilityError("model", str(e)) from None
    return Highway(
        length_m=settings.length_m,
        lanes=settings.lanes,
        lane_width_m=settings.lane_width_m,
        vehicle_length_m=settings.vehicle_length_m,
        start_m=settings.start_m,
        exit=settings.exit,
        idm=settings.idm,
        vehicles=_place(settings, vehicles, seed),
        fixed=fixed,
        describe=describe,
    )


def _vehicles_and_fixed(
    settings: MobilitySettings,
    roles: Mapping[str, str],
    positions: Mapping[str, tuple[float, float]],
) -> tuple[list[str], dict[str, Position]]:
    """The vehicles (in file order) and where the fixed nodes stand."""
    fixed: dict[str, Position] = {}
    vehicles: list[str] = []
    rsu_index = 0
    for name, role in roles.items():
        if role == "obu":
            if name in positions:
                raise MobilityError(
                    None,
                    f"model = {settings.model} places the vehicles itself; "
                    "remove this vehicle's position",
                    node=name,
                )
            vehicles.append(name)
        elif name in positions:
            fixed[name] = Position(*positions[name])
        else:
            fixed[name] = Position(
                settings.rsu_start_m + rsu_index * settings.rsu_spacing_m,
                settings.rsu_y_m,
            )
            rsu_index += 1
    return vehicles, fixed


# An OSM "file" that is a place to download from: a URL, or a bounding box.
_REMOTE = re.compile(r"^(https?|ftp)://|^\s*-?[\d.]+\s*,\s*-?[\d.]+\s*,", re.I)


def _check_sumo(settings: MobilitySettings, base: Path | None) -> None:
    from vanet.sim.mobility.sumo import SumoUnavailable, resolve, sumo_home

    given = [k for k in ("sumo_config", "sumo_net", "sumo_osm") if getattr(settings, k)]
    if len(given) != 1:
        raise MobilityError(
            "model",
            "model = sumo needs one of sumo_config, sumo_net (with "
            "sumo_routes) or sumo_osm" + (f"; got {', '.join(given)}" if given else ""),
        )
    if settings.sumo_routes and not settings.sumo_net:
        raise MobilityError("sumo_routes", "only with sumo_net")
    osm = settings.sumo_osm
    if osm and _REMOTE.search(osm):
        raise MobilityError(
            "sumo_osm",
            "a download is not made here: save the OpenStreetMap extract to a "
            "local .osm file and give its path",
        )
    try:
        sumo_home()
    except SumoUnavailable as e:
        raise MobilityError("model", str(e)) from None
    key = given[0]
    files = [getattr(settings, key)]
    if key == "sumo_net" and settings.sumo_routes:
        files += [("sumo_routes", r.strip()) for r in settings.sumo_routes.split(",")]
    for item in files:
        name, path = item if isinstance(item, tuple) else (key, item)
        if not resolve(path, base).is_file():
            raise MobilityError(name, f"no such file: {resolve(path, base)}")


def _place(
    settings: MobilitySettings, vehicles: Sequence[str], seed: int | None
) -> list[tuple[str, int, float, float]]:
    """(name, lane, x, desired speed): round-robin over the lanes, the
    first vehicles in front, lanes staggered by spacing_m / lanes."""
    if settings.spacing_m < settings.vehicle_length_m + settings.s0_m:
        raise MobilityError(
            "spacing_m",
            f"vehicles would start closer than their length plus s0_m "
            f"({settings.vehicle_length_m + settings.s0_m:g} m)",
        )
    per_lane = -(-len(vehicles) // settings.lanes)  # ceil
    front = settings.start_m + max(0, per_lane - 1) * settings.spacing_m
    stagger = settings.spacing_m / settings.lanes
    if vehicles and front + stagger * (settings.lanes - 1) >= settings.length_m:
        raise MobilityError(
            "length_m",
            f"{len(vehicles)} vehicles in {settings.lanes} lane(s), "
            f"{settings.spacing_m:g} m apart from {settings.start_m:g} m on, "
            "do not fit on the road: make it longer, or the spacing smaller",
        )
    rng = random.Random(f"vanet.sim.mobility:{seed}")
    low, high = settings.speed_mps
    placed = []
    for index, name in enumerate(vehicles):
        lane, rank = index % settings.lanes, index // settings.lanes
        x = front - rank * settings.spacing_m + stagger * lane
        placed.append((name, lane, x, rng.uniform(low, high)))
    return placed


def _osm_model(
    settings: MobilitySettings,
    roles: Mapping[str, str],
    positions: Mapping[str, tuple[float, float]],
    seed: int | None,
    base: Path | None,
) -> IMobilityModel:
    from vanet.sim.mobility.osm import (
        OsmCacheError,
        OsmRoads,
        RoadGraph,
        read_osm_cache,
    )

    if settings.osm_cache is None:
        raise MobilityError(
            "osm_cache",
            "model = osm needs osm_cache = FILE, a local road graph (JSON); "
            "nothing is downloaded",
        )
    path = Path(settings.osm_cache).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        graph = RoadGraph(*read_osm_cache(path), bbox=settings.osm_bbox)
    except OsmCacheError as e:
        raise MobilityError("osm_cache", str(e)) from None
    if not graph.starts:
        raise MobilityError(
            "osm_cache",
            f"{path}: no way with two nodes"
            + (" inside osm_bbox" if settings.osm_bbox else "")
            + ": no road to drive on",
        )
    rng = random.Random(f"vanet.sim.mobility:{seed}")
    low, high = settings.speed_mps
    vehicles = []
    fixed: dict[str, Position] = {}
    for name, role in roles.items():
        if role == "obu":
            vehicles.append((name, positions.get(name), rng.uniform(low, high)))
        elif name in positions:
            fixed[name] = Position(*positions[name])
        else:
            node = graph.starts[rng.randrange(len(graph.starts))]
            fixed[name] = Position(*graph.xy[node])
    describe = {
        "osm_cache": str(path),
        "osm_bbox": None if settings.osm_bbox is None else list(settings.osm_bbox),
        "min_trip_m": settings.min_trip_m,
        "speed_mps": list(settings.speed_mps),
    }
    return OsmRoads(
        graph,
        vehicles=vehicles,
        fixed=fixed,
        idm=settings.idm,
        vehicle_length_m=settings.vehicle_length_m,
        min_trip_m=settings.min_trip_m,
        seed=seed,
        describe=describe,
    )
