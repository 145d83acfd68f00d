"""Link transports under the link protocol (docs/architecture.md).

Each port implements ``vanet.interfaces.ILinkPort`` and has the same life
cycle: ``open`` (privileged: sockets) -> ``startListening(protocol,
reactor)`` (calls ``protocol.makeConnection(port)``, then
``protocol.datagramReceived(frame, addr)`` per frame) -> ``write(frame)``
-> ``stopListening()``. Each has ``mac`` and ``counters`` (``LinkCounters``).

- ``PacketPort``: AF_PACKET raw socket, EtherType 0x3030 (needs CAP_NET_RAW).
- ``UdpPort``: one frame per UDP datagram to a multicast group.
- ``MemoryPort`` and ``Hub``: in-memory links for tests and the simulator.
"""

from __future__ import annotations

from vanet.transport.counters import LinkCounters
from vanet.transport.memory import Hub, MemoryPort
from vanet.transport.packet import PacketPort
from vanet.transport.udp import DEFAULT_GROUP, DEFAULT_PORT, UdpPort

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_PORT",
    "Hub",
    "LinkCounters",
    "MemoryPort",
    "PacketPort",
    "UdpPort",
]
