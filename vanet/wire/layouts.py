"""Message layouts of docs/protocol.md §2, each declared once (dpkt-style).

One message is one Ethernet frame:

    dst 6 | src 6 | marker 0x3030 | type 1 | subtype 1 | body

All integers are big-endian. A message's declaration below (its type,
subtype and body fields) is the only place its layout is written; from it
come, at import time, the views' slots and field lists and the parse tags
and unpack Structs (``views``), the writers' pack Structs (``writers``),
and the legacy tree's classes (``legacy``). A new message is one more
declaration here, plus its writers.
"""

from __future__ import annotations

import struct

import attrs

#: the largest value of a u32 field (seq, hops)
U32_MAX = (1 << 32) - 1


def serial_diff(a: int, b: int) -> int:
    """``a - b`` for u32 sequence numbers in serial-number arithmetic (RFC
    1982, docs/protocol.md §3.4): positive when ``a`` is newer, in
    ``(-2**31, 2**31)``; the undefined half-way case counts as behind."""
    d = (a - b) & U32_MAX
    return d - (1 << 32) if d >= 1 << 31 else d


MARKER = 0x3030
ETHERTYPE = MARKER  # the marker sits where the EtherType goes

# Packet types, with the names error messages use.
CONTROL, DATA = 0, 1
PACKET_TYPES = {CONTROL: "control", DATA: "data"}

# Field formats, as struct codes.
MAC = "6s"
U8 = "B"
U32 = "I"
U128 = "QQ"  # 16 bytes: struct has no u128, so it goes as two u64 halves
HASH = "32s"  # a SHA-256 value (the signed messages' hash chain)
SIGNATURE = "64s"  # an Ed25519 signature
#: formats whose value is ``bytes`` of the field's width (the rest are ints)
BYTE_FORMATS = frozenset({MAC, HASH, SIGNATURE})


@attrs.frozen
class Field:
    """One named field of a layout."""

    name: str
    format: str  # struct code, without byte order
    size: int = attrs.field(init=False)

    @size.default
    def _size(self) -> int:
        return struct.calcsize("!" + self.format)


#: dst, src: the two addresses every message starts with
ADDRESSES = (Field("dst", MAC), Field("src", MAC))
ADDRESSES_FORMAT = "".join(field.format for field in ADDRESSES)
# Then marker u16, type u8, subtype u8. Parsing reads them as one u32 tag
# and writers write them as one 4-byte string: one field, not three.
TAG_OFFSET = struct.calcsize("!" + ADDRESSES_FORMAT)
TAG_FORMAT = "4s"
HEADER_LEN = TAG_OFFSET + struct.calcsize(TAG_FORMAT)


@attrs.frozen
class Layout:
    """One message: its kind, type, subtype and body fields. Data messages
    (``payload=True``) carry a payload from the fixed part to the end of
    the frame; control messages have a fixed length.

    Everything below the declared attributes is derived from them.
    """

    kind: str
    type: int
    subtype: int
    body: tuple[Field, ...]
    payload: bool = False

    #: the body's field names, in wire order
    fields: tuple[str, ...] = attrs.field(init=False)
    #: what a parsed view of this message holds, in wire order
    view_fields: tuple[str, ...] = attrs.field(init=False)
    #: length of the frame without payload (all of it for control messages)
    size: int = attrs.field(init=False)
    #: marker, type and subtype as the u32 parsing reads, and as the 4
    #: bytes writers write
    tag: int = attrs.field(init=False)
    tag_bytes: bytes = attrs.field(init=False)
    #: the fixed part of a frame: the tag skipped (unpack) or as one 4-byte
    #: field (pack); a U128 is two u64 items in both
    unpack: struct.Struct = attrs.field(init=False)
    pack: struct.Struct = attrs.field(init=False)
    #: where each field of ``view_fields`` starts in the frame
    offsets: dict[str, int] = attrs.field(init=False)

    @fields.default
    def _fields(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.body)

    @view_fields.default
    def _view_fields(self) -> tuple[str, ...]:
        names = tuple(field.name for field in ADDRESSES) + self.fields
        return names + ("payload",) if self.payload else names

    @size.default
    def _size(self) -> int:
        return HEADER_LEN + sum(field.size for field in self.body)

    @tag.default
    def _tag(self) -> int:
        return (MARKER << 16) | (self.type << 8) | self.subtype

    @tag_bytes.default
    def _tag_bytes(self) -> bytes:
        return self.tag.to_bytes(4, "big")

    @unpack.default
    def _unpack(self) -> struct.Struct:
        skip_tag = f"{struct.calcsize(TAG_FORMAT)}x"
        return struct.Struct(f"!{ADDRESSES_FORMAT}{skip_tag}{self._body_format()}")

    @pack.default
    def _pack(self) -> struct.Struct:
        return struct.Struct(f"!{ADDRESSES_FORMAT}{TAG_FORMAT}{self._body_format()}")

    @offsets.default
    def _offsets(self) -> dict[str, int]:
        offsets, offset = {}, 0
        for field in ADDRESSES:
            offsets[field.name] = offset
            offset += field.size
        offset = HEADER_LEN
        for field in self.body:
            offsets[field.name] = offset
            offset += field.size
        if self.payload:
            offsets["payload"] = offset
        return offsets

    def _body_format(self) -> str:
        return "".join(field.format for field in self.body)


HEARTBEAT = Layout(
    "heartbeat",
    CONTROL,
    0,
    (
        Field("duration_ms", U128),
        Field("seq", U32),
        Field("hops", U32),
        Field("source", MAC),
    ),
)
# A reply repeats the body of the heartbeat it answers, then adds itself.
HEARTBEAT_REPLY = Layout(
    "heartbeat_reply", CONTROL, 1, HEARTBEAT.body + (Field("sender", MAC),)
)
# The signed forms (docs/protocol.md §2.7) are control subtypes of their
# own, not a trailer: a parser that predates them drops them as unknown.
# Each starts with the 30 heartbeat body bytes, so the shared fields sit
# at the same offsets as in the unsigned messages. The fields are only
# carried here; what is signed and checked is vanet.auth's business.
SIGNED_HEARTBEAT = Layout(
    "signed_heartbeat",
    CONTROL,
    2,
    HEARTBEAT.body
    + (
        Field("chain_length", U8),
        Field("top_hash", HASH),
        Field("hop_hash", HASH),
        Field("signature", SIGNATURE),
    ),
)
SIGNED_HEARTBEAT_REPLY = Layout(
    "signed_heartbeat_reply",
    CONTROL,
    3,
    HEARTBEAT.body
    + (
        Field("sender", MAC),
        Field("hop_hash", HASH),
        Field("signature", SIGNATURE),
    ),
)
UPSTREAM = Layout("upstream", DATA, 0, (Field("origin", MAC),), payload=True)
DOWNSTREAM = Layout(
    "downstream",
    DATA,
    1,
    (Field("origin", MAC), Field("destination", MAC)),
    payload=True,
)

#: every message, by kind
LAYOUTS = {
    layout.kind: layout
    for layout in (
        HEARTBEAT,
        HEARTBEAT_REPLY,
        UPSTREAM,
        DOWNSTREAM,
        SIGNED_HEARTBEAT,
        SIGNED_HEARTBEAT_REPLY,
    )
}
