"""The layout declarations (``vanet.wire.layouts``) drive the codec: every
declared field is in its view and its legacy body, sits where the layout
says in what both writer paths write, and parses back from there."""

from __future__ import annotations

import inspect
import traceback

import attrs
from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import BROADCAST
from vanet.wire import (
    ETHERTYPE,
    LAYOUTS,
    LEGACY,
    U32_MAX,
    ZERO_COPY,
    WireError,
    parse,
    parse_one,
    views,
    writer_for,
)
from vanet.wire import legacy as wire_legacy
from vanet.wire.layouts import BYTE_FORMATS

PAYLOAD = b"inner frame \x00\xff"


def distinct_values(layout) -> dict:
    """A different value for every field of ``layout``, each filling its
    whole width, so a field written at the wrong offset shows."""
    values = {
        "dst": bytes.fromhex("0a0b0c0d0e01"),
        "src": bytes.fromhex("0a0b0c0d0e02"),
    }
    for index, field in enumerate(layout.body, start=3):
        if field.format in BYTE_FORMATS:
            values[field.name] = bytes([0xA0 + index] * field.size)
        else:
            # top and bottom byte set: a short or shifted field changes it
            width = field.size * 8
            second = index << 8 if width > 8 else 0
            values[field.name] = (1 << (width - 1)) | second | index
    if layout.payload:
        values["payload"] = PAYLOAD
    return values


def write(kind: str, path: str, v: dict) -> bytes:
    """The frame the writer of ``kind`` on ``path`` writes for the values
    ``v``. Writer arguments are the registry's contract, not derived."""
    writer = writer_for(kind, path).write
    buf = bytearray()
    if kind == "heartbeat":
        n = writer(buf, v["src"], v["duration_ms"], v["seq"], v["hops"], v["source"])
    elif kind == "heartbeat_reply":
        hb = parse_one(write("heartbeat", path, v))
        n = writer(buf, hb, v["sender"], v["src"], v["dst"])
    elif kind == "signed_heartbeat":
        n = writer(
            buf,
            v["src"],
            v["duration_ms"],
            v["seq"],
            v["hops"],
            v["source"],
            v["chain_length"],
            v["top_hash"],
            v["hop_hash"],
            v["signature"],
        )
    elif kind == "signed_heartbeat_reply":
        # The heartbeat answered: the reply's own heartbeat fields, and
        # hash and signature values of its own, which the reply must not take.
        hb_values = v | {
            "chain_length": 9,
            "top_hash": bytes(32),
            "hop_hash": bytes(32),
            "signature": bytes(64),
        }
        hb = parse_one(write("signed_heartbeat", path, hb_values))
        n = writer(
            buf, hb, v["sender"], v["hop_hash"], v["signature"], v["src"], v["dst"]
        )
    elif kind == "upstream":
        n = writer(buf, v["origin"], v["payload"], v["src"], v["dst"])
    else:
        n = writer(buf, v["origin"], v["destination"], v["payload"], v["src"], v["dst"])
    return bytes(buf[:n])


def encode(field, value) -> bytes:
    if field.format in BYTE_FORMATS:
        return value
    return value.to_bytes(field.size, "big")


