"""MAC address helpers: one place for parsing, formatting and classifying."""

from __future__ import annotations

import hashlib

BROADCAST = b"\xff" * 6
MAC_LEN = 6
_ZERO_MAC = bytes(MAC_LEN)
ETH_HLEN = 2 * MAC_LEN + 2  # dst, src, EtherType: the shortest Ethernet frame


class MacError(ValueError):
    """A string or value is not a MAC address."""


def parse_mac(text: str | bytes) -> bytes:
    """Parse ``02:00:00:00:00:01``, ``02-00-...`` or ``020000000001`` into 6 bytes."""
    if isinstance(text, bytes | bytearray | memoryview):
        value = bytes(text)
        if len(value) != MAC_LEN:
            raise MacError(f"a MAC is 6 bytes, got {len(value)}")
        return value
    cleaned = text.strip().replace(":", "").replace("-", "").replace(".", "")
    if len(cleaned) != 12:
        raise MacError(
            f"{text!r} is not a MAC address (want 6 hex octets, e.g. 02:00:00:00:00:01)"
        )
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise MacError(
            f"{text!r} is not a MAC address (want 6 hex octets, e.g. 02:00:00:00:00:01)"
        ) from None


def format_mac(mac: bytes | bytearray | memoryview) -> str:
    """``b'\\x02\\0\\0\\0\\0\\x01'`` -> ``'02:00:00:00:00:01'``."""
    return bytes(mac).hex(":")


def is_group(mac: bytes | bytearray | memoryview) -> bool:
    """Broadcast or multicast: the lowest bit of the first octet is set."""
    return bool(mac[0] & 1)


def bad_address(mac: bytes | bytearray | memoryview) -> bool:
    """A group (broadcast included) or all-zero MAC: no node's address, so
    never a frame's source, sender or origin (docs/protocol.md §3.6)."""
    return bool(mac[0] & 1) or mac == _ZERO_MAC


def stable_local_mac(name: str) -> bytes:
    """A stable, locally administered unicast MAC derived from a node name."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    digest[0] = (digest[0] & 0xFC) | 0x02  # locally administered, unicast
    return bytes(digest)


def stable_tap_mac(node_name: str) -> bytes:
    """The MAC of node ``node_name``'s TAP when none is configured.

    Stable across restarts, so the ARP caches of hosts behind other nodes
    stay right; distinct from ``stable_local_mac(node_name)``, the node's
    own link address.
    """
    return stable_local_mac(f"tap:{node_name}")
