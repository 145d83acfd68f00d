"""The older implementation's YAML topologies, mapped onto ``Topology``.

Format (unchanged, so existing files run as they are)::

    nodes:
      n1: {config_path: n1.yaml}      # relative to this file's folder, or
                                      # else to the working directory
    topology:
      n1: {n2: {latency: 10, loss: 0.0, jitter: 0}}   # the channel n1 -> n2

and a node file per node::

    node_type: Rsu | Obu      (case-insensitive)
    ip: 10.0.0.1              -> tap.address (prefix /24 unless given)
    hello_history: 10         -> routing.hello_history
    hello_periodicity: 5000   -> routing.hello_period_ms (ms; required for an RSU)
    cached_candidates: 3      -> routing.cached_candidates (default 3)
    (an OBU without hello_periodicity gets the slowest RSU's period)
    enable_encryption: false  -> security.encryption (default false)
    mtu: 1436                 -> tap.mtu

    lat: 41.15, lon: -8.61    -> the node's position (with the blocks below)

Keys the older nodes had for their own devices (``bind``, ``tap_name``,
...) do not apply to simulated nodes and are ignored, with a log line.

The older implementation's newer topologies add two blocks, mapped onto
``[radio]`` and ``[mobility]`` (docs/simulator.md has the table)::

    nakagami:                  -> [radio] (links from distances)
      enabled: true            off (or absent): no radio
      m: 2.0                   -> m (a whole number here)
      eta, snr_0_db, snr_thresh_db, max_range_m, latency_ms_per_100m,
      update_ms, mode (periodic | per-packet), model (gamma | bernoulli),
      coherence_ms
    mobility:                  -> [mobility] model = osm
      enabled: true
      osm_cache: osm_cache.json   a local road graph; nothing is downloaded
      bbox: {min_lat, max_lat, min_lon, max_lon}
      tick_ms, min_trip_distance_m, desired_speed_ms

Unknown keys inside these blocks are errors naming the file, block and key;
what cannot be done offline (a road graph to download for ``bbox``) is an
error that asks for a local file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml
from twisted.logger import Logger

from vanet.node.config import ROLES
from vanet.schema import as_text
from vanet.sim.channel import ChannelParams
from vanet.sim.mobility.osm import OsmCacheError, Projection, RoadGraph, read_osm_cache
from vanet.sim.mobility.settings import MobilityError, MobilitySettings, check_model
from vanet.sim.radio import RadioSettings
from vanet.sim.sections import parse_section
from vanet.sim.topology import (
    NodeSpec,
    SimConfigError,
    SimSettings,
    Topology,
    check_node_name,
)

log = Logger()

DEFAULT_PREFIX = 24
LINK_KEYS = {"latency": "latency_ms", "jitter": "jitter_ms", "loss": "loss"}
NODE_KEYS = {
    "hello_history": ("routing", "hello_history"),
    "hello_periodicity": ("routing", "hello_period_ms"),
    "cached_candidates": ("routing", "cached_candidates"),
    "enable_encryption": ("security", "encryption"),
    "mtu": ("tap", "mtu"),
}
#: the ``nakagami`` block's keys -> ``[radio]``'s (``enabled``, ``model``
#: are read apart)
NAKAGAMI_KEYS = {
    "m": "m",
    "eta": "eta",
    "snr_0_db": "snr0_db",
    "snr_thresh_db": "snr_threshold_db",
    "max_range_m": "max_range_m",
    "latency_ms_per_100m": "ms_per_100m",
    "update_ms": "update_ms",
    "mode": "mode",
    "coherence_ms": "coherence_ms",
}
#: its sampling models: ours draws Gamma per frame (per-packet mode);
#: bernoulli loses frames with the same probability, only cheaper to draw
NAKAGAMI_MODELS = ("gamma", "bernoulli")
#: the ``mobility`` block's keys -> ``[mobility]``'s (``enabled``, ``bbox``
#: are read apart; ``model`` is ``osm``)
MOBILITY_KEYS = {
    "osm_cache": "osm_cache",
    "tick_ms": "step_ms",
    "min_trip_distance_m": "min_trip_m",
    "desired_speed_ms": "speed_mps",
}
BBOX_KEYS = ("min_lat", "min_lon", "max_lat", "max_lon")
#: the older simulator's road graph file when the block names none
OLDER_OSM_CACHE = "osm_cache.json"


def _read_yaml(path: Path, text: str | None = None) -> Any:
    try:
        return yaml.safe_load(path.read_text() if text is None else text)
    except OSError as e:
        raise SimConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise SimConfigError(f"{path}: invalid YAML{at}: {problem}") from None


def _whole_text(text: str) -> str:
    """YAML's ``200.0`` for a key in whole milliseconds: ``200``."""
    return text[:-2] if text.endswith(".0") else text


