"""The legacy object-tree path: a message as nested attrs objects.

``Message -> ControlPacket | DataPacket -> Heartbeat | HeartbeatReply |
SignedHeartbeat | SignedHeartbeatReply | ToUpstream | ToDownstream``, each
with ``to_bytes()``, serializing field by
field the straightforward way such code usually is. The bodies' fields come
from the declarations in ``vanet.wire.layouts``. It is kept because plugins
and tools built on it still exist; the zero-copy writers replace it on the
hot path and must stay byte-identical to it.
"""

from __future__ import annotations

import operator

import attrs

from vanet.mac import BROADCAST
from vanet.wire import layouts
from vanet.wire.layouts import BYTE_FORMATS, CONTROL, MARKER, U8, U32, U128
from vanet.wire.views import WireError, parse_one

_MARKER_BYTES = MARKER.to_bytes(2, "big")
# Python types of the declared field formats, for the attrs fields.
_TYPES = {U8: int, U32: int, U128: int}


def _getter(names: tuple[str, ...]):
    """A function reading ``names`` off an object as one tuple."""
    get = operator.attrgetter(*names)
    return get if len(names) > 1 else lambda obj: (get(obj),)


class _Body:
    """A message body built from its layout: attrs fields named after the
    layout's, in wire order (and ``payload`` last for data messages), and
    ``to_bytes`` writing them field by field."""

    layout: layouts.Layout

    def __init_subclass__(cls, layout: layouts.Layout | None = None, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if layout is None:
            return  # attrs rebuilding the class with slots: already set
        cls.layout = layout
        cls.__annotations__ = {f.name: _TYPES.get(f.format, bytes) for f in layout.body}
        if layout.payload:
            cls.__annotations__["payload"] = bytes
        # The body's fields off a view of its message, in one call.
        cls._read_view = staticmethod(_getter(layout.fields))
        cls.type_bytes = bytes([layout.type, layout.subtype])
        cls.to_bytes = _to_bytes(layout)

    def to_bytes(self) -> bytes:  # replaced per layout by _to_bytes
        raise NotImplementedError


def _to_bytes(layout: layouts.Layout):
    """``to_bytes`` for one layout, written out field by field as the
    object tree always did: a MAC, hash or signature as it is, an integer
    big-endian in its field's width. Written out from the declaration
    (as views.parse_one is) so the legacy path costs what hand-written
    code did, not a loop over the fields per call."""
    parts = [
        f"bytes(self.{f.name})"
        if f.format in BYTE_FORMATS
        else f"self.{f.name}.to_bytes({f.size}, 'big')"
        for f in layout.body
    ]
    if layout.payload:
        parts.append("bytes(self.payload)")
    source = "def to_bytes(self):\n    return " + " + ".join(parts) + "\n"
    namespace: dict = {}
    exec(compile(source, f"<vanet.wire.legacy {layout.kind}>", "exec"), namespace)
    return namespace["to_bytes"]


@attrs.define
class Heartbeat(_Body, layout=layouts.HEARTBEAT):
    pass


@attrs.define
class HeartbeatReply(_Body, layout=layouts.HEARTBEAT_REPLY):
    # A reply copies hops unchanged from the heartbeat it answers.
    @classmethod
    def answering(cls, hb: Heartbeat, sender: bytes) -> HeartbeatReply:
        return cls(hb.duration_ms, hb.seq, hb.hops, hb.source, sender)


@attrs.define
class SignedHeartbeat(_Body, layout=layouts.SIGNED_HEARTBEAT):
    pass


@attrs.define
class SignedHeartbeatReply(_Body, layout=layouts.SIGNED_HEARTBEAT_REPLY):
    # As a reply: hops copied unchanged; hop_hash is the one received.
    @classmethod
    def answering(
        cls, hb: SignedHeartbeat, sender: bytes, hop_hash: bytes, signature: bytes
    ) -> SignedHeartbeatReply:
        return cls(
            hb.duration_ms, hb.seq, hb.hops, hb.source, sender, hop_hash, signature
        )


@attrs.define
class ToUpstream(_Body, layout=layouts.UPSTREAM):
    pass


@attrs.define
class ToDownstream(_Body, layout=layouts.DOWNSTREAM):
    pass


#: the body class of each message kind
BODIES = {
    cls.layout.kind: cls
    for cls in (
        Heartbeat,
        HeartbeatReply,
        ToUpstream,
        ToDownstream,
        SignedHeartbeat,
        SignedHeartbeatReply,
    )
}


class _Packet:
    """Type and subtype (from the body's layout), then the body."""

    body: _Body

    def to_bytes(self) -> bytes:
        body = self.body
        return body.type_bytes + body.to_bytes()


@attrs.define
class ControlPacket(_Packet):
    body: Heartbeat | HeartbeatReply | SignedHeartbeat | SignedHeartbeatReply


@attrs.define
class DataPacket(_Packet):
    body: ToUpstream | ToDownstream


# The packet and body classes of each message kind.
_TREES = {
    kind: (ControlPacket if body.layout.type == CONTROL else DataPacket, body)
    for kind, body in BODIES.items()
}


@attrs.define
class Message:
    dst: bytes
    src: bytes
    packet: ControlPacket | DataPacket

    def to_bytes(self) -> bytes:
        return (
            bytes(self.dst) + bytes(self.src) + _MARKER_BYTES + self.packet.to_bytes()
        )

    @classmethod
    def from_bytes(cls, buf) -> Message:
        """Build the tree for the first message in ``buf``; raise WireError."""
        view, _ = parse_one(memoryview(buf))
        return cls.from_view(view)

    @classmethod
    def from_view(cls, view) -> Message:
        tree = _TREES.get(view.kind)
        if tree is None:  # pragma: no cover - parse_one knows only these kinds
            raise WireError(f"unknown kind {view.kind!r}")
        packet_class, body_class = tree
        values = body_class._read_view(view)
        if packet_class is DataPacket:
            # A view's payload points into its buffer: the tree keeps a copy.
            body = body_class(*values, bytes(view.payload))
        else:
            body = body_class(*values)
        return cls(view.dst, view.src, packet_class(body))


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


def write_signed_heartbeat(
    buf,
    src,
    duration_ms,
    seq,
    hops,
    source,
    chain_length,
    top_hash,
    hop_hash,
    signature,
) -> int:
    body = SignedHeartbeat(
        duration_ms, seq, hops, source, chain_length, top_hash, hop_hash, signature
    )
    return _copy(buf, Message(BROADCAST, src, ControlPacket(body)).to_bytes())


def write_signed_heartbeat_forward(buf, hb, src, hops, hop_hash) -> int:
    msg = Message.from_bytes(hb.raw)
    msg.dst, msg.src = BROADCAST, src
    msg.packet.body.hops = hops
    msg.packet.body.hop_hash = hop_hash
    return _copy(buf, msg.to_bytes())


def write_signed_heartbeat_reply(buf, hb, sender, hop_hash, signature, src, dst) -> int:
    received = Message.from_bytes(hb.raw)
    reply = SignedHeartbeatReply.answering(
        received.packet.body, sender, hop_hash, signature
    )
    return _copy(buf, Message(dst, src, ControlPacket(reply)).to_bytes())


def write_signed_heartbeat_reply_forward(buf, reply, src, dst) -> int:
    """Relay a signed reply: rebuild its tree with new dst and src."""
    msg = Message.from_bytes(reply.raw)
    msg.dst, msg.src = dst, src
    return _copy(buf, msg.to_bytes())


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
