"""Loading simulator topologies: ``load_topology(path) -> Topology``.

Two formats:

- INI (ours)::

    [sim]            mode, http, seed, clock, duration_s
    [node:NAME]      role = rsu | obu, and node keys as section.key
    [link:A>B]       one direction; [link:A<>B] both: latency_ms, jitter_ms, loss
    [traffic:NAME]   from, to, rate_per_s, size
    [mobility]       model = highway | static and its parameters
                     (vanet.sim.mobility.settings); nodes may have
                     position = X, Y
    [radio]          links from positions (vanet.sim.radio)

- the older implementation's YAML topologies (``vanet.sim.legacy_yaml``).

Every problem raises ``SimConfigError`` whose text is one line naming the
file, the section, the key and what is allowed, in the node config loader's
style: ``sim.ini: [link:a>b] loss = '2': loss must be between 0 and 1``.
"""

from __future__ import annotations

import configparser
import math
from pathlib import Path
from typing import Any

from vanet.mac import MacError, parse_mac
from vanet.node.config import ROLES
from vanet.sim.channel import ChannelParams
from vanet.sim.legacy_yaml import load_legacy_yaml
from vanet.sim.mobility.settings import MobilityError, MobilitySettings, check_model
from vanet.sim.radio import RadioSettings
from vanet.sim.sections import parse_section
from vanet.sim.topology import (
    CLOCKS,
    DEFAULT_HTTP,
    MODES,
    FlowSpec,
    NodeSpec,
    SimConfigError,
    SimSettings,
    Topology,
    check_node_name,
)
from vanet.sim.traffic import MAX_FRAME_SIZE, MIN_FRAME_SIZE

YAML_SUFFIXES = (".yaml", ".yml")
INI_SUFFIXES = (".ini", ".cfg", ".conf")

# Names end up in namespace, device and URL paths: keep them plain.

SIM_KEYS = ("mode", "http", "seed", "clock", "duration_s", "authenticate")
_YES, _NO = ("yes", "true", "on", "1"), ("no", "false", "off", "0")
LINK_KEYS = ("latency_ms", "jitter_ms", "loss")
TRAFFIC_KEYS = ("from", "to", "rate_per_s", "size")
DEFAULT_FLOW_SIZE = 128