def load_legacy_yaml(path: Path, text: str | None = None) -> Topology:
    """Read an older-format topology (see the module docstring)."""
    document = _read_yaml(path, text)
    if not isinstance(document, Mapping) or not isinstance(
        document.get("nodes"), Mapping
    ):
        raise SimConfigError(
            f"{path}: expected a YAML topology with a top-level 'nodes:' map "
            "(name -> {config_path: ...}) and a 'topology:' map"
        )
    for key in document:
        if key not in ("nodes", "topology", "nakagami", "mobility"):
            log.warn("{path}: ignoring top-level key {key!r}", path=path, key=key)
    nodes: dict[str, NodeSpec] = {}
    geo: dict[str, tuple[float, float]] = {}
    for name, entry in document["nodes"].items():
        name = str(name)
        check_node_name(f"{path}: nodes", name)
        if not isinstance(entry, Mapping) or not entry.get("config_path"):
            raise SimConfigError(
                f"{path}: nodes.{name}: expected a map with config_path "
                "(the node's YAML file)"
            )
        node_file = _find_node_file(path, name, str(entry["config_path"]))
        nodes[name] = _node(node_file, name, geo)
    if not nodes:
        raise SimConfigError(f"{path}: nodes: no nodes; a topology needs nodes")
    nodes = _share_hello_period(nodes)
    links = _links(path, document.get("topology") or {}, nodes)
    radio = _nakagami(path, document.get("nakagami"))
    mobility, projection = _mobility(path, document.get("mobility"))
    if radio is None and mobility is None:
        return Topology(sim=SimSettings(), nodes=nodes, links=links, source=path)
    if mobility is None:
        # Links from distances without a road: every node where its file
        # puts it.
        missing = [name for name in nodes if name not in geo]
        if missing:
            raise SimConfigError(
                f"{path}: nakagami: links from distances need positions, "
                "and there is no mobility block: give every node lat and lon "
                f"in its file (missing for {', '.join(missing)}), or add a "
                "mobility block with a road graph"
            )
        mobility = MobilitySettings(model="static")
        projection = Projection.around(geo.values())
    if radio is None:
        log.warn(
            "{path}: mobility without nakagami: the older simulator kept only "
            "the topology's links; here a radio from positions with the "
            "default nakagami parameters also links nodes in range (the "
            "topology's links still win for their pairs)",
            path=path,
        )
        radio = RadioSettings()
    nodes = {
        name: (
            attrs.evolve(node, position=projection.project(*geo[name]))
            if name in geo
            else node
        )
        for name, node in nodes.items()
    }
    topology = Topology(
        sim=SimSettings(),
        nodes=nodes,
        links=links,
        source=path,
        mobility=mobility,
        radio=radio,
    )
    _check_model(path, topology)
    return topology


