"""Zero-copy writers: each writes one whole frame at offset 0 of a reused
``bytearray`` and returns its length.

The buffer grows only when too small; callers send ``memoryview(buf)[:n]``
(or ``buf[:n]``) and must release such views before the next write. A
relayed data frame or signed reply is copied straight from the received
buffer's memoryview and only its addresses are patched; a relayed
heartbeat (signed or not) or a reply is packed from the received view's
fields.

MAC arguments must be 6-byte ``bytes``, hashes 32-byte and signatures
64-byte ``bytes``; the writers do not check them (the hot path trusts its
callers; configuration validates MACs at the edge, and the hashes and
signatures come from ``vanet.identity`` or from a parsed view).
"""

from __future__ import annotations

import struct

from vanet.mac import BROADCAST
from vanet.wire.layouts import (
    ADDRESSES_FORMAT,
    DOWNSTREAM,
    HEARTBEAT,
    HEARTBEAT_REPLY,
    SIGNED_HEARTBEAT,
    SIGNED_HEARTBEAT_REPLY,
    UPSTREAM,
)

# Why it looks like this: on CPython one ``pack_into`` with a precompiled
# Struct costs about as much as one bytearray slice assignment, and each
# extra slice, concatenation or attribute lookup costs about as much again.
# So every writer does as few buffer operations as it can: the fixed fields
# of a message go in one ``pack_into``, and a relayed frame is one slice
# copy plus one ``pack_into`` for the two addresses. The Structs, lengths
# and tags come from the declarations in ``vanet.wire.layouts``, bound to
# module globals here so a write looks none of them up.

# The marker and the type bytes as one 4-byte field: one argument, not three.
_HEARTBEAT_TYPE = HEARTBEAT.tag_bytes
_REPLY_TYPE = HEARTBEAT_REPLY.tag_bytes
_UPSTREAM_TYPE = UPSTREAM.tag_bytes
_DOWNSTREAM_TYPE = DOWNSTREAM.tag_bytes
_SIGNED_HEARTBEAT_TYPE = SIGNED_HEARTBEAT.tag_bytes
_SIGNED_REPLY_TYPE = SIGNED_HEARTBEAT_REPLY.tag_bytes

_pack_heartbeat = HEARTBEAT.pack.pack_into
_pack_reply = HEARTBEAT_REPLY.pack.pack_into
_pack_upstream_head = UPSTREAM.pack.pack_into
_pack_downstream_head = DOWNSTREAM.pack.pack_into
_pack_signed_heartbeat = SIGNED_HEARTBEAT.pack.pack_into
_pack_signed_reply = SIGNED_HEARTBEAT_REPLY.pack.pack_into
_pack_addresses = struct.Struct("!" + ADDRESSES_FORMAT).pack_into
_MASK64 = (1 << 64) - 1  # a U128 field goes as two u64 halves
_HB_LEN = HEARTBEAT.size
_REPLY_LEN = HEARTBEAT_REPLY.size
_UP_LEN = UPSTREAM.size
_DOWN_LEN = DOWNSTREAM.size
_SIGNED_HB_LEN = SIGNED_HEARTBEAT.size
_SIGNED_REPLY_LEN = SIGNED_HEARTBEAT_REPLY.size
_UP_FORMAT = UPSTREAM.pack.format
_DOWN_FORMAT = DOWNSTREAM.pack.format

# Whole data frames (fixed part and payload) in one pack_into, with one
# compiled Struct per payload length. Frames come in few distinct sizes,
# but the cache is bounded anyway so odd traffic cannot grow it forever.
_WHOLE_CACHE_MAX = 4096
_whole_upstream: dict[int, object] = {}
_whole_downstream: dict[int, object] = {}


def _whole(cache: dict, fixed: str, n: int):
    if len(cache) >= _WHOLE_CACHE_MAX:
        cache.clear()
    pack = cache[n] = struct.Struct(f"{fixed}{n}s").pack_into
    return pack


