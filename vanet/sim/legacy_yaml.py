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

Keys the older nodes had for their own devices (``bind``, ``tap_name``,
...) do not apply to simulated nodes and are ignored, with a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from twisted.logger import Logger

from vanet.node.config import ROLES
from vanet.sim.channel import ChannelParams
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


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


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
        if key not in ("nodes", "topology"):
            log.warn("{path}: ignoring top-level key {key!r}", path=path, key=key)
    nodes: dict[str, NodeSpec] = {}
    for name, entry in document["nodes"].items():
        name = str(name)
        check_node_name(f"{path}: nodes", name)
        if not isinstance(entry, Mapping) or not entry.get("config_path"):
            raise SimConfigError(
                f"{path}: nodes.{name}: expected a map with config_path "
                "(the node's YAML file)"
            )
        node_file = _find_node_file(path, name, str(entry["config_path"]))
        nodes[name] = _node(node_file, name)
    if not nodes:
        raise SimConfigError(f"{path}: nodes: no nodes; a topology needs nodes")
    nodes = _share_hello_period(nodes)
    links = _links(path, document.get("topology") or {}, nodes)
    return Topology(sim=SimSettings(), nodes=nodes, links=links, source=path)


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


def _node(node_file: Path, name: str) -> NodeSpec:
    settings = _read_yaml(node_file)
    if not isinstance(settings, Mapping):
        raise SimConfigError(f"{node_file}: expected a map of node settings")
    raw_type = settings.get("node_type")
    role = _text(raw_type).lower() if raw_type is not None else None
    if role not in ROLES:
        raise SimConfigError(
            f"{node_file}: node_type = {raw_type!r}: allowed: Rsu, Obu "
            "(any letter case)"
        )
    config: dict[str, dict[str, str]] = {"routing": {"cached_candidates": "3"}}
    config["security"] = {"encryption": "false"}
    for key, value in settings.items():
        if key == "node_type":
            continue
        if key == "ip":
            if value is None or not _text(value):
                continue
            address = _text(value)
            if "/" not in address:
                address = f"{address}/{DEFAULT_PREFIX}"
            config.setdefault("tap", {})["address"] = address
        elif key in NODE_KEYS:
            if value is None:
                continue
            section, node_key = NODE_KEYS[key]
            config.setdefault(section, {})[node_key] = _text(value)
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