def _block(path: Path, name: str, block: Any) -> dict | None:
    """The block as a map, ``None`` when absent or not enabled."""
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise SimConfigError(f"{path}: {name}: expected a map of settings")
    enabled = block.get("enabled", False)
    if not isinstance(enabled, bool):
        raise SimConfigError(
            f"{path}: {name}.enabled = {enabled!r}: expected true or false"
        )
    return dict(block) if enabled else None


def _nakagami(path: Path, block: Any) -> RadioSettings | None:
    """``[radio]`` from the ``nakagami`` block."""
    settings = _block(path, "nakagami", block)
    if settings is None:
        return None
    values: dict[str, str] = {}
    for key, value in settings.items():
        where = f"{path}: nakagami.{key} = {value!r}"
        if key == "enabled":
            continue
        if key == "model":
            if as_text(value).lower() not in NAKAGAMI_MODELS:
                raise SimConfigError(
                    f"{where}: expected one of {', '.join(NAKAGAMI_MODELS)}"
                )
            continue  # the same loss probability either way
        if key not in NAKAGAMI_KEYS:
            hint = " (the older simulator ignored it too; its key is mode)"
            raise SimConfigError(
                f"{path}: nakagami.{key}: unknown key"
                + (hint if key == "default_mode" else "")
                + f"; allowed: enabled, model, {', '.join(NAKAGAMI_KEYS)}"
            )
        if value is None:
            continue
        text = as_text(value)
        if key == "m":
            try:
                whole = float(text)
            except ValueError:
                whole = math.nan
            if not whole.is_integer():
                raise SimConfigError(
                    f"{where}: the fading here takes a whole m (1 Rayleigh, "
                    "2, 3, ...): its loss is exact only for those"
                )
            text = str(int(whole))
        elif key == "mode" and text.lower() == "hybrid":
            raise SimConfigError(
                f"{where}: hybrid is not modelled here; use periodic or per-packet"
            )
        elif key == "update_ms":
            text = _whole_text(text)
        values[NAKAGAMI_KEYS[key]] = text
    older = {ours: theirs for theirs, ours in NAKAGAMI_KEYS.items()}

    def fail(key: str, raw: str, what: str) -> None:
        raise SimConfigError(
            f"{path}: nakagami.{older.get(key, key)} = {raw!r}: {what}"
        )

    return parse_section(RadioSettings, values, fail)


def _mobility(
    path: Path, block: Any
) -> tuple[MobilitySettings | None, Projection | None]:
    """``[mobility] model = osm`` from the ``mobility`` block, and the plane
    its lat/lon positions are projected on."""
    settings = _block(path, "mobility", block)
    if settings is None:
        return None, None
    values: dict[str, str] = {"model": "osm"}
    bbox = None
    for key, value in settings.items():
        if key == "enabled":
            continue
        if key == "bbox":
            bbox = _bbox(path, value)
            values["osm_bbox"] = ", ".join(f"{v!r}" for v in bbox)
            continue
        if key not in MOBILITY_KEYS:
            raise SimConfigError(
                f"{path}: mobility.{key}: unknown key; allowed: enabled, bbox, "
                f"{', '.join(MOBILITY_KEYS)}"
            )
        if value is not None:
            text = as_text(value)
            if key == "tick_ms":
                text = _whole_text(text)
            values[MOBILITY_KEYS[key]] = text
    cache = _find_osm_cache(path, values.get("osm_cache", OLDER_OSM_CACHE), bbox)
    values["osm_cache"] = str(cache)
    older = {ours: theirs for theirs, ours in MOBILITY_KEYS.items()}
    older["osm_bbox"] = "bbox"

    def fail(key: str, raw: str, what: str) -> None:
        raise SimConfigError(
            f"{path}: mobility.{older.get(key, key)} = {raw!r}: {what}"
        )

    mobility = parse_section(MobilitySettings, values, fail)
    try:
        graph = RoadGraph(*read_osm_cache(cache), bbox=mobility.osm_bbox)
    except OsmCacheError as e:
        raise SimConfigError(f"{path}: mobility.osm_cache: {e}") from None
    return mobility, Projection(graph.origin)


