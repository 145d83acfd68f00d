"""The ``packet`` transport: an AF_PACKET raw socket for EtherType 0x3030.

Frames go on the wire exactly as docs/protocol.md §2 lays them out: a
frame already starts with dst, src and the 0x3030 marker, so it is sent
as-is and received as-is. Needs CAP_NET_RAW (docs/running.md):
``PacketPort.open`` is meant for ``privilegedStartService``, and
``startListening`` for ``startService``, after root was dropped.

I/O (``io``, ``[link] io``): ``ring`` reads and writes through PACKET_MMAP
rings (``vanet.transport.ring``): one wake-up hands up every frame that
arrived, each as a read-only view into the ring, and the frames written
during one reactor turn go out with one system call at its end. ``socket``
is one ``recv``/``send`` per frame. ``auto`` is ``ring`` where the kernel
sets the rings up, and says so in the log when it falls back to ``socket``.
With the rings a refused send (ENETDOWN, ...) is found at the flush: it is
counted and logged, not raised from ``write``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct

from twisted.internet.interfaces import IReactorFDSet
from twisted.logger import Logger
from zope.interface import implementer

from vanet.interfaces import ILinkPort
from vanet.mac import ETH_HLEN, MAC_LEN, format_mac
from vanet.transport.counters import LinkCounters
from vanet.transport.fdport import (
    DEFAULT_MAX_FRAMES_PER_WAKEUP,
    VLAN_TAG_LEN,
    BatchReader,
    DrainingReader,
    read_size,
)
from vanet.transport.ring import PacketRings, RingError, kernel_drops
from vanet.transport.sockopts import DEFAULT_RCVBUF, raise_rcvbuf
from vanet.wire import ETHERTYPE

SOL_PACKET = getattr(socket, "SOL_PACKET", 263)
# Linux >= 4.20: do not hand our own outgoing frames back to us.
PACKET_IGNORE_OUTGOING = 23
SIOCGIFMTU = 0x8921
_IFREQ_MTU = struct.Struct("16si12x")

IO_MODES = ("auto", "ring", "socket")


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


class _PacketCounters(LinkCounters):
    """``LinkCounters`` that fetch the kernel's drop count when read."""

    __slots__ = ("_sock",)

    def refresh(self) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None and sock.fileno() >= 0:
            try:
                self.recv_dropped += kernel_drops(sock)
            except OSError:
                pass


