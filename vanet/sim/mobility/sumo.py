"""Vehicles driven by SUMO (``pip install 'vanet[sumo]'``): an
``IMobilityModel`` over libsumo (in process), or TraCI when libsumo is
not installed.

SUMO runs any ``.sumocfg``, a ``.net.xml`` with route files, or a local
OpenStreetMap file converted with SUMO's ``netconvert`` (routes made with
its ``randomTrips.py``). A ``sumo:PATH`` names a file inside the installed
``eclipse-sumo`` package (``sumo:tools/game/ramp.sumocfg``), found at run
time. SUMO's step is ``[mobility] step_ms`` and the simulator's clock calls
``step`` once per SUMO step, so the two stay in lock step.

The OBUs of the topology are a pool: each vehicle that departs in SUMO
is bound to a free OBU (in file order) and gives it its position; when the
vehicle arrives (leaves SUMO) the OBU is unbound, has no position and so
no links, until the next departure takes it. Vehicles departing while no
OBU is free are not simulated as nodes. Only one SUMO runs per process
(libsumo is a process-wide singleton).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from twisted.logger import Logger
from zope.interface import implementer

from vanet.interfaces import IMobilityModel
from vanet.sim.mobility.position import Position
from vanet.sim.mobility.road import Road, bounded

log = Logger()

#: prefix of a path inside the installed eclipse-sumo package
PACKAGE_PREFIX = "sumo:"
INSTALL_HINT = "pip install 'vanet[sumo]'"


class SumoUnavailable(RuntimeError):
    """The ``sumo`` extra is not installed; ``str()`` says how to get it."""


def sumo_home() -> Path:
    """The installed SUMO (``eclipse-sumo``'s ``SUMO_HOME``)."""
    try:
        import sumo  # eclipse-sumo
    except ImportError:
        raise SumoUnavailable(
            f"model = sumo needs SUMO: {INSTALL_HINT} (eclipse-sumo)"
        ) from None
    return Path(sumo.SUMO_HOME)


def resolve(path: str, base: Path | None = None) -> Path:
    """A ``sumo:`` path inside the installed package, or a file path
    (relative to ``base``, the topology file's folder)."""
    if path.startswith(PACKAGE_PREFIX):
        return sumo_home() / path[len(PACKAGE_PREFIX) :]
    candidate = Path(os.path.expanduser(path))
    if not candidate.is_absolute() and base is not None:
        candidate = base / candidate
    return candidate


def _api() -> Any:
    """libsumo if installed (in process, fast), else TraCI."""
    try:
        import libsumo

        return libsumo
    except ImportError:
        pass
    try:
        import traci
    except ImportError:
        raise SumoUnavailable(
            f"model = sumo needs libsumo or traci: {INSTALL_HINT}"
        ) from None
    return traci


def _binary(name: str) -> str:
    return str(sumo_home() / "bin" / name)


def convert_osm(osm: Path, workdir: Path, seed: int, end_s: float) -> tuple[Path, Path]:
    """A SUMO network and random routes from a local OpenStreetMap file."""
    net = workdir / "osm.net.xml"
    routes = workdir / "osm.rou.xml"
    _run(
        [
            _binary("netconvert"),
            "--osm-files",
            str(osm),
            "--output-file",
            str(net),
            "--geometry.remove",
            "--ramps.guess",
            "--junctions.join",
            "--no-warnings",
        ],
        f"netconvert could not convert {osm}",
        workdir,
    )
    _run(
        [
            sys.executable,
            str(sumo_home() / "tools" / "randomTrips.py"),
            "--net-file",
            str(net),
            "--route-file",
            str(routes),
            "--output-trip-file",
            str(workdir / "osm.trips.xml"),
            "--seed",
            str(seed),
            "--end",
            str(end_s),
            "--period",
            "1",
            "--validate",
        ],
        f"randomTrips.py could not make routes for {osm}",
        workdir,
    )
    return net, routes


def _run(command: list[str], failure: str, cwd: Path) -> None:
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    # in its own folder: randomTrips.py leaves files where it runs
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ValueError(f"{failure}: {detail[-1] if detail else result.returncode}")


@implementer(IMobilityModel)
class SumoMobility:
    """See the module docstring. ``inputs``: SUMO's own input options
    (``-c FILE``, or ``--net-file``/``--route-files``)."""

    name = "sumo"

    def __init__(
        self,
        inputs: Sequence[str],
        vehicles: Sequence[str],
        fixed: Mapping[str, Position],
        step_s: float,
        seed: int,
        describe: Mapping[str, object] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self._api = _api()
        self._workdir = workdir  # removed on close (a converted OSM file)
        self._fixed = dict(fixed)
        self._pool = list(vehicles)  # free OBUs, in file order
        self._node_of: dict[str, str] = {}  # SUMO vehicle id -> node
        self._vehicle_of: dict[str, str] = {}  # node -> SUMO vehicle id
        self._positions: dict[str, Position] = {}
        self._describe = dict(describe or {})
        self.unbound_departures = 0
        self.bound_total = 0
        self.time_s = 0.0
        command = [
            _binary("sumo"),
            *inputs,
            "--step-length",
            f"{step_s:g}",
            "--seed",
            str(seed),
            "--no-step-log",
            "true",
            "--no-warnings",
            "true",
            "--duration-log.disable",
            "true",
        ]
        try:
            self._api.close()  # a SUMO left open by an earlier run
        except Exception:
            pass
        try:
            self._api.start(command)
        except Exception as e:
            raise ValueError(f"SUMO did not start: {e}") from None
        # A network without a geo-projection converts x, y to themselves.
        probe = (1000.0, 1000.0)
        self._geo = tuple(self._api.simulation.convertGeo(*probe)) != probe
        self._fixed = {name: self._located(p) for name, p in self._fixed.items()}
        self._road = self._read_road()
        self._sync()

    # -- IMobilityModel ----------------------------------------------------

    def step(self, dt: float) -> None:
        self._api.simulationStep()
        self.time_s = self._api.simulation.getTime()
        self._sync()

    def positions(self) -> dict[str, Position]:
        return {**self._fixed, **self._positions}

    def set_position(self, name: str, x: float, y: float) -> None:
        if name in self._fixed:
            self._fixed[name] = self._located(Position(x, y))
            return
        vehicle = self._vehicle_of.get(name)
        if vehicle is None:
            if name in self._pool:
                raise ValueError(f"{name} is not bound to a SUMO vehicle now")
            raise KeyError(name)
        # A vehicle gets a new destination: the road nearest (x, y).
        api = self._api
        try:
            edge = api.simulation.convertRoad(x, y)[0]
            api.vehicle.changeTarget(vehicle, edge)
        except Exception as e:
            raise ValueError(
                f"SUMO cannot route {name} ({vehicle}) to ({x:g}, {y:g}): {e}"
            ) from None

    def describe(self) -> dict[str, object]:
        return {
            "model": self.name,
            **self._describe,
            "bound": dict(self._vehicle_of),
            "sumo_time_s": self.time_s,
            "unbound_departures": self.unbound_departures,
        }

    def road(self) -> Road:
        """Every lane's shape in the network, within ``road.MAX_POINTS``
        points (the junctions' internal lanes last: they are left out
        first)."""
        return self._road

    def _read_road(self) -> Road:
        lanes = self._api.lane
        ids = sorted(lanes.getIDList(), key=lambda i: (i.startswith(":"), i))
        return bounded(lanes.getShape(i) for i in ids)

    def close(self) -> None:
        try:
            self._api.close()
        except Exception:
            pass
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- vehicles and nodes ----------------------------------------------------

    def vehicle_of(self, name: str) -> str | None:
        """The SUMO vehicle node ``name`` is bound to now, if any."""
        return self._vehicle_of.get(name)

    def _sync(self) -> None:
        api = self._api
        for vehicle in api.simulation.getArrivedIDList():
            node = self._node_of.pop(vehicle, None)
            if node is not None:
                del self._vehicle_of[node]
                self._positions.pop(node, None)
                self._pool.append(node)
        for vehicle in api.simulation.getDepartedIDList():
            if not self._pool:
                self.unbound_departures += 1
                continue
            node = self._pool.pop(0)
            self._node_of[vehicle] = node
            self._vehicle_of[node] = vehicle
            self.bound_total += 1
        vehicles = api.vehicle
        for vehicle, node in self._node_of.items():
            x, y = vehicles.getPosition(vehicle)
            self._positions[node] = self._located(
                Position(x, y, vehicles.getSpeed(vehicle), vehicles.getAngle(vehicle))
            )

    def _located(self, position: Position) -> Position:
        """With latitude and longitude, where the network has them."""
        if not self._geo:
            return position
        lon, lat = self._api.simulation.convertGeo(position.x, position.y)
        return attrs.evolve(position, lat=lat, lon=lon)


def sumo_inputs(
    config: str | None,
    net: str | None,
    routes: str | None,
    osm: str | None,
    base: Path | None,
    seed: int,
) -> tuple[list[str], Path | None]:
    """SUMO's input options from the [mobility] keys, and the temporary
    folder an OSM file was converted in (``None`` for the others);
    ``ValueError`` for a missing file or a failed conversion."""
    if config:
        path = _existing(resolve(config, base), "sumo_config")
        return ["-c", str(path)], None
    if net:
        net_path = _existing(resolve(net, base), "sumo_net")
        inputs = ["--net-file", str(net_path)]
        if routes:
            files = [
                str(_existing(resolve(r.strip(), base), "sumo_routes"))
                for r in routes.split(",")
            ]
            inputs += ["--route-files", ",".join(files)]
        return inputs, None
    if osm:
        osm_path = _existing(resolve(osm, base), "sumo_osm")
        workdir = Path(tempfile.mkdtemp(prefix="vanet-sumo-osm-"))
        try:
            net_path, route_path = convert_osm(osm_path, workdir, seed, 3600)
        except ValueError:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        inputs = ["--net-file", str(net_path), "--route-files", str(route_path)]
        return inputs, workdir
    raise ValueError("model = sumo needs sumo_config, sumo_net or sumo_osm")


def _existing(path: Path, key: str) -> Path:
    if not path.is_file():
        raise ValueError(f"{key}: no such file {path}")
    return path