def load_topology(path: str | Path) -> Topology:
    """Read a topology file, INI or older-format YAML (by suffix, else by
    content: INI files start with a ``[section]``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise SimConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    if _is_yaml(path, text):
        return load_legacy_yaml(path, text)
    return load_ini(path, text)


def _is_yaml(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        return True
    if suffix in INI_SUFFIXES:
        return False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")):
            return not stripped.startswith("[")
    return False


# -- INI ---------------------------------------------------------------------


def load_ini(path: Path, text: str | None = None) -> Topology:
    """Parse our INI topology format (see the module docstring)."""
    parser = configparser.ConfigParser(
        interpolation=None,
        inline_comment_prefixes=("#", ";"),
        empty_lines_in_values=False,
        default_section="\x00none",  # a [DEFAULT] section is not special here
    )
    try:
        parser.read_string(path.read_text() if text is None else text, str(path))
    except configparser.Error as e:
        message = " ".join(str(e).split())
        raise SimConfigError(f"{path}: {message}") from None
    reader = _IniReader(path, parser)
    return reader.topology()


class _IniReader:
    def __init__(self, path: Path, parser: configparser.ConfigParser) -> None:
        self.path = path
        self.parser = parser

    def fail(self, section: str, key: str | None, value: Any, what: str):
        where = f"{self.path}: [{section}]"
        if key is not None:
            where += f" {key}"
            if value is not None:
                where += f" = {value!r}"
        raise SimConfigError(f"{where}: {what}")

    def check_keys(self, section: str, allowed: tuple[str, ...]) -> None:
        for key in self.parser[section]:
            if key not in allowed:
                self.fail(
                    section, key, None, f"unknown key; allowed: {', '.join(allowed)}"
                )

    def topology(self) -> Topology:
        nodes_sections, link_sections, traffic_sections = [], [], []
        sim = SimSettings()
        mobility = radio = None
        for section in self.parser.sections():
            kind, _, name = section.partition(":")
            kind = kind.strip().lower()
            if section == "sim":
                sim = self.sim(section)
            elif section == "mobility":
                mobility = self.section(section, MobilitySettings)
            elif section == "radio":
                radio = self.section(section, RadioSettings)
            elif kind == "node" and name:
                nodes_sections.append((section, name.strip()))
            elif kind == "link" and name:
                link_sections.append((section, name.strip()))
            elif kind == "traffic" and name:
                traffic_sections.append((section, name.strip()))
            else:
                self.fail(
                    section,
                    None,
                    None,
                    "unknown section; allowed: [sim], [node:NAME], [link:A>B], "
                    "[link:A<>B], [traffic:NAME], [mobility], [radio]",
                )
        if not nodes_sections:
            raise SimConfigError(
                f"{self.path}: no [node:NAME] section: a topology needs nodes"
            )
        nodes: dict[str, NodeSpec] = {}
        for section, name in nodes_sections:
            if name in nodes:
                self.fail(section, None, None, f"node {name!r} is defined twice")
            nodes[name] = self.node(section, name)
        links: dict[tuple[str, str], ChannelParams] = {}
        defined_in: dict[tuple[str, str], str] = {}
        for section, spec in link_sections:
            for pair in self.link_pairs(section, spec, nodes):
                if pair in links:
                    self.fail(
                        section,
                        None,
                        None,
                        f"link {pair[0]}>{pair[1]} is already defined in "
                        f"[{defined_in[pair]}]",
                    )
                links[pair] = self.link_params(section)
                defined_in[pair] = section
        flows = []
        for section, name in traffic_sections:
            flows.append(self.flow(section, name, nodes))
        if radio is not None and mobility is None:
            self.fail(
                "radio",
                None,
                None,
                "links from positions need a [mobility] section (model = "
                "static for nodes that stand still)",
            )
        if mobility is not None:
            radio = radio or RadioSettings()
            self.check_mobility(mobility, nodes, sim.seed)
        else:
            for name, node in nodes.items():
                if node.position is not None:
                    self.fail(
                        f"node:{name}",
                        "position",
                        None,
                        "positions need a [mobility] section",
                    )
        return Topology(
            sim=sim,
            nodes=nodes,
            links=links,
            flows=tuple(flows),
            source=self.path,
            mobility=mobility,
            radio=radio,
        )

    def section(self, section: str, cls: type) -> Any:
        """A section declared as a settings class (``vanet.sim.sections``)."""

        def fail(key: str, raw: str, what: str) -> None:
            self.fail(section, key, raw or None, what)

        return parse_section(cls, dict(self.parser[section]), fail)

    def check_mobility(
        self, mobility: MobilitySettings, nodes: dict[str, NodeSpec], seed: int | None
    ) -> None:
        """The model's complaints name the key to fix."""
        try:
            check_model(
                mobility,
                {name: node.role for name, node in nodes.items()},
                {n: node.position for n, node in nodes.items() if node.position},
                seed,
                self.path.parent,
            )
        except MobilityError as e:
            if e.key is None:
                self.fail(f"node:{e.node}", "position", None, str(e))
            self.fail("mobility", e.key, self.parser["mobility"].get(e.key), str(e))

    def sim(self, section: str) -> SimSettings:
        self.check_keys(section, SIM_KEYS)
        values = self.parser[section]
        mode = values.get("mode", "inprocess").strip().lower()
        if mode not in MODES:
            self.fail(section, "mode", mode, f"allowed: {', '.join(MODES)}")
        clock = values.get("clock", "real").strip().lower()
        if clock not in CLOCKS:
            self.fail(section, "clock", clock, f"allowed: {', '.join(CLOCKS)}")
        http: str | None = values.get("http", DEFAULT_HTTP).strip()
        if http.lower() in ("", "none", "off", "no"):
            http = None
        seed = None
        if values.get("seed", "").strip():
            raw = values["seed"].strip()
            try:
                seed = int(raw, 0)
            except ValueError:
                self.fail(section, "seed", raw, "expected a whole number")
        duration_s = None
        if values.get("duration_s", "").strip():
            raw = values["duration_s"].strip()
            duration_s = self.number(section, "duration_s", raw)
            if duration_s <= 0:
                self.fail(
                    section, "duration_s", raw, "expected a number of seconds > 0"
                )
        if clock == "virtual" and duration_s is None:
            self.fail(
                section,
                "duration_s",
                None,
                "required with clock = virtual (it runs as fast as it can, "
                "so it needs an end)",
            )
        raw = values.get("authenticate", "no").strip().lower()
        if raw not in _YES + _NO:
            self.fail(section, "authenticate", raw, "expected yes or no")
        authenticate = raw in _YES
        if authenticate and mode == "netns":
            self.fail(
                section,
                "authenticate",
                raw,
                "in-process mode only (netns nodes read their keys from "
                "files: give each node security.identity, security.trust "
                "and security.authenticate instead)",
            )
        return SimSettings(
            mode=mode,
            http=http,
            seed=seed,
            clock=clock,
            duration_s=duration_s,
            authenticate=authenticate,
        )

    def number(self, section: str, key: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.fail(section, key, raw, "expected a number")
        return value

    def node(self, section: str, name: str) -> NodeSpec:
        check_node_name(f"{self.path}: [{section}]", name)
        values = self.parser[section]
        role = values.get("role", "").strip().lower()
        if not role:
            self.fail(section, "role", None, f"required; allowed: {', '.join(ROLES)}")
        if role not in ROLES:
            self.fail(section, "role", values["role"], f"allowed: {', '.join(ROLES)}")
        config: dict[str, dict[str, str]] = {}
        position = None
        for key, raw in values.items():
            if key == "role":
                continue
            if key == "position":
                position = self.position(section, raw)
                continue
            node_section, dot, node_key = key.partition(".")
            if not dot or not node_section or not node_key:
                self.fail(
                    section,
                    key,
                    None,
                    "node keys are written section.key (e.g. routing.strategy, "
                    "tap.address); 'role' and 'position' are the only plain keys",
                )
            config.setdefault(node_section, {})[node_key] = raw.strip()
        mac = config.get("node", {}).get("mac")
        if mac:
            try:
                parse_mac(mac)
            except MacError as e:
                self.fail(section, "node.mac", mac, str(e))
        key_file = config.get("security", {}).get("key_file")
        if key_file and not Path(key_file).is_absolute():
            # relative to the topology file, like the node config loader does
            config["security"]["key_file"] = str(self.path.parent / key_file)
        return NodeSpec(name=name, role=role, config=config, position=position)

    def position(self, section: str, raw: str) -> tuple[float, float]:
        parts = raw.split(",")
        try:
            x, y = (float(part) for part in parts)
        except ValueError:
            x = y = math.nan
        if not (math.isfinite(x) and math.isfinite(y)):
            self.fail(
                section, "position", raw, "expected X, Y in metres, e.g. 500, -10"
            )
        return (x, y)

    def link_pairs(
        self, section: str, spec: str, nodes: dict[str, NodeSpec]
    ) -> list[tuple[str, str]]:
        both = "<>" in spec
        a, sep, b = spec.partition("<>" if both else ">")
        a, b = a.strip(), b.strip()
        if not sep or not a or not b or "<" in a + b or ">" in a + b:
            self.fail(
                section,
                None,
                None,
                "a link section is [link:A>B] (one direction) or [link:A<>B] (both)",
            )
        for end in (a, b):
            if end not in nodes:
                self.fail(
                    section,
                    None,
                    None,
                    f"unknown node {end!r}; nodes: {', '.join(nodes)}",
                )
        if a == b:
            self.fail(section, None, None, "a link needs two different nodes")
        return [(a, b), (b, a)] if both else [(a, b)]

    def link_params(self, section: str) -> ChannelParams:
        self.check_keys(section, LINK_KEYS)
        values = {key: value.strip() for key, value in self.parser[section].items()}
        for key, raw in values.items():
            try:
                ChannelParams(**{key: raw})
            except ValueError as e:
                self.fail(section, key, raw, str(e))
        return ChannelParams(**values)

    def flow(self, section: str, name: str, nodes: dict[str, NodeSpec]) -> FlowSpec:
        self.check_keys(section, TRAFFIC_KEYS)
        values = {key: value.strip() for key, value in self.parser[section].items()}
        for key in ("from", "to", "rate_per_s"):
            if not values.get(key):
                self.fail(section, key, None, "required")
        for key in ("from", "to"):
            if values[key] not in nodes:
                self.fail(
                    section,
                    key,
                    values[key],
                    f"unknown node; nodes: {', '.join(nodes)}",
                )
        if values["from"] == values["to"]:
            self.fail(section, "to", values["to"], "a flow needs two different nodes")
        rate = self.number(section, "rate_per_s", values["rate_per_s"])
        if rate <= 0:
            self.fail(
                section, "rate_per_s", values["rate_per_s"], "expected a rate > 0"
            )
        raw_size = values.get("size", str(DEFAULT_FLOW_SIZE))
        try:
            size = int(raw_size)
        except ValueError:
            size = -1
        if not MIN_FRAME_SIZE <= size <= MAX_FRAME_SIZE:
            self.fail(
                section,
                "size",
                raw_size,
                f"expected a whole number of bytes from {MIN_FRAME_SIZE} to "
                f"{MAX_FRAME_SIZE} (the inner Ethernet frame)",
            )
        return FlowSpec(
            name=name, src=values["from"], dst=values["to"], rate_per_s=rate, size=size
        )
