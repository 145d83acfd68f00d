"""PACKET_MMAP rings on an AF_PACKET socket, no reactor.

Receive: the kernel writes each arriving frame into the receive ring and
marks it ours; one wake-up then takes every frame that is there.
``PacketRings.drain`` walks them in place (a read-only ``memoryview`` of
each frame's bytes in the ring, no copy) and gives each slot back to the
kernel once its frame was handled, so a frame's view is valid only during
the call it is handed to. Two formats: ``TPACKET_V2`` (the default) has one
fixed-size slot a frame and wakes the reader per frame; ``TPACKET_V3`` packs
frames into blocks and hands a block over when it is full or
``RETIRE_TOV_MS`` after its first frame, so under light load every frame
waits for that timeout at every ring on its way (``DEFAULT_VERSION`` says
what that cost in the benchmark).

Transmit: ``put`` copies a frame into the next free slot of the transmit
ring and marks it for sending (or a writer writes the frame into ``slot``
in place and ``commit`` marks it: no copy of its own); ``flush`` has the
kernel send every marked slot with one system call.

Geometry (``RingGeometry.for_mtu``) follows the interface's MTU: a receive
slot (V3: block) and a transmit slot hold one frame of that MTU. A frame
larger than that (the MTU was raised after the rings were made) arrives
cut short: ``drain`` reports it so the port drops and counts it.

The kernel keeps the count of frames it dropped because the receive ring
was full (``PACKET_STATISTICS``, reset on each read): ``kernel_drops``.
Layouts are those of ``<linux/if_packet.h>``.
"""

from __future__ import annotations

import errno
import mmap
import socket
import struct
from collections.abc import Callable

import attrs

SOL_PACKET = getattr(socket, "SOL_PACKET", 263)
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_TX_RING = 13
PACKET_LOSS = 14
TPACKET_V2 = 1
TPACKET_V3 = 2

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_LOSING = 4
TP_STATUS_AVAILABLE = 0
TP_STATUS_SEND_REQUEST = 1
# SEND_REQUEST | SENDING | WRONG_FORMAT: the slot is not ours to fill
_TX_BUSY = 0x7

# struct tpacket_req3: block_size, block_nr, frame_size, frame_nr,
# retire_blk_tov, sizeof_priv, feature_req_word.
_REQ3 = struct.Struct("=7I")
# struct tpacket_block_desc (hdr.bh1): block_status, num_pkts,
# offset_to_first_pkt, blk_len, at offset 8.
_BLOCK = struct.Struct("=8xIIII")
_BLOCK_STATUS = 8
# struct tpacket3_hdr: tp_next_offset, (sec, nsec), tp_snaplen, tp_len,
# (status), tp_mac.
_FRAME = struct.Struct("=I8xII4xH")
# struct tpacket2_hdr: tp_status, tp_len, tp_snaplen, tp_mac.
_V2_FRAME = struct.Struct("=IIIH")
# Room in a V2 slot before a frame's bytes (tp_mac for SOCK_RAW: 66).
_V2_RX_OVERHEAD = 96
_U32 = struct.Struct("=I")
# A transmit slot, by version: where tp_len and tp_status are, and where the
# frame starts (TPACKETn_HDRLEN minus sizeof(struct sockaddr_ll)).
_TX_LEN_AT = {TPACKET_V2: 4, TPACKET_V3: 16}
_TX_STATUS_AT = {TPACKET_V2: 0, TPACKET_V3: 20}
_TX_DATA = {TPACKET_V2: 32, TPACKET_V3: 48}
# struct tpacket_stats_v3: tp_packets, tp_drops, tp_freeze_q_cnt.
_STATS = struct.Struct("=III")

#: The ring format: V2 hands each frame over the moment it arrived (one
#: wake-up still takes all that are there); V3 hands over whole blocks, when
#: full or after ``RETIRE_TOV_MS``, which a lone frame waits for at every
#: ring on its way (about +1 ms a hop measured, see benchmarks/README.md).
DEFAULT_VERSION = TPACKET_V2
#: How long a receive block with frames may wait before the kernel hands it
#: over anyway (ms, the kernel's smallest): the latency a lone frame pays.
RETIRE_TOV_MS = 1
#: Receive ring size: the same memory as the socket receive buffer we ask for.
RX_RING_BYTES = 4 * 1024 * 1024
#: Transmit slots: at least one reactor turn's worth of frames (a TAP reader
#: hands up to 256 a wake-up).
TX_SLOTS = 512