class DeclarationTests(SynchronousTestCase):
    def test_the_protocol_table(self):
        # docs/protocol.md §2, restated: marker, type/subtype, lengths.
        expected = {
            "heartbeat": (0x30300000, 46),
            "heartbeat_reply": (0x30300001, 52),
            "upstream": (0x30300100, 22),
            "downstream": (0x30300101, 28),
            "signed_heartbeat": (0x30300002, 175),
            "signed_heartbeat_reply": (0x30300003, 148),
        }
        self.assertEqual(
            {kind: (layout.tag, layout.size) for kind, layout in LAYOUTS.items()},
            expected,
        )
        self.assertEqual(ETHERTYPE, 0x3030)
        self.assertEqual(U32_MAX, 2**32 - 1)
        for layout in LAYOUTS.values():
            self.assertEqual(layout.tag_bytes, layout.tag.to_bytes(4, "big"))
            self.assertEqual(layout.pack.size, layout.size, layout.kind)
            self.assertEqual(layout.unpack.size, layout.size, layout.kind)

    def test_every_declared_field_is_in_its_view(self):
        self.assertEqual(set(views.VIEWS), set(LAYOUTS))
        for kind, layout in LAYOUTS.items():
            view_class = views.VIEWS[kind]
            self.assertIs(view_class.layout, layout)
            self.assertEqual(view_class.kind, kind)
            self.assertEqual(view_class.__fields__, layout.view_fields)
            slots = {
                name
                for cls in view_class.__mro__
                for name in getattr(cls, "__slots__", ())
            }
            self.assertEqual(slots, set(layout.view_fields) | {"raw"}, kind)

    def test_every_declared_field_is_in_its_legacy_body(self):
        self.assertEqual(set(wire_legacy.BODIES), set(LAYOUTS))
        for kind, layout in LAYOUTS.items():
            body_class = wire_legacy.BODIES[kind]
            self.assertIs(body_class.layout, layout)
            names = tuple(a.name for a in attrs.fields(body_class))
            expected = layout.fields + (("payload",) if layout.payload else ())
            self.assertEqual(names, expected, kind)

    def test_offsets_tile_the_frame(self):
        # Fields follow each other with no gap or overlap; only the 4-byte
        # tag sits between the addresses and the body.
        for layout in LAYOUTS.values():
            sizes = {"dst": 6, "src": 6} | {f.name: f.size for f in layout.body}
            position = 0
            for name in layout.view_fields:
                if name == "payload":
                    continue
                if position == 12:
                    position = 16
                self.assertEqual(layout.offsets[name], position, layout.kind)
                position += sizes[name]
            self.assertEqual(position, layout.size, layout.kind)
            if layout.payload:
                self.assertEqual(layout.offsets["payload"], layout.size)

    def test_signed_forms_extend_the_unsigned_ones(self):
        # docs/protocol.md §2.7: the 30 heartbeat body bytes first, at the
        # heartbeat's offsets; a signed reply's sender where a reply's is.
        heartbeat, reply = LAYOUTS["heartbeat"], LAYOUTS["heartbeat_reply"]
        for kind in ("signed_heartbeat", "signed_heartbeat_reply"):
            layout = LAYOUTS[kind]
            self.assertEqual(layout.body[:4], heartbeat.body, kind)
            self.assertEqual(layout.type, heartbeat.type, kind)
        signed = LAYOUTS["signed_heartbeat"]
        signed_reply = LAYOUTS["signed_heartbeat_reply"]
        self.assertEqual(signed.subtype, 2)
        self.assertEqual(signed_reply.subtype, 3)
        self.assertEqual(signed_reply.offsets["sender"], reply.offsets["sender"])
        self.assertEqual(
            {name: signed.offsets[name] for name in signed.fields[4:]},
            {"chain_length": 46, "top_hash": 47, "hop_hash": 79, "signature": 111},
        )
        self.assertEqual(
            {name: signed_reply.offsets[name] for name in signed_reply.fields[4:]},
            {"sender": 46, "hop_hash": 52, "signature": 84},
        )


class DeclarationDrivesTheCodecTests(SynchronousTestCase):
    def test_fields_sit_at_their_declared_offsets_on_both_paths(self):
        for kind, layout in LAYOUTS.items():
            values = distinct_values(layout)
            if kind in ("heartbeat", "signed_heartbeat"):
                values["dst"] = BROADCAST  # a heartbeat is always broadcast
            sizes = {"dst": 6, "src": 6} | {f.name: f.size for f in layout.body}
            for path in (ZERO_COPY, LEGACY):
                where = f"{kind} on {path}"
                frame = write(kind, path, values)
                self.assertEqual(
                    len(frame), layout.size + len(values.get("payload", b"")), where
                )
                self.assertEqual(frame[12:16], layout.tag_bytes, where)
                for field in layout.body:
                    at = layout.offsets[field.name]
                    self.assertEqual(
                        frame[at : at + field.size],
                        encode(field, values[field.name]),
                        f"{where}: {field.name}",
                    )
                for name in ("dst", "src"):
                    at = layout.offsets[name]
                    self.assertEqual(frame[at : at + sizes[name]], values[name], where)
                if layout.payload:
                    self.assertEqual(frame[layout.offsets["payload"] :], PAYLOAD)

    def test_every_declared_field_parses_back(self):
        for kind, layout in LAYOUTS.items():
            values = distinct_values(layout)
            if kind in ("heartbeat", "signed_heartbeat"):
                values["dst"] = BROADCAST
            frame = write(kind, ZERO_COPY, values)
            (view,) = parse(frame)
            self.assertIsInstance(view, views.VIEWS[kind])
            for name in layout.view_fields:
                actual = getattr(view, name)
                if name == "payload":
                    actual = bytes(actual)
                self.assertEqual(actual, values[name], f"{kind}: {name}")
            body = wire_legacy.Message.from_bytes(frame).packet.body
            for name in layout.fields:
                self.assertEqual(getattr(body, name), values[name], f"{kind}: {name}")

    def test_generated_parser_is_readable_in_tracebacks(self):
        # parse_one is written out from the layouts; its lines still show.
        self.assertIn("0x30300000", inspect.getsource(views.parse_one))
        try:
            parse_one(
                write("heartbeat", ZERO_COPY, distinct_values(LAYOUTS["heartbeat"]))[
                    :-1
                ]
            )
        except WireError as error:
            lines = traceback.format_exception(error)
        else:
            self.fail("a truncated heartbeat parsed")
        self.assertIn("raise WireError(", "".join(lines))
