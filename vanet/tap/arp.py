"""Gratuitous ARP: how a TAP tells hosts elsewhere on the overlay where its
address lives, so their ARP caches need not time out after a restart or a
new MAC (RFC 5227 §3, "ARP Announcement")."""

from __future__ import annotations

import ipaddress
import struct

from vanet.mac import BROADCAST, MAC_LEN

ETHERTYPE_ARP = 0x0806
_ETHERNET = struct.Struct("!6s6sH")
# htype Ethernet, ptype IPv4, hlen, plen, op, sha, spa, tha, tpa
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_REQUEST = 1


def announcement(mac: bytes, address: str | None) -> bytes | None:
    """The announcement frame of ``address`` (CIDR or bare IPv4) at ``mac``,
    or ``None`` when there is no IPv4 address to announce."""
    if address is None:
        return None
    ip = ipaddress.ip_interface(address).ip
    if ip.version != 4:
        return None  # IPv6 neighbours learn through NDP, not ARP
    spa = ip.packed
    return _ETHERNET.pack(BROADCAST, mac, ETHERTYPE_ARP) + _ARP.pack(
        1, 0x0800, MAC_LEN, 4, _REQUEST, mac, spa, b"\0" * MAC_LEN, spa
    )
