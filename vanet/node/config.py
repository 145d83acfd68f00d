"""Node configuration: an INI file with fixed sections and keys.

Declared once: each section is a frozen attrs class, and each of its fields
carries a ``Setting`` (parser, default, meaning) in its metadata. From
those declarations come the validation (``load_node_config`` for a file plus
command-line overrides, ``node_config_from_mapping`` for the simulator's
per-node mappings), the twistd options (``option_parameters``), and the
reference table in docs/configuration.md (``reference_markdown``; the doc
test checks it). Defaults that belong to a lower layer (the UDP group, the
TAP's MTU, the control port) are that layer's constants, used here.

Every problem raises ``ConfigError`` whose text is one line naming the
file, section, key and what is allowed, e.g.::

    rsu.ini: [routing] hello_history = 'abc': expected a whole number >= 1

The routing strategy's name is kept as a string: the caller checks it
against the installed strategy plugins.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from vanet.identity import ROLES as IDENTITY_ROLES
from vanet.mac import (
    MacError,
    bad_address,
    parse_mac,
    stable_local_mac,
    stable_tap_mac,
)
from vanet.node.control import DEFAULT_LISTEN
from vanet.schema import (
    REQUIRED,
    SETTING_KEY,
    Invalid,
    Setting,
    as_text,
    boolean,
    choice,
    number,
    setting,
    text,
    whole,
)
from vanet.tap.linux import DEFAULT_MTU as TAP_DEFAULT_MTU
from vanet.tap.linux import DEFAULT_NAME as TAP_DEFAULT_NAME
from vanet.transport.ifname import ifname_problem
from vanet.transport.packet import IO_MODES
from vanet.transport.udp import DEFAULT_GROUP, DEFAULT_PORT, check_group, check_port

ROLES = IDENTITY_ROLES
TRANSPORTS = ("packet", "udp", "memory")


class ConfigError(ValueError):
    """A configuration problem; ``str()`` is one line saying what to fix."""


def _unicast_mac(value: str) -> bytes:
    try:
        mac = parse_mac(value)
    except MacError:
        mac = None
    if mac is None or bad_address(mac):
        # Group, broadcast and all-zero addresses are no node's (its frames'
        # src would be refused by every neighbour, docs/protocol.md §3.6).
        raise Invalid(
            "expected a unicast MAC address (not all-zero) of 6 hex octets,"
            " e.g. 02:00:00:00:00:01"
        )
    return mac


def _via(check: Callable[[Any], Any], convert: Callable[[str], Any] = str):
    """A parser from a lower layer's check (which raises ``ValueError``
    saying what it expected), so the rule is written once, there."""

    def parse(value: str) -> Any:
        try:
            return check(convert(value))
        except ValueError as e:
            raise Invalid(str(e)) from None

    return parse


def _cidr(value: str) -> str:
    allowed = "expected an address with its prefix length, e.g. 10.0.0.1/24"
    if "/" not in value:
        raise Invalid(allowed)
    try:
        return str(ipaddress.ip_interface(value))
    except ValueError:
        raise Invalid(allowed) from None


def _ifname(value: str) -> str:
    problem = ifname_problem(value)
    if problem is not None:
        raise Invalid(f"expected a network interface name: {problem}")
    return value


def _endpoint(value: str) -> str | None:
    if value.lower() == "none":
        return None
    # Parse (not listen) with Twisted's own parser to catch typos early.
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(None, value)
    except Exception:
        raise Invalid(
            f"expected a Twisted server endpoint string, e.g. {DEFAULT_LISTEN}, or none"
        ) from None
    return value


def _path(value: str) -> str:
    """A file name; relative ones written in a config file are taken from
    that file's folder (``_build``), so this parser marks the key as a path."""
    return text(value)


def _integer(value: str) -> int | str:
    """A whole number, or the text itself for the check to reject."""
    try:
        return int(value, 10)
    except ValueError:
        return value


# -- the sections ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NodeSection:
    """Who the node is."""

    name: str = setting(text, REQUIRED, "The node's name, used in logs and status.")
    mac: bytes | None = setting(
        _unicast_mac,
        None,
        "The node's link-layer address (unicast, not all-zero). Default: the "
        "link interface's MAC "
        "for transport packet; a stable locally administered MAC derived "
        "from the name otherwise.",
    )