def _bbox(path: Path, value: Any) -> tuple[float, float, float, float]:
    if not isinstance(value, Mapping):
        raise SimConfigError(
            f"{path}: mobility.bbox: expected a map {{{', '.join(BBOX_KEYS)}}}"
        )
    for key in value:
        if key not in BBOX_KEYS:
            raise SimConfigError(
                f"{path}: mobility.bbox.{key}: unknown key; allowed: "
                f"{', '.join(BBOX_KEYS)}"
            )
    try:
        box = tuple(float(value[key]) for key in BBOX_KEYS)
    except (KeyError, TypeError, ValueError):
        raise SimConfigError(
            f"{path}: mobility.bbox: expected numbers {', '.join(BBOX_KEYS)} (degrees)"
        ) from None
    return box  # type: ignore[return-value]


def _find_osm_cache(path: Path, name: str, bbox: Any) -> Path:
    """The road graph file: relative to the topology's folder, or else to
    the working directory (where the older simulator looked). A missing
    file is the one thing the older simulator downloaded: not here."""
    candidate = Path(name).expanduser()
    tried = (
        [candidate]
        if candidate.is_absolute()
        else [path.parent / candidate, Path.cwd() / candidate]
    )
    for option in tried:
        if option.is_file():
            return option.resolve()
    download = (
        "the older simulator would download the roads inside mobility.bbox "
        "from OpenStreetMap's Overpass API, which is not done here: "
        if bbox is not None
        else ""
    )
    raise SimConfigError(
        f"{path}: mobility.osm_cache = {name!r}: no such file (looked in "
        f"{' and '.join(str(t) for t in tried)}); {download}give a local "
        "road graph: an osm_cache JSON file ({nodes: [{id, lat, lon}], ways: "
        "[{id, node_ids, oneway}]}), or convert a local .osm file with SUMO's "
        "netconvert ([mobility] model = sumo, sumo_osm = FILE in an INI "
        "topology)"
    )


def _check_model(path: Path, topology: Topology) -> None:
    """Build the model once, as a run will, so a problem shows at load."""
    nodes = topology.nodes
    try:
        check_model(
            topology.mobility,
            {name: node.role for name, node in nodes.items()},
            {name: node.position for name, node in nodes.items() if node.position},
            topology.sim.seed,
            path.parent,
        )
    except MobilityError as e:
        block = "mobility" if topology.mobility.model == "osm" else "nakagami"
        raise SimConfigError(f"{path}: {block}: {e}") from None


def _find_node_file(path: Path, name: str, config_path: str) -> Path:
    """Relative to the topology's folder, or else to the working directory
    (the older implementation's own examples assume the latter)."""
    candidate = Path(config_path).expanduser()
    if candidate.is_absolute():
        tried = [candidate]
    else:
        tried = [path.parent / candidate, Path.cwd() / candidate]
    for option in tried:
        if option.is_file():
            return option
    raise SimConfigError(
        f"{path}: nodes.{name}.config_path = {config_path!r}: no such file "
        f"(looked in {' and '.join(str(t) for t in tried)})"
    )


