"""Parsed messages: read-only views over a received buffer.

``parse`` follows docs/protocol.md §2, "several messages in one buffer":
control messages have a fixed length, a data message takes the rest, and
parsing stops at the first bytes that do not form a message. Views keep
memoryviews into the caller's buffer (``raw``, ``payload``): no copies.
A view is valid only while that buffer is not reused.
"""

from __future__ import annotations

import struct

from vanet.wire import format as fmt


class WireError(ValueError):
    """Bytes that do not form a message."""


class MessageView:
    """Fields common to every message."""

    __slots__ = ("dst", "src", "raw")
    kind: str = ""

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in type(self).__fields__
            if name not in ("raw", "payload")
        )
        return f"<{type(self).__name__} {fields}>"


class HeartbeatView(MessageView):
    __slots__ = ("duration_ms", "seq", "hops", "source")
    kind = "heartbeat"
    __fields__ = ("dst", "src", "duration_ms", "seq", "hops", "source")


class HeartbeatReplyView(MessageView):
    __slots__ = ("duration_ms", "seq", "hops", "source", "sender")
    kind = "heartbeat_reply"
    __fields__ = ("dst", "src", "duration_ms", "seq", "hops", "source", "sender")


class UpstreamView(MessageView):
    __slots__ = ("origin", "payload")
    kind = "upstream"
    __fields__ = ("dst", "src", "origin", "payload")


class DownstreamView(MessageView):
    __slots__ = ("origin", "destination", "payload")
    kind = "downstream"
    __fields__ = ("dst", "src", "origin", "destination", "payload")


_unpack_heartbeat = fmt.HEARTBEAT_FRAME.unpack_from
_unpack_reply = fmt.HEARTBEAT_REPLY_FRAME.unpack_from
_unpack_upstream = fmt.UPSTREAM_FIXED.unpack_from
_unpack_downstream = fmt.DOWNSTREAM_FIXED.unpack_from
# Marker, type and subtype read as one u32: one unpack picks the message
# kind, where four single-byte reads and compares cost twice as much.
_unpack_tag = struct.Struct("!12xI").unpack_from
_TAG_HEARTBEAT = 0x30300000
_TAG_REPLY = 0x30300001
_TAG_UPSTREAM = 0x30300100
_TAG_DOWNSTREAM = 0x30300101
_HEADER_LEN = fmt.HEADER_LEN
_HB_LEN = fmt.HEARTBEAT_LEN
_REPLY_LEN = fmt.HEARTBEAT_REPLY_LEN
_UP_LEN = fmt.UPSTREAM_FIXED_LEN
_DOWN_LEN = fmt.DOWNSTREAM_FIXED_LEN


def _bad_tag(mv: memoryview, offset: int) -> WireError:
    """Say what is wrong with a header no message kind matched."""
    marker = bytes(mv[offset + 12 : offset + 14])
    ptype, subtype = mv[offset + 14], mv[offset + 15]
    if marker != fmt.MARKER_BYTES:
        return WireError(f"bad marker {marker.hex()} at offset {offset + 12}")
    if ptype == fmt.CONTROL:
        return WireError(f"unknown control subtype {subtype}")
    if ptype == fmt.DATA:
        return WireError(f"unknown data subtype {subtype}")
    return WireError(f"unknown packet type {ptype}")


def parse_one(mv: memoryview, offset: int = 0) -> tuple[MessageView, int]:
    """Parse the message starting at ``offset``; return it and the offset
    just after it. Raise ``WireError`` if the bytes there are no message."""
    end = len(mv)
    if end - offset < _HEADER_LEN:
        raise WireError(
            f"{end - offset} bytes at offset {offset}: shorter than the 16-byte header"
        )
    (tag,) = _unpack_tag(mv, offset)
    if tag == _TAG_UPSTREAM:
        if offset + _UP_LEN > end:
            raise WireError("truncated upstream: needs a 6-byte origin")
        view = UpstreamView()
        view.dst, view.src, _, _, _, view.origin = _unpack_upstream(mv, offset)
        view.payload = mv[offset + _UP_LEN : end]
        stop = end
    elif tag == _TAG_DOWNSTREAM:
        if offset + _DOWN_LEN > end:
            raise WireError("truncated downstream: needs origin and destination")
        view = DownstreamView()
        (view.dst, view.src, _, _, _, view.origin, view.destination) = (
            _unpack_downstream(mv, offset)
        )
        view.payload = mv[offset + _DOWN_LEN : end]
        stop = end
    elif tag == _TAG_HEARTBEAT:
        stop = offset + _HB_LEN
        if stop > end:
            raise WireError("truncated heartbeat: needs 30 bytes after the header")
        view = HeartbeatView()
        (view.dst, view.src, _, _, _, hi, lo, view.seq, view.hops, view.source) = (
            _unpack_heartbeat(mv, offset)
        )
        view.duration_ms = (hi << 64) | lo
    elif tag == _TAG_REPLY:
        stop = offset + _REPLY_LEN
        if stop > end:
            raise WireError(
                "truncated heartbeat reply: needs 36 bytes after the header"
            )
        view = HeartbeatReplyView()
        (
            view.dst,
            view.src,
            _,
            _,
            _,
            hi,
            lo,
            view.seq,
            view.hops,
            view.source,
            view.sender,
        ) = _unpack_reply(mv, offset)
        view.duration_ms = (hi << 64) | lo
    else:
        raise _bad_tag(mv, offset)
    # A lone message (the usual case) is the whole buffer: no slice needed.
    view.raw = mv[offset:stop] if offset or stop != end else mv
    return view, stop


def parse(buf: bytes | bytearray | memoryview) -> list[MessageView]:
    """All messages in one received buffer, in order. Never raises on bad
    input: parsing stops at the first bytes that form no message."""
    mv = buf if type(buf) is memoryview else memoryview(buf)
    messages = []
    offset = 0
    end = len(mv)
    try:
        while offset < end:
            view, offset = parse_one(mv, offset)
            messages.append(view)
    except WireError:
        pass
    except (TypeError, ValueError, IndexError):
        # e.g. a multi-dimensional or non-byte memoryview: not a frame.
        pass
    return messages