@implementer(ILinkPort)
class PacketPort:
    """An ``ILinkPort`` over one Ethernet interface.

    Each received frame is passed to ``protocol.datagramReceived(frame,
    None)``; frames whose ``src`` is our own MAC (echoes of what we sent) are
    dropped and counted. ``write`` drops and counts when the socket buffer is
    full (EAGAIN) and raises ``OSError`` for any other refusal (e.g. ENOBUFS,
    ENETDOWN); with ``rings`` see the module docstring.
    """

    log = Logger()

    def __init__(
        self,
        sock: socket.socket,
        interface: str,
        mac: bytes,
        mtu: int,
        max_frames_per_wakeup: int = DEFAULT_MAX_FRAMES_PER_WAKEUP,
        rings: PacketRings | None = None,
    ) -> None:
        self._sock = sock
        self.interface = interface
        self.mac = mac
        self.mtu = mtu
        self.counters = _PacketCounters()
        self.counters._sock = sock
        self.max_frames_per_wakeup = max_frames_per_wakeup
        self.protocol = None
        self._reader: DrainingReader | BatchReader | None = None
        self._closed = False
        self._recv_size = read_size(mtu)
        self._rings = rings
        self._reactor = None
        self._flush_call = None
        self._flush_failing = False

    @property
    def io(self) -> str:
        """``ring`` or ``socket``: how this port reads and writes."""
        return "socket" if self._rings is None else "ring"

    @classmethod
    def open(
        cls,
        interface: str,
        netns: str | None = None,
        rcvbuf: int = DEFAULT_RCVBUF,
        max_frames_per_wakeup: int = DEFAULT_MAX_FRAMES_PER_WAKEUP,
        io: str = "auto",
    ) -> PacketPort:
        """Open a raw socket on ``interface`` (privileged step).

        ``netns`` names a network namespace to open it in (tests, tools);
        ``None`` is the current one. ``io`` is one of ``IO_MODES``. Raises
        ``OSError`` with the interface named if the socket cannot be opened
        or bound, or (``io="ring"``) the rings cannot be set up.
        """
        if io not in IO_MODES:
            raise ValueError(f"io must be one of {', '.join(IO_MODES)}, got {io!r}")
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
        rings = None
        if io != "socket":
            try:
                # Slots for the MTU's frames exactly (with a VLAN tag): a
                # larger slot only means fewer of them.
                rings = PacketRings.setup(sock, mtu + ETH_HLEN + VLAN_TAG_LEN)
            except OSError as e:
                if io == "ring":
                    sock.close()
                    raise RingError(
                        e.errno,
                        f"cannot set up PACKET_MMAP rings on {interface!r}: "
                        f"{e.strerror or e}",
                    ) from None
                # A failed setsockopt leaves no ring behind: the socket is
                # as before, so plain I/O works on it.
                cls.log.warn(
                    "packet transport on {interface}: no PACKET_MMAP rings "
                    "({error}); falling back to socket I/O",
                    interface=interface,
                    error=e.strerror or e,
                )
        return cls(sock, interface, mac, mtu, max_frames_per_wakeup, rings)

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
        self._reactor = reactor
        description = f"packet:{self.interface}"
        if self._rings is None:
            self._reader = DrainingReader(
                self._sock.fileno(),
                self._read_frame,
                self._frame_received,
                self.counters,
                reactor,
                self.max_frames_per_wakeup,
                description=description,
            )
            buffers = f"rcvbuf {self.rcvbuf}"
        else:
            self._reader = BatchReader(
                self._sock.fileno(), self._drain_ring, reactor, description
            )
            g = self._rings.geometry
            buffers = (
                f"rings: rx {g.rx_block_nr} x {g.rx_block_size // 1024} KiB blocks, "
                f"tx {g.tx_frame_nr} x {g.tx_frame_size} B slots"
            )
        protocol.makeConnection(self)
        self._reader.startReading()
        self.log.info(
            "packet transport on {interface} ({mac}, mtu {mtu}, io {io}, {buffers})",
            interface=self.interface,
            mac=format_mac(self.mac),
            mtu=self.mtu,
            io=self.io,
            buffers=buffers,
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

    def _drain_ring(self) -> None:
        """One wake-up with rings: every frame handed over, up to the bound."""
        rings = self._rings
        counters = self.counters
        if not rings.drain(self._ring_frame, self.max_frames_per_wakeup):
            # Woken with no frame: an error is pending on the socket (the
            # interface went down: ENETDOWN). Reading it clears it; left
            # there, it would wake the reactor again and again.
            error = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                counters.read_errors += 1
                self.log.warn(
                    "packet:{interface}: {error}",
                    interface=self.interface,
                    error=os.strerror(error),
                )
        if rings.losing:
            rings.losing = False
            counters.refresh()

    def _ring_frame(self, frame: memoryview, wire_len: int) -> None:
        counters = self.counters
        if wire_len > len(frame):
            counters.oversize += 1  # cut to fit the ring: not a frame any more
            return
        if frame[6:12] == self.mac:
            counters.own_dropped += 1
            return
        counters.received += 1
        counters.received_bytes += wire_len
        try:
            self.protocol.datagramReceived(frame, None)
        except Exception:
            counters.handler_errors += 1
            self.log.failure(
                "packet:{interface}: frame handler raised", interface=self.interface
            )

    def write(self, frame) -> None:
        """Send one whole frame (bytes, bytearray or memoryview)."""
        rings = self._rings
        if rings is None:
            self.counters.count_send(self._sock.send, frame)
            return
        if self._closed:
            raise OSError(errno.EBADF, f"packet port on {self.interface!r} is closed")
        try:
            queued = rings.put(frame)
            if not queued:
                self.flush()  # every slot in flight: push them out, try once more
                queued = rings.put(frame)
        except OSError:
            self.counters.send_errors += 1
            raise
        if not queued:
            self.counters.send_dropped += 1
            return
        if self._flush_call is None:
            self._flush_later()

    def tx_slot(self) -> memoryview | None:
        """With rings: the next transmit slot's frame area, for a writer to
        write one frame into in place (then ``commit``): the frame's one
        copy. ``None`` without rings, when closed or while the slot is the
        kernel's: ``write`` then."""
        rings = self._rings
        if rings is None or self._closed:
            return None
        return rings.slot()

    def commit(self, size: int) -> None:
        """Send the ``size``-byte frame written into ``tx_slot`` (as
        ``write`` would: with this reactor turn's flush)."""
        self._rings.commit(size)
        if self._flush_call is None:
            self._flush_later()

    def _flush_later(self) -> None:
        if self._reactor is None:
            self.flush()
        else:
            # At the end of this reactor turn: all it wrote, one syscall.
            self._flush_call = self._reactor.callLater(0, self.flush)

    def flush(self) -> None:
        """Send what ``write`` put into the transmit ring (rings only; the
        reactor calls this once per turn in which something was written)."""
        call, self._flush_call = self._flush_call, None
        if call is not None and call.active():
            call.cancel()
        rings = self._rings
        if rings is None or self._closed:
            return
        counters = self.counters
        try:
            frames, size = rings.flush()
        except OSError as error:
            unsent = getattr(error, "unsent", 0)
            if error.errno in (errno.EAGAIN, errno.ENOBUFS):
                counters.send_dropped += unsent
            else:
                counters.send_errors += unsent
            if not self._flush_failing:
                self.log.warn(
                    "packet:{interface}: sending failed, {unsent} frames lost: {error}",
                    interface=self.interface,
                    unsent=unsent,
                    error=error.strerror or error,
                )
            self._flush_failing = True
            return
        self._flush_failing = False
        counters.sent += frames
        counters.sent_bytes += size

    def stopListening(self) -> None:
        """Stop reading, close the socket and stop the protocol."""
        if self._closed:
            return
        if self._rings is not None:
            self.flush()
        self._closed = True
        if self._reader is not None:
            self._reader.stop()
        self.counters.refresh()
        self.counters._sock = None
        if self._rings is not None:
            self._rings.close()
        self._sock.close()
        if self.protocol is not None:
            self.protocol.doStop()

    def getHost(self) -> tuple[str, bytes]:
        return (self.interface, self.mac)