def _node(node_file: Path, name: str, geo: dict[str, tuple[float, float]]) -> NodeSpec:
    settings = _read_yaml(node_file)
    if not isinstance(settings, Mapping):
        raise SimConfigError(f"{node_file}: expected a map of node settings")
    raw_type = settings.get("node_type")
    role = as_text(raw_type).lower() if raw_type is not None else None
    if role not in ROLES:
        server = (
            "; a Server (the older implementation's key-exchange server) has "
            "no counterpart here: leave it out of nodes"
            if role == "server"
            else ""
        )
        raise SimConfigError(
            f"{node_file}: node_type = {raw_type!r}: allowed: Rsu, Obu "
            f"(any letter case){server}"
        )
    if "lat" in settings or "lon" in settings:
        try:
            lat, lon = float(settings["lat"]), float(settings["lon"])
        except (KeyError, TypeError, ValueError):
            raise SimConfigError(
                f"{node_file}: lat, lon: expected both, in degrees"
            ) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise SimConfigError(f"{node_file}: lat, lon: out of range")
        geo[name] = (lat, lon)
    config: dict[str, dict[str, str]] = {"routing": {"cached_candidates": "3"}}
    config["security"] = {"encryption": "false"}
    for key, value in settings.items():
        if key in ("node_type", "lat", "lon"):
            continue
        if key == "ip":
            if value is None or not as_text(value):
                continue
            address = as_text(value)
            if "/" not in address:
                address = f"{address}/{DEFAULT_PREFIX}"
            config.setdefault("tap", {})["address"] = address
        elif key in NODE_KEYS:
            if value is None:
                continue
            section, node_key = NODE_KEYS[key]
            config.setdefault(section, {})[node_key] = as_text(value)
        else:
            log.info(
                "{file}: ignoring {key!r}, which does not apply to simulated nodes",
                file=node_file,
                key=key,
            )
    if role == "rsu" and "hello_period_ms" not in config["routing"]:
        raise SimConfigError(
            f"{node_file}: hello_periodicity: required for an RSU "
            "(the heartbeat period in ms)"
        )
    return NodeSpec(name=name, role=role, config=config)


def _share_hello_period(nodes: dict[str, NodeSpec]) -> dict[str, NodeSpec]:
    """Older OBU files carry no period, yet ours judge a neighbour silent
    after a number of heartbeat periods: give them the slowest RSU's."""
    periods = [
        int(node.config["routing"]["hello_period_ms"])
        for node in nodes.values()
        if node.role == "rsu" and node.config["routing"]["hello_period_ms"].isdigit()
    ]
    if not periods:
        return nodes
    shared = {}
    for name, node in nodes.items():
        if "hello_period_ms" not in node.config.get("routing", {}):
            config = {section: dict(keys) for section, keys in node.config.items()}
            config["routing"]["hello_period_ms"] = str(max(periods))
            node = NodeSpec(name=name, role=node.role, config=config)
        shared[name] = node
    return shared


def _links(
    path: Path, topology: Any, nodes: dict[str, NodeSpec]
) -> dict[tuple[str, str], ChannelParams]:
    if not isinstance(topology, Mapping):
        raise SimConfigError(
            f"{path}: topology: expected a map A -> B -> {{latency, loss, jitter}}"
        )
    links: dict[tuple[str, str], ChannelParams] = {}
    for a, targets in topology.items():
        a = str(a)
        if a not in nodes:
            raise SimConfigError(
                f"{path}: topology.{a}: unknown node; nodes: {', '.join(nodes)}"
            )
        if not targets:
            continue
        if not isinstance(targets, Mapping):
            raise SimConfigError(
                f"{path}: topology.{a}: expected a map B -> {{latency, loss, jitter}}"
            )
        for b, channel in targets.items():
            b = str(b)
            where = f"{path}: topology.{a}.{b}"
            if b not in nodes:
                raise SimConfigError(
                    f"{where}: unknown node; nodes: {', '.join(nodes)}"
                )
            if a == b:
                raise SimConfigError(f"{where}: a link needs two different nodes")
            channel = channel or {}
            if not isinstance(channel, Mapping):
                raise SimConfigError(
                    f"{where}: expected a map with latency, loss, jitter"
                )
            values = {}
            for key, value in channel.items():
                if key not in LINK_KEYS:
                    log.warn("{where}: ignoring {key!r}", where=where, key=key)
                    continue
                try:
                    ChannelParams(**{LINK_KEYS[key]: value})
                except ValueError as e:
                    raise SimConfigError(f"{where}.{key} = {value!r}: {e}") from None
                values[LINK_KEYS[key]] = value
            links[(a, b)] = ChannelParams(**values)
    return links
