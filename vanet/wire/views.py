"""Parsed messages: read-only views over a received buffer.

``parse`` follows PROTOCOL.md section 2, "several messages in one buffer":
control messages have a fixed length, a data message takes the rest, and
parsing stops at the first bytes that do not form a message. Views keep
memoryviews into the caller's buffer (``raw``, ``payload``): no copies.
A view is valid only while that buffer is not reused.
"""

from __future__ import annotations

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
_new = object.__new__


def parse_one(mv: memoryview, offset: int = 0) -> tuple[MessageView, int]:
    """Parse the message starting at ``offset``; return it and the offset
    just after it. Raise ``WireError`` if the bytes there are no message."""
    end = len(mv)
    if end - offset < fmt.HEADER_LEN:
        raise WireError(
            f"{end - offset} bytes at offset {offset}: shorter than the 16-byte header"
        )
    if mv[offset + 12] != 0x30 or mv[offset + 13] != 0x30:
        raise WireError(
            f"bad marker {bytes(mv[offset + 12 : offset + 14]).hex()} at offset {offset + 12}"
        )
    ptype = mv[offset + 14]
    subtype = mv[offset + 15]
    if ptype == fmt.CONTROL:
        if subtype == fmt.HEARTBEAT:
            stop = offset + fmt.HEARTBEAT_LEN
            if stop > end:
                raise WireError("truncated heartbeat: needs 30 bytes after the header")
            view = _new(HeartbeatView)
            (view.dst, view.src, _, _, _, hi, lo, view.seq, view.hops, view.source) = (
                _unpack_heartbeat(mv, offset)
            )
            view.duration_ms = (hi << 64) | lo
        elif subtype == fmt.HEARTBEAT_REPLY:
            stop = offset + fmt.HEARTBEAT_REPLY_LEN
            if stop > end:
                raise WireError(
                    "truncated heartbeat reply: needs 36 bytes after the header"
                )
            view = _new(HeartbeatReplyView)
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
            raise WireError(f"unknown control subtype {subtype}")
    elif ptype == fmt.DATA:
        stop = end
        if subtype == fmt.UPSTREAM:
            if offset + fmt.UPSTREAM_FIXED_LEN > end:
                raise WireError("truncated upstream: needs a 6-byte origin")
            view = _new(UpstreamView)
            view.dst, view.src, _, _, _, view.origin = _unpack_upstream(mv, offset)
            view.payload = mv[offset + fmt.UPSTREAM_FIXED_LEN : end]
        elif subtype == fmt.DOWNSTREAM:
            if offset + fmt.DOWNSTREAM_FIXED_LEN > end:
                raise WireError("truncated downstream: needs origin and destination")
            view = _new(DownstreamView)
            (view.dst, view.src, _, _, _, view.origin, view.destination) = (
                _unpack_downstream(mv, offset)
            )
            view.payload = mv[offset + fmt.DOWNSTREAM_FIXED_LEN : end]
        else:
            raise WireError(f"unknown data subtype {subtype}")
    else:
        raise WireError(f"unknown packet type {ptype}")
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