_PAGE = mmap.PAGESIZE
# Room in a receive block before a frame's bytes: the block descriptor (48)
# and the frame header with its alignment (up to 96 for SOCK_RAW).
_RX_OVERHEAD = 48 + 96 + 16


class RingError(OSError):
    """The kernel refused the rings (``[link] io = ring``)."""


def _pow2_at_least(n: int) -> int:
    size = 1
    while size < n:
        size <<= 1
    return size


@attrs.frozen
class RingGeometry:
    """Sizes of the two rings, in bytes, for one ring ``version``."""

    version: int
    rx_block_size: int
    rx_block_nr: int
    rx_frame_size: int  # a V2 slot; V3 frames take what they need in a block
    tx_frame_size: int
    tx_frame_nr: int

    @classmethod
    def for_mtu(cls, frame_max: int, version: int = TPACKET_V2) -> RingGeometry:
        """Rings for frames of at most ``frame_max`` bytes (link header
        included)."""
        if version == TPACKET_V3:
            rx_block = max(64 * 1024, _pow2_at_least(frame_max + _RX_OVERHEAD))
            rx_frame = 2048  # checked by the kernel, not used by V3
        else:
            rx_frame = max(2048, _pow2_at_least(frame_max + _V2_RX_OVERHEAD))
            rx_block = max(64 * 1024, rx_frame)
        tx_frame = max(2048, _pow2_at_least(frame_max + _TX_DATA[version]))
        return cls(
            version=version,
            rx_block_size=rx_block,
            rx_block_nr=max(4, RX_RING_BYTES // rx_block),
            rx_frame_size=rx_frame,
            tx_frame_size=tx_frame,
            tx_frame_nr=TX_SLOTS,
        )

    @property
    def rx_bytes(self) -> int:
        return self.rx_block_size * self.rx_block_nr

    @property
    def rx_frame_nr(self) -> int:
        return self.rx_bytes // self.rx_frame_size

    @property
    def tx_block_size(self) -> int:
        return max(self.tx_frame_size, _PAGE)

    @property
    def tx_bytes(self) -> int:
        return self.tx_frame_size * self.tx_frame_nr

    @property
    def frame_max(self) -> int:
        """The largest frame both rings carry whole."""
        if self.version == TPACKET_V3:
            rx = self.rx_block_size - _RX_OVERHEAD
        else:
            rx = self.rx_frame_size - _V2_RX_OVERHEAD
        return min(rx, self.tx_frame_size - _TX_DATA[self.version])


def kernel_drops(sock: socket.socket) -> int:
    """Frames the kernel dropped for ``sock`` since the last call (the ring
    or the receive buffer was full). Reading resets the kernel's count."""
    raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size)
    if len(raw) >= 8:  # TPACKET_V1/V2 sockets answer with 8 bytes
        return struct.unpack_from("=II", raw)[1]
    return 0


