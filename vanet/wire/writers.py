"""Zero-copy writers: each writes one whole frame at offset 0 of a reused
``bytearray`` and returns its length.

The buffer grows only when too small; callers send ``memoryview(buf)[:n]``
(or ``buf[:n]``) and must release such views before the next write. Fields
that a relay copies (a heartbeat body, a payload) are copied straight from
the received buffer's memoryview, and only the changed bytes are patched.
"""

from __future__ import annotations

from vanet.mac import BROADCAST
from vanet.wire import format as fmt

_pack_heartbeat = fmt.HEARTBEAT_FRAME.pack_into
_pack_upstream = fmt.UPSTREAM_FIXED.pack_into
_pack_downstream = fmt.DOWNSTREAM_FIXED.pack_into
_pack_hops = fmt.HOPS.pack_into
_MASK64 = (1 << 64) - 1
_MARKER = fmt.MARKER
_CONTROL, _DATA = fmt.CONTROL, fmt.DATA
_UPSTREAM, _DOWNSTREAM = fmt.UPSTREAM, fmt.DOWNSTREAM
_HB_LEN = fmt.HEARTBEAT_LEN
_REPLY_LEN = fmt.HEARTBEAT_REPLY_LEN
_UP_LEN = fmt.UPSTREAM_FIXED_LEN
_DOWN_LEN = fmt.DOWNSTREAM_FIXED_LEN
_REPLY_TYPE = b"\x30\x30" + fmt.TYPE_BYTES["heartbeat_reply"]


def _grow(buf: bytearray, n: int) -> None:
    buf.extend(bytes(n - len(buf)))


def write_heartbeat(
    buf: bytearray, src: bytes, duration_ms: int, seq: int, hops: int, source: bytes
) -> int:
    """A heartbeat from ``src``; ``hops`` as held (the wire carries hops + 1)."""
    if len(buf) < _HB_LEN:
        _grow(buf, _HB_LEN)
    _pack_heartbeat(
        buf,
        0,
        BROADCAST,
        src,
        _MARKER,
        _CONTROL,
        0,
        duration_ms >> 64,
        duration_ms & _MASK64,
        seq,
        hops + 1,
        source,
    )
    return _HB_LEN


def write_heartbeat_forward(buf: bytearray, hb, src: bytes) -> int:
    """Rebroadcast a received heartbeat view: dst broadcast, src, hops + 1."""
    if len(buf) < _HB_LEN:
        _grow(buf, _HB_LEN)
    buf[:_HB_LEN] = hb.raw
    buf[:12] = BROADCAST + src
    _pack_hops(buf, 36, hb.hops + 1)
    return _HB_LEN


def write_heartbeat_reply(
    buf: bytearray, hb, sender: bytes, src: bytes, dst: bytes
) -> int:
    """Answer a received heartbeat view; hops copied unchanged."""
    if len(buf) < _REPLY_LEN:
        _grow(buf, _REPLY_LEN)
    buf[:16] = dst + src + _REPLY_TYPE
    buf[16:46] = hb.raw[16:46]
    buf[46:52] = sender
    return _REPLY_LEN


def write_upstream(
    buf: bytearray, origin: bytes, payload, src: bytes, dst: bytes
) -> int:
    """Tunnel ``payload`` (an inner frame, or its encryption) toward the RSU."""
    n = _UP_LEN + len(payload)
    if len(buf) < n:
        _grow(buf, n)
    _pack_upstream(buf, 0, dst, src, _MARKER, _DATA, _UPSTREAM, origin)
    buf[_UP_LEN:n] = payload
    return n


def write_upstream_forward(buf: bytearray, up, src: bytes, dst: bytes) -> int:
    """Relay a received upstream view unchanged but for dst and src."""
    raw = up.raw
    n = len(raw)
    if len(buf) < n:
        _grow(buf, n)
    buf[:n] = raw
    buf[:12] = dst + src
    return n


def write_downstream(
    buf: bytearray, origin: bytes, destination: bytes, payload, src: bytes, dst: bytes
) -> int:
    """Send ``payload`` down toward the vehicle ``destination``."""
    n = _DOWN_LEN + len(payload)
    if len(buf) < n:
        _grow(buf, n)
    _pack_downstream(buf, 0, dst, src, _MARKER, _DATA, _DOWNSTREAM, origin, destination)
    buf[_DOWN_LEN:n] = payload
    return n


def write_downstream_forward(buf: bytearray, down, src: bytes, dst: bytes) -> int:
    """Relay a received downstream view unchanged but for dst and src."""
    raw = down.raw
    n = len(raw)
    if len(buf) < n:
        _grow(buf, n)
    buf[:n] = raw
    buf[:12] = dst + src
    return n


WRITERS = {
    "heartbeat": write_heartbeat,
    "heartbeat_forward": write_heartbeat_forward,
    "heartbeat_reply": write_heartbeat_reply,
    "upstream": write_upstream,
    "upstream_forward": write_upstream_forward,
    "downstream": write_downstream,
    "downstream_forward": write_downstream_forward,
}
