"""The ``packet`` transport: an AF_PACKET raw socket for EtherType 0x3030.

Frames go on the wire exactly as docs/protocol.md §2 lays them out: a
frame already starts with dst, src and the 0x3030 marker, so it is sent
as-is and received as-is. Needs CAP_NET_RAW (docs/running.md):
``PacketPort.open`` is meant for ``privilegedStartService``, and
``startListening`` for ``startService``, after root was dropped.
"""

from __future__ import annotations

import fcntl
import socket
import struct

from twisted.internet.interfaces import IReactorFDSet
from twisted.logger import Logger
from zope.interface import implementer

from vanet.interfaces import ILinkPort
from vanet.mac import MAC_LEN, format_mac
from vanet.transport.counters import LinkCounters
from vanet.transport.fdport import (
    DEFAULT_MAX_FRAMES_PER_WAKEUP,
    DrainingReader,
    read_size,
)
from vanet.transport.sockopts import DEFAULT_RCVBUF, raise_rcvbuf
from vanet.wire import ETHERTYPE

SOL_PACKET = getattr(socket, "SOL_PACKET", 263)
# Linux >= 4.20: do not hand our own outgoing frames back to us.
PACKET_IGNORE_OUTGOING = 23
SIOCGIFMTU = 0x8921
_IFREQ_MTU = struct.Struct("16si12x")


def interface_mtu(sock: socket.socket, interface: str) -> int:
    """The MTU of ``interface``, as seen from ``sock``'s network namespace."""
    request = _IFREQ_MTU.pack(interface.encode(), 0)
    return _IFREQ_MTU.unpack(fcntl.ioctl(sock.fileno(), SIOCGIFMTU, request))[1]


def _packet_socket(netns: str | None) -> socket.socket:
    proto = socket.htons(ETHERTYPE)
    if netns is None:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, proto)
    # A socket keeps the namespace it was created in; pyroute2 creates it
    # there without moving this process.
    from pyroute2 import netns as pyroute2_netns

    return pyroute2_netns.create_socket(
        netns, socket.AF_PACKET, socket.SOCK_RAW, proto, flags=0
    )


@implementer(ILinkPort)
class PacketPort:
    """An ``ILinkPort`` over one Ethernet interface.

    Each received frame is passed to ``protocol.datagramReceived(frame,
    None)``; frames whose ``src`` is our own MAC (echoes of what we sent) are
    dropped and counted. ``write`` drops and counts when the socket buffer is
    full (EAGAIN) and raises ``OSError`` for any other refusal (e.g. ENOBUFS,
    ENETDOWN).
    """

    log = Logger()

    def __init__(
        self,
        sock: socket.socket,
        interface: str,
        mac: bytes,
        mtu: int,
        max_frames_per_wakeup: int = DEFAULT_MAX_FRAMES_PER_WAKEUP,
    ) -> None:
        self._sock = sock
        self.interface = interface
        self.mac = mac
        self.mtu = mtu
        self.counters = LinkCounters()
        self.max_frames_per_wakeup = max_frames_per_wakeup
        self.protocol = None
        self._reader: DrainingReader | None = None
        self._closed = False
        self._recv_size = read_size(mtu)

    @classmethod
    def open(
        cls,
        interface: str,
        netns: str | None = None,
        rcvbuf: int = DEFAULT_RCVBUF,
        max_frames_per_wakeup: int = DEFAULT_MAX_FRAMES_PER_WAKEUP,
    ) -> PacketPort:
        """Open a raw socket on ``interface`` (privileged step).

        ``netns`` names a network namespace to open it in (tests, tools);
        ``None`` is the current one. Raises ``OSError`` with the interface
        named if the socket cannot be opened or bound.
        """
        try:
            sock = _packet_socket(netns)
        except PermissionError as e:
            raise PermissionError(
                e.errno,
                f"opening an AF_PACKET socket on {interface!r} needs root or "
                "CAP_NET_RAW (or use transport = udp)",
            ) from None
        try:
            sock.bind((interface, ETHERTYPE))
            sock.setblocking(False)
            try:
                sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            except OSError:
                pass  # older kernel: the src check in _frame_received suffices
            raise_rcvbuf(sock, rcvbuf)
            mac = sock.getsockname()[4]
            mtu = interface_mtu(sock, interface)
        except OSError as e:
            sock.close()
            raise OSError(
                e.errno, f"cannot use interface {interface!r} for packets: {e.strerror}"
            ) from None
        if len(mac) != MAC_LEN:
            sock.close()
            raise OSError(f"interface {interface!r} has no 6-byte Ethernet address")
        return cls(sock, interface, mac, mtu, max_frames_per_wakeup)

    @property
    def rcvbuf(self) -> int:
        """The receive buffer size the kernel granted, in bytes."""
        return self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def fileno(self) -> int:
        return self._sock.fileno()

    def startListening(self, protocol, reactor: IReactorFDSet | None = None) -> None:
        """Connect ``protocol`` and start reading in ``reactor``."""
        if self._closed:
            raise RuntimeError(f"packet port on {self.interface!r} is closed")
        if self._reader is not None:
            raise RuntimeError(f"packet port on {self.interface!r} already listening")
        if reactor is None:
            from twisted.internet import reactor
        self.protocol = protocol
        self._reader = DrainingReader(
            self._sock.fileno(),
            self._read_frame,
            self._frame_received,
            self.counters,
            reactor,
            self.max_frames_per_wakeup,
            description=f"packet:{self.interface}",
        )
        protocol.makeConnection(self)
        self._reader.startReading()
        self.log.info(
            "packet transport on {interface} ({mac}, mtu {mtu}, rcvbuf {rcvbuf})",
            interface=self.interface,
            mac=format_mac(self.mac),
            mtu=self.mtu,
            rcvbuf=self.rcvbuf,
        )

    def doRead(self) -> None:
        """Drain the socket now (what the reactor does on readability)."""
        assert self._reader is not None, "startListening first"
        self._reader.doRead()

    def _read_frame(self) -> bytes:
        return self._sock.recv(self._recv_size)

    def _frame_received(self, frame: bytes) -> None:
        if frame[6:12] == self.mac:
            self.counters.own_dropped += 1
            return
        self.counters.received += 1
        self.counters.received_bytes += len(frame)
        self.protocol.datagramReceived(frame, None)

    def write(self, frame) -> None:
        """Send one whole frame (bytes, bytearray or memoryview)."""
        self.counters.count_send(self._sock.send, frame)

    def stopListening(self) -> None:
        """Stop reading, close the socket and stop the protocol."""
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.stop()
        self._sock.close()
        if self.protocol is not None:
            self.protocol.doStop()

    def getHost(self) -> tuple[str, bytes]:
        return (self.interface, self.mac)