@attrs.frozen(kw_only=True)
class LinkSection:
    """The radio medium: how the node's frames reach its neighbours."""

    transport: str = setting(
        choice(*TRANSPORTS),
        "packet",
        "How frames reach the radio medium: packet (raw Ethernet, "
        "EtherType 0x3030), udp (one frame per multicast datagram), or "
        "memory (in-process, for the simulator only).",
    )
    interface: str | None = setting(
        _ifname,
        None,
        "The network interface of the radio medium (required for packet and udp).",
    )
    group: str = setting(
        _via(check_group), DEFAULT_GROUP, "IPv4 multicast group for transport udp."
    )
    port: int = setting(
        _via(check_port, _integer),
        DEFAULT_PORT,
        "UDP port of the multicast group (transport udp).",
    )
    io: str = setting(
        choice(*IO_MODES),
        "auto",
        "How transport packet reads and writes: ring (PACKET_MMAP rings: a "
        "wake-up takes every frame that arrived, a reactor turn's frames go "
        "out in one system call), socket (one system call per frame), or "
        "auto (ring where the kernel allows, else socket, said in the log).",
    )


@attrs.frozen(kw_only=True)
class TapSection:
    """The TAP device whose frames the node carries over the overlay."""

    name: str = setting(
        _ifname, TAP_DEFAULT_NAME, "Name of the TAP device the node creates."
    )
    address: str | None = setting(
        _cidr, None, "Address of the TAP, with prefix (e.g. 10.0.0.1/24); optional."
    )
    mtu: int = setting(
        whole(576, 9000),
        TAP_DEFAULT_MTU,
        "MTU of the TAP; the default leaves room for the overlay headers and "
        "encryption on a 1500-byte link (docs/protocol.md §9).",
    )
    mac: bytes | None = setting(
        _unicast_mac,
        None,
        "The TAP's MAC address. Default: a stable locally administered MAC "
        "derived from the node's name, so hosts' ARP caches stay right when "
        "the node restarts.",
    )


@attrs.frozen(kw_only=True)
class RoutingSection:
    """Heartbeats and route selection (docs/protocol.md §3 to §6)."""

    strategy: str = setting(
        text, "latency", "Route selection strategy plugin (e.g. latency)."
    )
    hello_history: int = setting(
        whole(1), 10, "How many recent heartbeats per RSU are remembered."
    )
    cached_candidates: int = setting(
        whole(1), 3, "How many upstream candidates an OBU keeps for failover."
    )
    hello_period_ms: int = setting(
        whole(10, 60000),
        5000,
        "Heartbeat period in milliseconds (10 to 60000): how often an RSU "
        "sends one; an OBU measures neighbour silence in it (set it to the "
        "RSU's; the period it learns is kept within 0.25x to 4x of this).",
    )
    neighbour_timeout: int = setting(
        whole(1),
        2,
        "Heartbeat periods a neighbour may miss before it is no longer used.",
    )
    max_hops: int = setting(
        whole(0),
        0,
        "OBU: do not rebroadcast heartbeats that have come this many hops "
        "(bounds each RSU's flood in large networks); 0 for no limit.",
    )
    relay_scope: int | None = setting(
        whole(0),
        None,
        "OBU: rebroadcast an RSU's heartbeats only while it is at most this "
        "many hops farther than the nearest RSU heard (scoped floods for "
        "many RSUs; losing a gateway may then take one period more); "
        "unset: relay every RSU's, as the protocol says.",
    )
    gateway_switch_threshold: float = setting(
        number(0),
        0.1,
        "OBU: the relative improvement another RSU's route needs before the "
        "OBU moves its traffic to that RSU (0.1: 10% better); avoids "
        "flapping between RSUs of nearly equal quality (docs/protocol.md §6).",
    )


