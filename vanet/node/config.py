"""Node configuration: an INI file with fixed sections and keys.

The schema is declared once, in ``SCHEMA``: section -> key -> ``Setting``
(parser, default, help). ``load_node_config`` reads a file (plus
command-line overrides), ``node_config_from_mapping`` reads the simulator's
per-node mappings; both return a frozen ``NodeConfig``. Every problem raises
``ConfigError`` whose text is one line naming the file, section, key and what
is allowed, e.g.::

    rsu.ini: [routing] hello_history = 'abc': expected a whole number >= 1

The routing strategy's name is kept as a string: the caller checks it
against the installed strategy plugins.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from vanet.mac import MacError, parse_mac, stable_local_mac

ROLES = ("rsu", "obu")
TRANSPORTS = ("packet", "udp", "memory")


class ConfigError(ValueError):
    """A configuration problem; ``str()`` is one line saying what to fix."""


class _Invalid(ValueError):
    """A parser's complaint: what is allowed."""


_REQUIRED = object()


@attrs.frozen
class Setting:
    """One key of the schema."""

    parse: Callable[[str], Any]
    default: Any  # ``None`` for optional keys, ``REQUIRED`` when required
    help: str

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    @property
    def default_text(self) -> str | None:
        """The default as a user would write it, or ``None`` if there is none."""
        if self.default is None or self.default is _REQUIRED:
            return None
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)


REQUIRED = _REQUIRED


# -- value parsers: each raises _Invalid("expected ...") ---------------------


def _text(value: str) -> str:
    if not value:
        raise _Invalid("expected a non-empty value")
    return value


def _whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    allowed = (
        f"expected a whole number >= {minimum}"
        if maximum is None
        else f"expected a whole number from {minimum} to {maximum}"
    )

    def parse(value: str) -> int:
        try:
            number = int(value, 10)
        except ValueError:
            raise _Invalid(allowed) from None
        if number < minimum or (maximum is not None and number > maximum):
            raise _Invalid(allowed)
        return number

    return parse


_TRUE = ("yes", "true", "on", "1")
_FALSE = ("no", "false", "off", "0")


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _Invalid("expected yes/no, true/false, on/off or 1/0")


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.lower() not in choices:
            raise _Invalid(f"expected one of {', '.join(choices)}")
        return value.lower()

    return parse


def _mac(value: str) -> bytes:
    try:
        return parse_mac(value)
    except MacError:
        raise _Invalid(
            "expected a MAC address of 6 hex octets, e.g. 02:00:00:00:00:01"
        ) from None