def _grow(buf: bytearray, n: int) -> None:
    buf.extend(bytes(n - len(buf)))


def write_heartbeat(
    buf: bytearray, src: bytes, duration_ms: int, seq: int, hops: int, source: bytes
) -> int:
    """A heartbeat from ``src`` carrying ``hops`` exactly as given (an RSU
    sends 1, a relay what it received + 1: docs/protocol.md §2)."""
    if len(buf) < _HB_LEN:
        _grow(buf, _HB_LEN)
    _pack_heartbeat(
        buf,
        0,
        BROADCAST,
        src,
        _HEARTBEAT_TYPE,
        duration_ms >> 64,
        duration_ms & _MASK64,
        seq,
        hops,
        source,
    )
    return _HB_LEN


def write_heartbeat_forward(buf: bytearray, hb, src: bytes, hops: int) -> int:
    """Rebroadcast a received heartbeat view: dst broadcast, ``src``, and
    ``hops`` as given (the relay passes ``hb.hops + 1``)."""
    return write_heartbeat(buf, src, hb.duration_ms, hb.seq, hops, hb.source)


def write_heartbeat_reply(
    buf: bytearray, hb, sender: bytes, src: bytes, dst: bytes
) -> int:
    """Answer a received heartbeat view; hops copied unchanged."""
    if len(buf) < _REPLY_LEN:
        _grow(buf, _REPLY_LEN)
    # The view's fields already hold the body: packing them is cheaper than
    # slicing hb.raw and patching the header around it.
    duration_ms = hb.duration_ms
    _pack_reply(
        buf,
        0,
        dst,
        src,
        _REPLY_TYPE,
        duration_ms >> 64,
        duration_ms & _MASK64,
        hb.seq,
        hb.hops,
        hb.source,
        sender,
    )
    return _REPLY_LEN


def write_upstream(
    buf: bytearray, origin: bytes, payload, src: bytes, dst: bytes
) -> int:
    """Tunnel ``payload`` (an inner frame, or its encryption) toward the RSU."""
    size = len(payload)
    n = _UP_LEN + size
    if len(buf) < n:
        _grow(buf, n)
    pack = _whole_upstream.get(size) or _whole(_whole_upstream, _UP_FORMAT, size)
    try:
        pack(buf, 0, dst, src, _UPSTREAM_TYPE, origin, payload)
    except struct.error:
        # struct's "s" takes bytes and bytearray only: copy other buffers
        # (a memoryview into a received frame) with a slice assignment.
        _pack_upstream_head(buf, 0, dst, src, _UPSTREAM_TYPE, origin)
        buf[_UP_LEN:n] = payload
    return n


def write_data_forward(buf: bytearray, view, src: bytes, dst: bytes) -> int:
    """Relay a received data message (upstream or downstream view)
    unchanged but for dst and src: one copy, one 12-byte patch."""
    raw = view.raw
    n = len(raw)
    if len(buf) < n:
        _grow(buf, n)
    buf[:n] = raw
    _pack_addresses(buf, 0, dst, src)
    return n


# Relaying is the same for both directions; the registry keeps both kinds.
write_upstream_forward = write_data_forward
write_downstream_forward = write_data_forward


def write_downstream(
    buf: bytearray, origin: bytes, destination: bytes, payload, src: bytes, dst: bytes
) -> int:
    """Send ``payload`` down toward the vehicle ``destination``."""
    size = len(payload)
    n = _DOWN_LEN + size
    if len(buf) < n:
        _grow(buf, n)
    pack = _whole_downstream.get(size) or _whole(_whole_downstream, _DOWN_FORMAT, size)
    try:
        pack(buf, 0, dst, src, _DOWNSTREAM_TYPE, origin, destination, payload)
    except struct.error:
        # struct's "s" takes bytes and bytearray only: copy other buffers
        # (a memoryview into a received frame) with a slice assignment.
        _pack_downstream_head(buf, 0, dst, src, _DOWNSTREAM_TYPE, origin, destination)
        buf[_DOWN_LEN:n] = payload
    return n