@attrs.frozen(kw_only=True)
class SecuritySection:
    """Payload encryption (docs/protocol.md §8) and node identities."""

    encryption: bool = setting(
        boolean, False, "Encrypt payloads with AES-256-GCM (yes/no)."
    )
    key_file: str | None = setting(
        _path,
        None,
        "File holding the 32-byte key (32 raw bytes or 64 hex characters, "
        "mode 600); required when encryption is on. A relative path is "
        "taken from the config file's folder.",
    )
    identity: str | None = setting(
        _path,
        None,
        "The node's Ed25519 private key (PEM, from vanet-keygen; mode 600), "
        "loaded and checked at start; with authenticate = yes it signs the "
        "node's heartbeats (RSU) or replies (OBU), docs/protocol.md §2.7. A "
        "relative path is taken from the config file's folder.",
    )
    trust: str | None = setting(
        _path,
        None,
        "The trust file: one 'MAC role public-key' line per node (not "
        "writable by group or others), loaded at start and re-read on "
        "SIGHUP. A relative path is taken from the config file's folder.",
    )
    authenticate: bool = setting(
        boolean,
        False,
        "Sign and verify heartbeats and replies (yes/no; docs/protocol.md "
        "§2.7): the node sends only the signed forms and drops the plain "
        "ones (unsigned). Needs identity and trust. With no, signed frames "
        "are dropped and the wire is as without identities.",
    )


@attrs.frozen(kw_only=True)
class ControlSection:
    """The node's status API."""

    listen: str | None = setting(
        _endpoint,
        DEFAULT_LISTEN,
        "Twisted endpoint of the status API (GET /status, /metrics), or "
        "none to disable it.",
    )


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


def _sections() -> dict[str, type]:
    """Section name -> class, in file order: NodeConfig's attrs-class fields."""
    attrs.resolve_types(NodeConfig, globals())
    return {
        field.name: field.type
        for field in attrs.fields(NodeConfig)
        if isinstance(field.type, type) and attrs.has(field.type)
    }


SECTIONS: dict[str, type] = _sections()

# section -> key -> Setting: a view of the declarations above.
SCHEMA: dict[str, dict[str, Setting]] = {
    name: {field.name: field.metadata[SETTING_KEY] for field in attrs.fields(cls)}
    for name, cls in SECTIONS.items()
}


# -- loading -------------------------------------------------------------------


def _check_names(values: Mapping[tuple[str, str], tuple[str, str]]) -> None:
    for (section, key), (_raw, where) in values.items():
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


def _parse_values(
    values: Mapping[tuple[str, str], tuple[str, str]], source: str
) -> dict[str, dict[str, Any]]:
    parsed: dict[str, dict[str, Any]] = {}
    for section, settings in SCHEMA.items():
        parsed[section] = {}
        for key, spec in settings.items():
            if (section, key) in values:
                raw, where = values[section, key]
                if not raw and spec.default is None:
                    # An optional key left empty (``mac =``) means "not set".
                    parsed[section][key] = None
                    continue
                try:
                    parsed[section][key] = spec.parse(raw)
                except Invalid as e:
                    raise ConfigError(
                        f"{where}: [{section}] {key} = {raw!r}: {e}"
                    ) from None
            elif spec.required:
                raise ConfigError(
                    f"{source}: [{section}] {key} is missing: it is required "
                    f"({spec.help})"
                )
            else:
                parsed[section][key] = spec.default
    return parsed


#: what ``[security] authenticate = yes`` needs, and what to give it
_AUTHENTICATION_NEEDS = {
    "identity": "the node's private key file: make one with vanet-keygen",
    "trust": "the trust file naming every node's MAC, role and public key",
}


