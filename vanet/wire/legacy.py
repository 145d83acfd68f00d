"""The legacy object-tree path: a message as nested attrs objects.

``Message -> ControlPacket | DataPacket -> Heartbeat | HeartbeatReply |
ToUpstream | ToDownstream``, each with ``to_bytes()``, written the
straightforward way such code usually is. It is kept because plugins and
tools built on it still exist; the zero-copy writers replace it on the hot
path and must stay byte-identical to it.
"""

from __future__ import annotations

import attrs

from vanet.mac import BROADCAST
from vanet.wire import format as fmt
from vanet.wire.views import WireError, parse_one


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


@attrs.define
class Heartbeat:
    duration_ms: int
    seq: int
    hops: int
    source: bytes

    def to_bytes(self) -> bytes:
        return (
            self.duration_ms.to_bytes(16, "big")
            + _u32(self.seq)
            + _u32(self.hops)
            + bytes(self.source)
        )


@attrs.define
class HeartbeatReply:
    duration_ms: int
    seq: int
    hops: int
    source: bytes
    sender: bytes

    @classmethod
    def answering(cls, hb: Heartbeat, sender: bytes) -> HeartbeatReply:
        return cls(hb.duration_ms, hb.seq, hb.hops, hb.source, sender)

    def to_bytes(self) -> bytes:
        # A reply copies hops unchanged from the heartbeat it answers.
        return (
            self.duration_ms.to_bytes(16, "big")
            + _u32(self.seq)
            + _u32(self.hops)
            + bytes(self.source)
            + bytes(self.sender)
        )


@attrs.define
class ToUpstream:
    origin: bytes
    payload: bytes

    def to_bytes(self) -> bytes:
        return bytes(self.origin) + bytes(self.payload)


@attrs.define
class ToDownstream:
    origin: bytes
    destination: bytes
    payload: bytes

    def to_bytes(self) -> bytes:
        return bytes(self.origin) + bytes(self.destination) + bytes(self.payload)


@attrs.define
class ControlPacket:
    body: Heartbeat | HeartbeatReply

    def to_bytes(self) -> bytes:
        subtype = (
            fmt.HEARTBEAT if isinstance(self.body, Heartbeat) else fmt.HEARTBEAT_REPLY
        )
        return bytes([fmt.CONTROL, subtype]) + self.body.to_bytes()


@attrs.define
class DataPacket:
    body: ToUpstream | ToDownstream

    def to_bytes(self) -> bytes:
        subtype = fmt.UPSTREAM if isinstance(self.body, ToUpstream) else fmt.DOWNSTREAM
        return bytes([fmt.DATA, subtype]) + self.body.to_bytes()


@attrs.define
class Message:
    dst: bytes
    src: bytes
    packet: ControlPacket | DataPacket

    def to_bytes(self) -> bytes:
        return (
            bytes(self.dst)
            + bytes(self.src)
            + fmt.MARKER_BYTES
            + self.packet.to_bytes()
        )

    @classmethod
    def from_bytes(cls, buf) -> Message:
        """Build the tree for the first message in ``buf``; raise WireError."""
        view, _ = parse_one(memoryview(buf))
        return cls.from_view(view)

    @classmethod
    def from_view(cls, view) -> Message:
        kind = view.kind
        if kind == "heartbeat":
            body = Heartbeat(view.duration_ms, view.seq, view.hops, view.source)
            packet = ControlPacket(body)
        elif kind == "heartbeat_reply":
            body = HeartbeatReply(
                view.duration_ms, view.seq, view.hops, view.source, view.sender
            )
            packet = ControlPacket(body)
        elif kind == "upstream":
            packet = DataPacket(ToUpstream(view.origin, bytes(view.payload)))
        elif kind == "downstream":
            packet = DataPacket(
                ToDownstream(view.origin, view.destination, bytes(view.payload))
            )
        else:  # pragma: no cover - parse_one knows only these kinds
            raise WireError(f"unknown kind {kind!r}")
        return cls(view.dst, view.src, packet)


# The legacy writers: build the tree, serialize it, copy it into the buffer.


def _copy(buf: bytearray, frame: bytes) -> int:
    n = len(frame)
    if len(buf) < n:
        buf.extend(bytes(n - len(buf)))
    buf[:n] = frame
    return n


def write_heartbeat(buf, src, duration_ms, seq, hops, source) -> int:
    msg = Message(
        BROADCAST, src, ControlPacket(Heartbeat(duration_ms, seq, hops, source))
    )
    return _copy(buf, msg.to_bytes())


def write_heartbeat_forward(buf, hb, src, hops) -> int:
    msg = Message.from_bytes(hb.raw)
    msg.dst, msg.src = BROADCAST, src
    msg.packet.body.hops = hops
    return _copy(buf, msg.to_bytes())


def write_heartbeat_reply(buf, hb, sender, src, dst) -> int:
    received = Message.from_bytes(hb.raw)
    reply = HeartbeatReply.answering(received.packet.body, sender)
    return _copy(buf, Message(dst, src, ControlPacket(reply)).to_bytes())


def write_upstream(buf, origin, payload, src, dst) -> int:
    msg = Message(dst, src, DataPacket(ToUpstream(origin, bytes(payload))))
    return _copy(buf, msg.to_bytes())


def write_data_forward(buf, view, src, dst) -> int:
    """Relay a data message: rebuild its tree with new dst and src."""
    msg = Message.from_bytes(view.raw)
    msg.dst, msg.src = dst, src
    return _copy(buf, msg.to_bytes())


write_upstream_forward = write_data_forward
write_downstream_forward = write_data_forward


def write_downstream(buf, origin, destination, payload, src, dst) -> int:
    msg = Message(
        dst, src, DataPacket(ToDownstream(origin, destination, bytes(payload)))
    )
    return _copy(buf, msg.to_bytes())


WRITERS = {
    "heartbeat": write_heartbeat,
    "heartbeat_forward": write_heartbeat_forward,
    "heartbeat_reply": write_heartbeat_reply,
    "upstream": write_upstream,
    "upstream_forward": write_upstream_forward,
    "downstream": write_downstream,
    "downstream_forward": write_downstream_forward,
}