# The signed forms (docs/protocol.md §2.7). The writers carry the hash
# chain values and signatures they are given; computing and checking them
# is vanet.auth's (with vanet.identity's primitives).


def write_signed_heartbeat(
    buf: bytearray,
    src: bytes,
    duration_ms: int,
    seq: int,
    hops: int,
    source: bytes,
    chain_length: int,
    top_hash: bytes,
    hop_hash: bytes,
    signature: bytes,
) -> int:
    """A signed heartbeat from ``src``, broadcast, ``hops`` as given (an RSU
    sends 1 with the first hop's hash, a relay uses the forward writer)."""
    if len(buf) < _SIGNED_HB_LEN:
        _grow(buf, _SIGNED_HB_LEN)
    _pack_signed_heartbeat(
        buf,
        0,
        BROADCAST,
        src,
        _SIGNED_HEARTBEAT_TYPE,
        duration_ms >> 64,
        duration_ms & _MASK64,
        seq,
        hops,
        source,
        chain_length,
        top_hash,
        hop_hash,
        signature,
    )
    return _SIGNED_HB_LEN


def write_signed_heartbeat_forward(
    buf: bytearray, hb, src: bytes, hops: int, hop_hash: bytes
) -> int:
    """Rebroadcast a received signed heartbeat view: dst broadcast, ``src``,
    ``hops`` and ``hop_hash`` as given (the relay passes ``hb.hops + 1`` and
    the next hash of the chain); every other field as received."""
    if len(buf) < _SIGNED_HB_LEN:
        _grow(buf, _SIGNED_HB_LEN)
    # Every byte of the frame is a field of the view, so one pack of them
    # is the whole frame: a quarter cheaper than copying hb.raw and then
    # patching the addresses, hops and hop_hash with three more writes.
    duration_ms = hb.duration_ms
    _pack_signed_heartbeat(
        buf,
        0,
        BROADCAST,
        src,
        _SIGNED_HEARTBEAT_TYPE,
        duration_ms >> 64,
        duration_ms & _MASK64,
        hb.seq,
        hops,
        hb.source,
        hb.chain_length,
        hb.top_hash,
        hop_hash,
        hb.signature,
    )
    return _SIGNED_HB_LEN


def write_signed_heartbeat_reply(
    buf: bytearray,
    hb,
    sender: bytes,
    hop_hash: bytes,
    signature: bytes,
    src: bytes,
    dst: bytes,
) -> int:
    """Answer a received signed heartbeat view: its duration, seq, hops
    (unchanged) and source, then ``sender``, the ``hop_hash`` the sender
    received and the sender's ``signature``."""
    if len(buf) < _SIGNED_REPLY_LEN:
        _grow(buf, _SIGNED_REPLY_LEN)
    duration_ms = hb.duration_ms
    _pack_signed_reply(
        buf,
        0,
        dst,
        src,
        _SIGNED_REPLY_TYPE,
        duration_ms >> 64,
        duration_ms & _MASK64,
        hb.seq,
        hb.hops,
        hb.source,
        sender,
        hop_hash,
        signature,
    )
    return _SIGNED_REPLY_LEN


# Relaying a signed reply changes only dst and src, like a data frame: the
# same one copy and one patch, so the signed bytes go on exactly as received.
write_signed_heartbeat_reply_forward = write_data_forward


WRITERS = {
    "heartbeat": write_heartbeat,
    "heartbeat_forward": write_heartbeat_forward,
    "heartbeat_reply": write_heartbeat_reply,
    "upstream": write_upstream,
    "upstream_forward": write_upstream_forward,
    "downstream": write_downstream,
    "downstream_forward": write_downstream_forward,
    "signed_heartbeat": write_signed_heartbeat,
    "signed_heartbeat_forward": write_signed_heartbeat_forward,
    "signed_heartbeat_reply": write_signed_heartbeat_reply,
    "signed_heartbeat_reply_forward": write_signed_heartbeat_reply_forward,
}