def _build(
    values: Mapping[tuple[str, str], tuple[str, str]],
    role: str,
    source: str,
    base_dir: str | None = None,
    keys_given: bool = False,
) -> NodeConfig:
    """``values``: (section, key) -> (raw text, where it came from).
    ``keys_given``: the caller hands the node its identity and trust store
    itself (the simulator's in-memory keys), so the files are not needed."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    _check_names(values)
    parsed = _parse_values(values, source)

    # Rules across keys.
    link = parsed["link"]
    if link["transport"] in ("packet", "udp") and link["interface"] is None:
        raise ConfigError(
            f"{source}: [link] interface is missing: it is required for "
            f"transport = {link['transport']} (the network interface of the radio medium)"
        )
    node = parsed["node"]
    if node["mac"] is None and link["transport"] != "packet":
        node["mac"] = stable_local_mac(node["name"])
    tap = parsed["tap"]
    if tap["mac"] is None:
        tap["mac"] = stable_tap_mac(node["name"])
    security = parsed["security"]
    if security["encryption"] and security["key_file"] is None:
        raise ConfigError(
            f"{source}: [security] key_file is missing: it is required when "
            f"encryption is on (a file with the 32-byte key, mode 600)"
        )
    for key, what in _AUTHENTICATION_NEEDS.items():
        if security["authenticate"] and security[key] is None and not keys_given:
            raise ConfigError(
                f"{source}: [security] {key} is missing: it is required when "
                f"authenticate = yes ({what})"
            )
    # File names written in the config file are relative to its folder; a
    # command-line override is relative to the working directory, as usual.
    for section, settings in SCHEMA.items():
        for key, spec in settings.items():
            value = parsed[section][key]
            if (
                spec.parse is _path
                and value is not None
                and base_dir is not None
                and values[section, key][1] == source
            ):
                parsed[section][key] = os.path.join(base_dir, os.path.expanduser(value))

    return NodeConfig(
        role=role,
        source=source,
        **{name: cls(**parsed[name]) for name, cls in SECTIONS.items()},
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
            values[section, key] = (as_text(raw), source)
    for (section, key), raw in (overrides or {}).items():
        values[section, key] = (as_text(raw), "command line")
    base_dir = os.path.dirname(os.path.abspath(source))
    return _build(values, role, source, base_dir)


def node_config_from_mapping(
    mapping: Mapping[str, Any], source: str, role: str, keys_given: bool = False
) -> NodeConfig:
    """Build a config from ``{section: {key: value}}`` (or flat
    ``{"section.key": value}``, as the simulator writes node keys);
    ``keys_given`` as for ``_build``."""
    values: dict[tuple[str, str], tuple[str, str]] = {}
    for name, value in mapping.items():
        if isinstance(value, Mapping):
            for key, raw in value.items():
                values[name, str(key)] = (as_text(raw), source)
        elif "." in name:
            section, key = name.split(".", 1)
            values[section, key] = (as_text(value), source)
        else:
            raise ConfigError(
                f"{source}: {name!r} is neither a section of keys nor a "
                f"'section.key' name: allowed sections are {', '.join(SCHEMA)}"
            )
    return _build(values, role, source, keys_given=keys_given)


def describe_schema() -> list[tuple[str, str, str | None, str]]:
    """(section, key, default text, help) for every key, e.g. for --help."""
    return [
        (section, key, spec.default_text, spec.help)
        for section, settings in SCHEMA.items()
        for key, spec in settings.items()
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


# -- the reference in docs/configuration.md ----------------------------------

REFERENCE_BEGIN = (
    "<!-- keys: generated by `python -m vanet.node.config docs/configuration.md` -->"
)
REFERENCE_END = "<!-- end of generated keys -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def reference_markdown() -> str:
    """The sections-and-keys reference, as docs/configuration.md has it."""
    lines = []
    for name, cls in SECTIONS.items():
        lines += [f"### `[{name}]`", "", (cls.__doc__ or "").strip(), ""]
        lines += ["| key | default | meaning |", "|---|---|---|"]
        for key, spec in SCHEMA[name].items():
            default = (
                "required"
                if spec.required
                else f"`{spec.default_text}`"
                if spec.default_text is not None
                else "—"
            )
            lines.append(f"| `{key}` | {default} | {_cell(spec.help)} |")
        lines.append("")
    return "\n".join(lines)


def update_reference(path: str) -> bool:
    """Rewrite the generated part of the document at ``path``; return
    whether it changed."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, found, rest = text.partition(REFERENCE_BEGIN)
    _old, found_end, tail = rest.partition(REFERENCE_END)
    if not (found and found_end):
        raise ValueError(f"{path}: no {REFERENCE_BEGIN!r} ... {REFERENCE_END!r} block")
    new = f"{head}{REFERENCE_BEGIN}\n\n{reference_markdown()}\n{REFERENCE_END}{tail}"
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != text


if __name__ == "__main__":
    if len(sys.argv) > 1:
        for doc in sys.argv[1:]:
            print(f"{doc}: {'updated' if update_reference(doc) else 'up to date'}")
    else:
        print(reference_markdown())
