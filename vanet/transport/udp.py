"""The ``udp`` transport: Ethernet-like frames over IPv4 multicast.

One frame per datagram, sent to a multicast group on one interface. Every
node on the segment (and every node on this host: the port is shared and
multicast loopback is on) gets every frame, so receivers filter by ``dst``
as an Ethernet NIC would, and drop their own transmissions. No privileges
are needed: this is the transport of an unprivileged node.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import socket
import struct

from twisted.internet import defer
from twisted.internet.protocol import DatagramProtocol
from twisted.logger import Logger
from zope.interface import implementer

from vanet.interfaces import ILinkPort
from vanet.mac import MAC_LEN, format_mac, is_group
from vanet.transport.counters import LinkCounters
from vanet.transport.sockopts import DEFAULT_RCVBUF, raise_rcvbuf

DEFAULT_GROUP = "239.255.48.48"
DEFAULT_PORT = 12336  # 0x3030, the overlay's EtherType (docs/protocol.md §2)
MAX_DATAGRAM = 65535  # the largest UDP datagram: every frame is read whole

# Linux: without this, a socket gets datagrams of every group anyone on the
# host joined for this port.
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
_MREQN = struct.Struct("=4s4si")  # struct ip_mreqn: group, local address, ifindex
SIOCGIFADDR = 0x8915
_IFREQ_ADDR = struct.Struct("16s16s8x")  # struct ifreq: name, sockaddr_in


def check_group(group: str) -> str:
    """``group`` normalised, or ``ValueError`` if it is not an IPv4
    multicast address (the socket options below are IPv4's)."""
    try:
        address = ipaddress.IPv4Address(group)
    except ValueError:
        address = None
    if address is None or not address.is_multicast:
        raise ValueError(
            f"expected an IPv4 multicast address (224.0.0.0/4, e.g. {DEFAULT_GROUP})"
        )
    return str(address)


def check_port(port: object) -> int:
    """``port``, or ``ValueError`` if it is not a UDP port number."""
    if type(port) is not int or not 0 < port < 65536:
        raise ValueError("expected a port number from 1 to 65535")
    return port


def interface_ipv4(interface: str) -> str | None:
    """The (first) IPv4 address of ``interface``, or ``None``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            result = fcntl.ioctl(
                sock.fileno(), SIOCGIFADDR, _IFREQ_ADDR.pack(interface.encode(), b"")
            )
        except OSError:
            return None
    return socket.inet_ntoa(_IFREQ_ADDR.unpack(result)[1][4:8])


class _Receiver(DatagramProtocol):
    """Twisted's side of the multicast socket: filters, then hands up."""

    def __init__(self, port: UdpPort) -> None:
        self._port = port

    def datagramReceived(self, datagram: bytes, addr) -> None:
        self._port._frame_received(datagram, addr)


@implementer(ILinkPort)
class UdpPort:
    """An ``ILinkPort`` over UDP multicast on one interface.

    ``mac`` is the link address this node uses on the overlay; the caller
    chooses it (the config default is ``vanet.mac.stable_local_mac(name)``).
    A received frame reaches ``protocol.datagramReceived(frame, addr)`` only
    if its ``dst`` is ``mac`` or a group address and its ``src`` is not
    ``mac``; others are dropped and counted.
    """

    log = Logger()

    def __init__(
        self,
        interface: str,
        mac: bytes,
        group: str = DEFAULT_GROUP,
        port: int = DEFAULT_PORT,
        rcvbuf: int = DEFAULT_RCVBUF,
    ) -> None:
        self.interface = interface
        self.mac = bytes(mac)
        self.group = group
        self.port = port
        self.rcvbuf_wanted = rcvbuf
        self.counters = LinkCounters()
        self.protocol = None
        self._ifindex = socket.if_nametoindex(interface)
        self._destination = (group, port)
        self._listener = None
        self._sock: socket.socket | None = None
        self._stopped = False

    @classmethod
    def open(
        cls,
        interface: str,
        mac: bytes,
        group: str = DEFAULT_GROUP,
        port: int = DEFAULT_PORT,
        rcvbuf: int = DEFAULT_RCVBUF,
    ) -> UdpPort:
        """Check the settings and prepare a port; raise ``ValueError`` naming
        what is wrong. Nothing privileged happens here or later."""
        if len(mac) != MAC_LEN or is_group(mac):
            raise ValueError(
                f"udp transport: mac must be a unicast 6-byte MAC, got {mac!r}"
            )
        try:
            group = check_group(group)
            check_port(port)
        except ValueError as e:
            raise ValueError(f"udp transport: group {group}:{port}: {e}") from None
        try:
            udp_port = cls(interface, mac, group, port, rcvbuf)
        except OSError:
            raise ValueError(
                f"udp transport: no interface named {interface!r}"
            ) from None
        if interface_ipv4(interface) is None:
            # Without one the kernel cannot send multicast from it.
            raise ValueError(
                f"udp transport: interface {interface!r} has no IPv4 address "
                "(multicast needs one; add one, or use transport = packet)"
            )
        return udp_port

    @property
    def rcvbuf(self) -> int:
        """The receive buffer the kernel granted (0 before listening)."""
        if self._sock is None:
            return 0
        return self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def startListening(self, protocol, reactor=None) -> None:
        """Join the group on the interface and start delivering to ``protocol``."""
        if self._stopped:
            raise RuntimeError("udp port was stopped")
        if self._listener is not None:
            raise RuntimeError("udp port already listening")
        if reactor is None:
            from twisted.internet import reactor
        # Bound to the group address, the socket sees only that group's traffic.
        # Twisted's port drains the socket on each wake-up (recvfrom until
        # EAGAIN, at most maxThroughput bytes, so one busy socket cannot
        # starve the reactor); its default 8 KiB buffer per read would cut
        # the frames of a 9000-byte TAP MTU short.
        listener = reactor.listenMulticast(
            self.port,
            _Receiver(self),
            interface=self.group,
            maxPacketSize=MAX_DATAGRAM,
            listenMultiple=True,
        )
        sock = listener.socket
        try:
            group = socket.inet_aton(self.group)
            any_address = socket.inet_aton("0.0.0.0")
            sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            sock.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_ADD_MEMBERSHIP,
                _MREQN.pack(group, any_address, self._ifindex),
            )
            sock.setsockopt(
                socket.IPPROTO_IP,
                socket.IP_MULTICAST_IF,
                _MREQN.pack(any_address, any_address, self._ifindex),
            )
            # Other nodes on this host must hear us; our own copies are filtered.
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            raise_rcvbuf(sock, self.rcvbuf_wanted)
        except OSError as e:
            listener.stopListening()
            raise OSError(
                e.errno,
                f"udp transport: cannot join {self.group} on {self.interface!r}: "
                f"{e.strerror}",
            ) from None
        self._listener = listener
        self._sock = sock
        self.protocol = protocol
        protocol.makeConnection(self)
        self.log.info(
            "udp transport on {interface} group {group}:{port} ({mac}, rcvbuf {rcvbuf})",
            interface=self.interface,
            group=self.group,
            port=self.port,
            mac=format_mac(self.mac),
            rcvbuf=self.rcvbuf,
        )

    def _frame_received(self, frame: bytes, addr) -> None:
        counters = self.counters
        if len(frame) < 2 * MAC_LEN:  # no dst and src to filter by
            counters.runts += 1
            return
        if frame[6:12] == self.mac:
            counters.own_dropped += 1
            return
        if not (frame[0] & 1 or frame[:6] == self.mac):
            counters.filtered += 1
            return
        counters.received += 1
        counters.received_bytes += len(frame)
        self.protocol.datagramReceived(frame, addr)

    def write(self, frame) -> None:
        """Send one frame to the group (all nodes on the segment hear it)."""
        sock = self._sock
        if sock is None:
            raise OSError(errno.ENOTCONN, "udp port is not listening")
        self.counters.count_send(sock.sendto, frame, self._destination)

    def stopListening(self):
        """Leave the group and close the socket; returns a Deferred."""
        if self._stopped:
            return defer.succeed(None)
        self._stopped = True
        listener, self._listener = self._listener, None
        self._sock = None
        if listener is None:
            return defer.succeed(None)
        if self.protocol is not None:
            self.protocol.doStop()
        return defer.maybeDeferred(listener.stopListening)