class PacketRings:
    """A receive and a transmit ring on one bound AF_PACKET socket.

    ``setup`` raises ``OSError`` when the kernel refuses (no PACKET_MMAP,
    memory): the caller may go on with plain socket I/O, since nothing of
    the rings stays on the socket then.
    """

    def __init__(self, sock: socket.socket, geometry: RingGeometry) -> None:
        self._sock = sock
        self.geometry = geometry
        self._map: mmap.mmap | None = None
        self._rw: memoryview | None = None
        self._ro: memoryview | None = None
        # receive cursor: V2 the next slot; V3 the block we are in, frames
        # left in it and the next frame
        self._slot = 0
        self._block = 0
        self._left = 0
        self._at = 0
        self._block_end = 0
        # transmit: where a slot's fields are; next slot to fill; slots
        # filled since the flush
        self._tx_len_at = _TX_LEN_AT[geometry.version]
        self._tx_status_at = _TX_STATUS_AT[geometry.version]
        self._tx_data = _TX_DATA[geometry.version]
        self._tx_head = 0
        self._tx_pending = 0
        self._tx_pending_bytes = 0
        # each transmit slot's frame area, writable (``slot``); made once
        self._tx_slots: list[memoryview] = []
        # where each transmit slot's status and length words are: computed
        # once, not from the geometry (a property) at every frame
        self._tx_status: list[int] = []
        self._tx_len: list[int] = []
        self._tx_nr = geometry.tx_frame_nr
        #: a frame or block said the kernel dropped frames: read ``kernel_drops``
        self.losing = False
        self.drain = (
            self._drain_v3 if geometry.version == TPACKET_V3 else self._drain_v2
        )

    @classmethod
    def setup(
        cls, sock: socket.socket, frame_max: int, version: int | None = None
    ) -> PacketRings:
        """Rings for frames of ``frame_max`` bytes, ``DEFAULT_VERSION``
        unless ``version`` says otherwise."""
        version = DEFAULT_VERSION if version is None else version
        rings = cls(sock, RingGeometry.for_mtu(frame_max, version))
        rings._set_up()
        return rings

    def _set_up(self) -> None:
        g = self.geometry
        sock = self._sock
        # Both options are refused (EBUSY) once a ring exists.
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, g.version)
        # A slot the kernel cannot send is skipped, not a stuck ring.
        sock.setsockopt(SOL_PACKET, PACKET_LOSS, 1)
        tov = RETIRE_TOV_MS if g.version == TPACKET_V3 else 0
        rx = _REQ3.pack(
            g.rx_block_size, g.rx_block_nr, g.rx_frame_size, g.rx_frame_nr, tov, 0, 0
        )
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, rx)
        tx_block = g.tx_block_size
        tx = _REQ3.pack(
            tx_block, g.tx_bytes // tx_block, g.tx_frame_size, g.tx_frame_nr, 0, 0, 0
        )
        sock.setsockopt(SOL_PACKET, PACKET_TX_RING, tx)
        size = g.rx_bytes + g.tx_bytes
        self._map = mmap.mmap(
            sock.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
        )
        self._rw = memoryview(self._map)
        # Frames are handed up read-only: a handler cannot scribble on the ring.
        self._ro = self._rw.toreadonly()
        self._block_end = g.rx_block_size
        data, size = self._tx_data, g.tx_frame_size
        starts = range(g.rx_bytes, g.rx_bytes + g.tx_bytes, size)
        self._tx_slots = [self._rw[at + data : at + size] for at in starts]
        self._tx_status = [at + self._tx_status_at for at in starts]
        self._tx_len = [at + self._tx_len_at for at in starts]

    # -- receive -----------------------------------------------------------

    # drain(deliver, limit) -> int, set per version in __init__:
    #: Hand up to ``limit`` received frames to ``deliver(view, wire_len)`` in
    #: arrival order and return how many. ``wire_len`` > ``len(view)`` means
    #: the frame was cut to fit the ring. ``deliver`` must not raise; the
    #: view is valid only during the call.
    drain: Callable[[Callable[[memoryview, int], object], int], int]

    def _drain_v2(
        self, deliver: Callable[[memoryview, int], object], limit: int
    ) -> int:
        ro = self._ro
        if ro is None:
            return 0
        rw = self._rw
        size = self.geometry.rx_frame_size
        slots = self.geometry.rx_frame_nr
        slot = self._slot
        header = _V2_FRAME.unpack_from
        count = 0
        while count < limit:
            base = slot * size
            status, wire_len, snaplen, mac = header(ro, base)
            if not status & TP_STATUS_USER:
                break  # the kernel's: nothing more arrived
            if status & TP_STATUS_LOSING:
                self.losing = True
            slot = self._slot = (slot + 1) % slots
            start = base + mac
            end = start + snaplen
            if end <= base + size:
                deliver(ro[start:end], wire_len)
                count += 1
                if self._rw is None:
                    return count  # the handler closed the port
            _U32.pack_into(rw, base, TP_STATUS_KERNEL)  # the slot back
        return count

    def _drain_v3(
        self, deliver: Callable[[memoryview, int], object], limit: int
    ) -> int:
        ro = self._ro
        if ro is None:
            return 0
        rw = self._rw
        block_size = self.geometry.rx_block_size
        block_nr = self.geometry.rx_block_nr
        frame_header = _FRAME.unpack_from
        count = 0
        while count < limit:
            if self._left == 0:
                base = self._block * block_size
                status, num, first, _ = _BLOCK.unpack_from(ro, base)
                if not status & TP_STATUS_USER:
                    break  # the kernel still fills it
                if status & TP_STATUS_LOSING:
                    self.losing = True
                if num == 0 or not 0 < first < block_size:
                    self._release(rw, base, block_nr)
                    continue
                self._left = num
                self._at = base + first
                self._block_end = base + block_size
            at = self._at
            next_offset, snaplen, wire_len, mac = frame_header(ro, at)
            start = at + mac
            end = start + snaplen
            if end <= self._block_end:
                deliver(ro[start:end], wire_len)
                count += 1
                if self._rw is None:
                    return count  # the handler closed the port
            self._left -= 1
            if self._left and next_offset and at + next_offset < self._block_end:
                self._at = at + next_offset
            else:
                self._left = 0
                self._release(rw, self._block * block_size, block_nr)
        return count

    def _release(self, rw: memoryview, base: int, block_nr: int) -> None:
        """Give the block back to the kernel and move on to the next."""
        _U32.pack_into(rw, base + _BLOCK_STATUS, TP_STATUS_KERNEL)
        self._left = 0
        self._block = (self._block + 1) % block_nr

    # -- transmit ------------------------------------------------------------

    @property
    def tx_pending(self) -> int:
        """Frames put and not flushed yet."""
        return self._tx_pending

    def put(self, frame) -> bool:
        """Copy one frame into the next free slot; ``False`` when every slot
        is still in the kernel's hands (the caller flushes and tries once
        more, or drops). Raises ``OSError(EMSGSIZE)`` for a frame larger
        than a slot."""
        size = len(frame)
        if size > self.geometry.tx_frame_size - self._tx_data:
            raise OSError(errno.EMSGSIZE, "frame larger than a transmit ring slot")
        slot = self.slot()
        if slot is None:
            return False
        slot[:size] = frame
        self.commit(size)
        return True

    def slot(self) -> memoryview | None:
        """The next free transmit slot's frame area, writable, for a frame
        written in place (then ``commit``): a relayed frame goes from its
        receive slot to its transmit slot with one copy. ``None`` when the
        slot is still the kernel's. Its length is the largest frame it
        holds."""
        rw = self._rw
        if rw is None:
            return None
        head = self._tx_head
        if _U32.unpack_from(rw, self._tx_status[head])[0] & _TX_BUSY:
            return None
        return self._tx_slots[head]

    def commit(self, size: int) -> None:
        """Mark the slot ``slot`` gave, holding a frame of ``size`` bytes,
        for sending at the next ``flush``."""
        rw = self._rw
        head = self._tx_head
        _U32.pack_into(rw, self._tx_len[head], size)
        # The status last: from here on the slot is the kernel's.
        _U32.pack_into(rw, self._tx_status[head], TP_STATUS_SEND_REQUEST)
        self._tx_head = (head + 1) % self._tx_nr
        self._tx_pending += 1
        self._tx_pending_bytes += size

    def flush(self) -> tuple[int, int]:
        """Have the kernel send every slot put since the last flush; return
        (frames, bytes) sent. On a refusal (``OSError``, e.g. ENETDOWN) the
        slots not sent are taken back and the error is raised with
        ``unsent`` (how many) set on it."""
        frames, size = self._tx_pending, self._tx_pending_bytes
        if not frames:
            return 0, 0
        self._tx_pending = self._tx_pending_bytes = 0
        try:
            self._sock.send(b"", socket.MSG_DONTWAIT)
        except OSError as error:
            error.unsent = self._take_back(frames)
            raise
        return frames, size

    def _take_back(self, frames: int) -> int:
        """After a failed send: the kernel stopped at the first slot still
        marked for sending; mark it and those after it free, and fill from
        there next (the kernel's own position). Returns how many."""
        g = self.geometry
        rw = self._rw
        status_at = self._tx_status_at
        first = (self._tx_head - frames) % g.tx_frame_nr
        for i in range(frames):
            index = (first + i) % g.tx_frame_nr
            slot = g.rx_bytes + index * g.tx_frame_size
            status = _U32.unpack_from(rw, slot + status_at)[0]
            if status & _TX_BUSY == TP_STATUS_SEND_REQUEST:
                for j in range(i, frames):
                    later = (first + j) % g.tx_frame_nr
                    at = g.rx_bytes + later * g.tx_frame_size + status_at
                    _U32.pack_into(rw, at, TP_STATUS_AVAILABLE)
                self._tx_head = index
                return frames - i
        return 0

    # -- life cycle ------------------------------------------------------------

    def close(self) -> None:
        """Unmap the rings (the socket is the caller's to close)."""
        views, self._ro, self._rw = (*self._tx_slots, self._ro, self._rw), None, None
        self._tx_slots = []
        for view in views:
            if view is not None:
                view.release()
        mapping, self._map = self._map, None
        if mapping is not None:
            try:
                mapping.close()
            except BufferError:
                # A handler kept a frame's view: the mapping goes with it.
                pass