def _multicast_group(value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is None or not address.is_multicast:
        raise _Invalid("expected a multicast IP address, e.g. 239.255.48.48")
    return str(address)


def _cidr(value: str) -> str:
    if "/" not in value:
        raise _Invalid("expected an address with its prefix length, e.g. 10.0.0.1/24")
    try:
        return str(ipaddress.ip_interface(value))
    except ValueError:
        raise _Invalid(
            "expected an address with its prefix length, e.g. 10.0.0.1/24"
        ) from None


def _ifname(value: str) -> str:
    # Linux: at most 15 bytes, no '/', ':' or whitespace; not "." or "..".
    if (
        not 1 <= len(value.encode()) <= 15
        or any(c in value for c in "/: \t")
        or value in (".", "..")
    ):
        raise _Invalid(
            "expected a network interface name of 1 to 15 characters without '/', ':' or spaces"
        )
    return value


def _endpoint(value: str) -> str | None:
    if value.lower() == "none":
        return None
    # Parse (not listen) with Twisted's own parser to catch typos early.
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(None, value)
    except Exception:
        raise _Invalid(
            "expected a Twisted server endpoint string, e.g. "
            "tcp:7070:interface=127.0.0.1, or none"
        ) from None
    return value


# -- the schema --------------------------------------------------------------

SCHEMA: dict[str, dict[str, Setting]] = {
    "node": {
        "name": Setting(_text, REQUIRED, "The node's name, used in logs and status."),
        "mac": Setting(
            _mac,
            None,
            "The node's link-layer address. Default: the link interface's MAC "
            "for transport packet; a stable locally administered MAC derived "
            "from the name otherwise.",
        ),
    },
    "link": {
        "transport": Setting(
            _choice(*TRANSPORTS),
            "packet",
            "How frames reach the radio medium: packet (raw Ethernet, "
            "EtherType 0x3030), udp (one frame per multicast datagram), or "
            "memory (in-process, for the simulator).",
        ),
        "interface": Setting(
            _ifname,
            None,
            "The network interface of the radio medium (required for packet and udp).",
        ),
        "group": Setting(
            _multicast_group,
            "239.255.48.48",
            "Multicast group for transport udp.",
        ),
        "port": Setting(
            _whole(1, 65535), 12336, "UDP port of the multicast group (transport udp)."
        ),
    },
    "tap": {
        "name": Setting(_ifname, "vtap0", "Name of the TAP device the node carries."),
        "address": Setting(
            _cidr, None, "Address of the TAP, with prefix (e.g. 10.0.0.1/24); optional."
        ),
        "mtu": Setting(
            _whole(576, 9000),
            1436,
            "MTU of the TAP; 1436 leaves room for the overlay headers and "
            "encryption on a 1500-byte link.",
        ),
    },
    "routing": {
        "strategy": Setting(
            _text, "latency", "Route selection strategy plugin (e.g. latency)."
        ),
        "hello_history": Setting(
            _whole(1), 10, "How many recent heartbeats per RSU are remembered."
        ),
        "cached_candidates": Setting(
            _whole(1), 3, "How many upstream candidates an OBU keeps for failover."
        ),
        "hello_period_ms": Setting(
            _whole(1),
            5000,
            "Heartbeat period in milliseconds: how often an RSU sends one; an "
            "OBU measures neighbour silence in it (set it to the RSU's).",
        ),
        "neighbour_timeout": Setting(
            _whole(1),
            2,
            "Heartbeat periods a neighbour may miss before it is no longer used.",
        ),
        "max_hops": Setting(
            _whole(0),
            0,
            "OBU: do not rebroadcast heartbeats that have come this many hops "
            "(bounds each RSU's flood in large networks); 0 for no limit.",
        ),
        "relay_scope": Setting(
            _whole(0),
            None,
            "OBU: rebroadcast an RSU's heartbeats only while it is at most this "
            "many hops farther than the nearest RSU heard (scoped floods for "
            "many RSUs; losing a gateway may then take one period more); "
            "unset: relay every RSU's, as the protocol says.",
        ),
    },
    "security": {
        "encryption": Setting(
            _boolean, False, "Encrypt payloads with AES-256-GCM (yes/no)."
        ),
        "key_file": Setting(
            _text,
            None,
            "File holding the 32-byte key (32 raw bytes or 64 hex characters, "
            "mode 600); required when encryption is on. A relative path is "
            "taken from the config file's folder.",
        ),
    },
    "control": {
        "listen": Setting(
            _endpoint,
            "tcp:7070:interface=127.0.0.1",
            "Twisted endpoint of the status API (GET /status, /metrics), or "
            "none to disable it.",
        ),
    },
}


# -- the result --------------------------------------------------------------


@attrs.frozen
class NodeSection:
    name: str
    mac: bytes | None  # None: use the link interface's MAC (transport packet)


@attrs.frozen
class LinkSection:
    transport: str
    interface: str | None
    group: str
    port: int


@attrs.frozen
class TapSection:
    name: str
    address: str | None
    mtu: int


@attrs.frozen
class RoutingSection:
    strategy: str
    hello_history: int
    cached_candidates: int
    hello_period_ms: int
    neighbour_timeout: int
    max_hops: int
    relay_scope: int | None


@attrs.frozen
class SecuritySection:
    encryption: bool
    key_file: str | None


@attrs.frozen
class ControlSection:
    listen: str | None  # None: no control endpoint


@attrs.frozen
class NodeConfig:
    """A node's whole configuration; ``source`` names where it came from."""

    role: str
    source: str
    node: NodeSection
    link: LinkSection
    tap: TapSection
    routing: RoutingSection
    security: SecuritySection
    control: ControlSection


_SECTION_TYPES = {
    "node": NodeSection,
    "link": LinkSection,
    "tap": TapSection,
    "routing": RoutingSection,
    "security": SecuritySection,
    "control": ControlSection,
}
assert all(  # the schema and the result classes must not drift apart
    [a.name for a in attrs.fields(cls)] == list(SCHEMA[name])
    for name, cls in _SECTION_TYPES.items()
)


# -- loading -------------------------------------------------------------------


def _as_text(value: Any) -> str:
    """Simulator mappings (YAML) may hold numbers and booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _build(
    values: Mapping[tuple[str, str], tuple[str, str]],
    role: str,
    source: str,
    base_dir: str | None = None,
) -> NodeConfig:
    """``values``: (section, key) -> (raw text, where it came from)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    for section, key in values:
        where = values[section, key][1]
        if section not in SCHEMA:
            raise ConfigError(
                f"{where}: unknown section [{section}]: allowed sections are "
                f"{', '.join(SCHEMA)}"
            )
        if key not in SCHEMA[section]:
            raise ConfigError(
                f"{where}: [{section}] unknown key {key!r}: allowed keys are "
                f"{', '.join(SCHEMA[section])}"
            )
    parsed: dict[str, dict[str, Any]] = {}
    for section, settings in SCHEMA.items():
        parsed[section] = {}
        for key, setting in settings.items():
            if (section, key) in values:
                raw, where = values[section, key]
                if not raw and setting.default is None:
                    # An optional key left empty (``mac =``) means "not set".
                    parsed[section][key] = None
                    continue
                try:
                    parsed[section][key] = setting.parse(raw)
                except _Invalid as e:
                    raise ConfigError(
                        f"{where}: [{section}] {key} = {raw!r}: {e}"
                    ) from None
            elif setting.required:
                raise ConfigError(
                    f"{source}: [{section}] {key} is missing: it is required "
                    f"({setting.help})"
                )
            else:
                parsed[section][key] = setting.default

    link = parsed["link"]
    if link["transport"] in ("packet", "udp") and link["interface"] is None:
        raise ConfigError(
            f"{source}: [link] interface is missing: it is required for "
            f"transport = {link['transport']} (the network interface of the radio medium)"
        )
    node = parsed["node"]
    if node["mac"] is None and link["transport"] != "packet":
        node["mac"] = stable_local_mac(node["name"])
    security = parsed["security"]
    if security["encryption"]:
        if security["key_file"] is None:
            raise ConfigError(
                f"{source}: [security] key_file is missing: it is required when "
                f"encryption is on (a file with the 32-byte key, mode 600)"
            )
    key_file = security["key_file"]
    if (
        key_file is not None
        and base_dir is not None
        and values["security", "key_file"][1] == source
    ):
        security["key_file"] = os.path.join(base_dir, os.path.expanduser(key_file))

    return NodeConfig(
        role=role,
        source=source,
        **{name: cls(**parsed[name]) for name, cls in _SECTION_TYPES.items()},
    )


def load_node_config(
    path: str | os.PathLike,
    role: str,
    overrides: Mapping[tuple[str, str], str] | None = None,
) -> NodeConfig:
    """Read the INI file at ``path``; ``overrides`` ((section, key) -> text,
    e.g. from the command line) win over the file."""
    source = os.fspath(path)
    parser = configparser.ConfigParser(
        interpolation=None,
        # No [DEFAULT] magic: such a section is reported as unknown.
        default_section="\0none",
        inline_comment_prefixes=("#", ";"),
        strict=True,
    )
    try:
        with open(source, encoding="utf-8") as f:
            parser.read_file(f, source)
    except OSError as e:
        raise ConfigError(
            f"{source}: cannot read the config file: {e.strerror or e}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: the config file is not UTF-8 text") from None
    except configparser.DuplicateSectionError as e:
        raise ConfigError(
            f"{source}: section [{e.section}] appears twice (line {e.lineno}): "
            f"merge them"
        ) from None
    except configparser.DuplicateOptionError as e:
        raise ConfigError(
            f"{source}: [{e.section}] {e.option} is set twice (line {e.lineno}): "
            f"keep one"
        ) from None
    except configparser.MissingSectionHeaderError as e:
        raise ConfigError(
            f"{source}: line {e.lineno}: a key before any [section] header: "
            f"put it under one of {', '.join(f'[{s}]' for s in SCHEMA)}"
        ) from None
    except configparser.Error as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{source}: not a valid INI file: {first}") from None

    values: dict[tuple[str, str], tuple[str, str]] = {}
    for section in parser.sections():
        if section not in SCHEMA:
            raise ConfigError(
                f"{source}: unknown section [{section}]: allowed sections are "
                f"{', '.join(SCHEMA)}"
            )
        for key, raw in parser.items(section):
            values[section, key] = (_as_text(raw), source)
    for (section, key), raw in (overrides or {}).items():
        values[section, key] = (_as_text(raw), "command line")
    base_dir = os.path.dirname(os.path.abspath(source))
    return _build(values, role, source, base_dir)


def node_config_from_mapping(
    mapping: Mapping[str, Any], source: str, role: str
) -> NodeConfig:
    """Build a config from ``{section: {key: value}}`` (or flat
    ``{"section.key": value}``, as the simulator writes node keys)."""
    values: dict[tuple[str, str], tuple[str, str]] = {}
    for name, value in mapping.items():
        if isinstance(value, Mapping):
            for key, raw in value.items():
                values[name, str(key)] = (_as_text(raw), source)
        elif "." in name:
            section, key = name.split(".", 1)
            values[section, key] = (_as_text(value), source)
        else:
            raise ConfigError(
                f"{source}: {name!r} is neither a section of keys nor a "
                f"'section.key' name: allowed sections are {', '.join(SCHEMA)}"
            )
    return _build(values, role, source)


def describe_schema() -> list[tuple[str, str, str | None, str]]:
    """(section, key, default text, help) for every key, e.g. for --help."""
    return [
        (section, key, setting.default_text, setting.help)
        for section, settings in SCHEMA.items()
        for key, setting in settings.items()
    ]


# -- command-line options ------------------------------------------------------


def option_name(section: str, key: str) -> str:
    """The long option overriding ``[section] key``: ``--routing-hello-history``."""
    return f"{section}-{key}".replace("_", "-")


def option_parameters() -> list[list]:
    """``optParameters`` rows for a ``twisted.python.usage.Options``: one per
    key, default ``None`` (so an option left out does not mask the file)."""
    rows = []
    for section, key, default, help_text in describe_schema():
        shown = f" [default: {default}]" if default is not None else ""
        rows.append([option_name(section, key), None, None, help_text + shown])
    return rows


def overrides_from_options(options: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """The ``(section, key) -> text`` overrides given on the command line."""
    overrides = {}
    for section, settings in SCHEMA.items():
        for key in settings:
            value = options.get(option_name(section, key))
            if value is not None:
                overrides[section, key] = value
    return overrides
