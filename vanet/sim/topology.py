"""What a simulation run is built from: settings, nodes, links, traffic.

``vanet.sim.loader.load_topology`` builds a ``Topology`` from an INI file or
an older-format YAML topology; the in-process and netns runners consume it.
Node configuration is kept as ``{section: {key: text}}`` and validated later
by the node config loader (``vanet.node.config.node_config_from_mapping``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import attrs

from vanet.mac import parse_mac, stable_local_mac
from vanet.node.config import ROLES
from vanet.sim.channel import ChannelParams
from vanet.sim.mobility.settings import MobilitySettings
from vanet.sim.radio import RadioSettings

MODES = ("inprocess", "netns")
CLOCKS = ("real", "virtual")
DEFAULT_HTTP = "tcp:3030:interface=127.0.0.1"
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
NODE_NAME_ALLOWED = "letters, digits, '_', '.', '-', starting with a letter or digit"


class SimConfigError(ValueError):
    """A topology problem; ``str()`` is one line saying what to fix."""


def check_node_name(where: str, name: str) -> None:
    if not NODE_NAME.match(name):
        raise SimConfigError(f"{where}: node name {name!r}: use {NODE_NAME_ALLOWED}")


def _frozen_config(
    config: Mapping[str, Mapping[str, str]],
) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType(
        {section: MappingProxyType(dict(keys)) for section, keys in config.items()}
    )


@attrs.frozen
class SimSettings:
    """The ``[sim]`` section."""

    mode: str = attrs.field(default="inprocess", validator=attrs.validators.in_(MODES))
    http: str | None = DEFAULT_HTTP  # a Twisted endpoint string; None: no API
    seed: int | None = None  # None: a fresh random seed each run
    clock: str = attrs.field(default="real", validator=attrs.validators.in_(CLOCKS))
    duration_s: float | None = None  # None: run until stopped
    # Every node signs and verifies its control messages with an in-memory
    # key, all trusting each other (docs/simulator.md; in-process only).
    authenticate: bool = False


@attrs.frozen
class NodeSpec:
    """One node: its role and its node configuration ``{section: {key: text}}``."""

    name: str
    role: str = attrs.field(validator=attrs.validators.in_(ROLES))
    config: Mapping[str, Mapping[str, str]] = attrs.field(
        factory=dict, converter=_frozen_config
    )
    #: ``position = X, Y`` (metres), for the mobility model
    position: tuple[float, float] | None = None

    @property
    def mac(self) -> bytes:
        """The node's link MAC: ``node.mac`` if given, else derived from the
        name (``stable_local_mac``), as the channel and the node agree on."""
        text = self.config.get("node", {}).get("mac")
        return parse_mac(text) if text else stable_local_mac(self.name)

    def node_config(self) -> dict[str, dict[str, str]]:
        """A mutable copy of the config with ``node.name`` filled in, ready
        for ``vanet.node.config.node_config_from_mapping``."""
        config = {section: dict(keys) for section, keys in self.config.items()}
        config.setdefault("node", {}).setdefault("name", self.name)
        return config


@attrs.frozen
class FlowSpec:
    """One ``[traffic:NAME]`` generator: inner frames of ``size`` bytes from
    the TAP of node ``src`` to the TAP of node ``dst``, ``rate_per_s`` a
    second."""

    name: str
    src: str
    dst: str
    rate_per_s: float
    size: int


@attrs.frozen
class Topology:
    """A whole run. ``links[(a, b)]`` is the directed channel a -> b; a pair
    without an entry cannot hear each other. ``source`` is the file it came
    from (relative paths in node keys were resolved against its folder)."""

    sim: SimSettings = attrs.field(factory=SimSettings)
    nodes: Mapping[str, NodeSpec] = attrs.field(factory=dict)
    links: Mapping[tuple[str, str], ChannelParams] = attrs.field(factory=dict)
    flows: tuple[FlowSpec, ...] = ()
    source: Path | None = None
    #: ``[mobility]``; ``None``: no positions, only the configured links
    mobility: MobilitySettings | None = None
    #: ``[radio]`` (its defaults when only ``[mobility]`` is given)
    radio: RadioSettings | None = None

    def rsus(self) -> list[NodeSpec]:
        return [node for node in self.nodes.values() if node.role == "rsu"]

    def obus(self) -> list[NodeSpec]:
        return [node for node in self.nodes.values() if node.role == "obu"]

    def neighbours(self, name: str) -> list[str]:
        """Nodes that hear ``name`` (targets of its outgoing links)."""
        return [b for (a, b) in self.links if a == name]
