"""Every shared wire vector (``tests/vectors/wire.json``) on every path:
``parse``/``parse_one``, the legacy ``Message`` tree, and the legacy and
zero-copy writers obtained from the registry. The signed vectors also
verify, and are what ``tests/vectors_signed.py`` writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from twisted.trial.unittest import SynchronousTestCase

from tests import vectors, vectors_signed
from tests.vectors import decode_message, load_vectors
from vanet.mac import BROADCAST
from vanet.wire import LEGACY, ZERO_COPY, WireError, parse, parse_one, writer_for
from vanet.wire import legacy as wire_legacy

VECTORS = load_vectors()
PATHS = (ZERO_COPY, LEGACY)
CONTROL_LENGTHS = {
    "heartbeat": 46,
    "heartbeat_reply": 52,
    "signed_heartbeat": 175,
    "signed_heartbeat_reply": 148,
}
SIGNED_KINDS = ("signed_heartbeat", "signed_heartbeat_reply")
RELAY_SRC = bytes.fromhex("0a0000000099")
RELAY_DST = bytes.fromhex("0a00000000aa")


def message_spans(frame: bytes, messages: list[dict]) -> list[bytes]:
    """Each expected message's own bytes, cut by the protocol's length rule
    (control messages have a fixed length, data takes the rest), without
    using the parser under test."""
    spans, offset = [], 0
    for message in messages:
        end = offset + CONTROL_LENGTHS.get(message["kind"], len(frame) - offset)
        spans.append(frame[offset:end])
        offset = end
    return spans


def as_buffer_types(frame: bytes):
    """The same received bytes as each type a transport may hand us."""
    return {
        "bytes": frame,
        "bytearray": bytearray(frame),
        "memoryview": memoryview(frame),
    }


class ParseVectorTests(SynchronousTestCase):
    def assert_view_matches(self, view, expected: dict, raw: bytes, where: str):
        self.assertEqual(view.kind, expected["kind"], where)
        for name, value in expected.items():
            if name == "kind":
                continue
            actual = getattr(view, name)
            if name == "payload":
                self.assertIsInstance(actual, memoryview, where)
                actual = bytes(actual)
            else:
                self.assertIsInstance(actual, bytes | int, where)
            self.assertEqual(actual, value, f"{where}: field {name}")
        self.assertIsInstance(view.raw, memoryview, where)
        self.assertEqual(bytes(view.raw), raw, f"{where}: raw")

    def test_valid_vectors_parse(self):
        for vector in VECTORS["valid"]:
            frame = bytes.fromhex(vector["hex"])
            expected = [decode_message(m) for m in vector["messages"]]
            spans = message_spans(frame, vector["messages"])
            for type_name, buf in as_buffer_types(frame).items():
                where = f"{vector['name']} as {type_name}"
                views = parse(buf)
                self.assertEqual(len(views), len(expected), where)
                for index, (view, message, raw) in enumerate(
                    zip(views, expected, spans, strict=True)
                ):
                    self.assert_view_matches(view, message, raw, f"{where} #{index}")

    def test_valid_vectors_parse_one(self):
        for vector in VECTORS["valid"]:
            frame = bytes.fromhex(vector["hex"])
            first = decode_message(vector["messages"][0])
            raw = message_spans(frame, vector["messages"])[0]
            view = parse_one(frame)
            self.assert_view_matches(view, first, raw, vector["name"])

    def test_invalid_vectors(self):
        for vector in VECTORS["invalid"]:
            frame = bytes.fromhex(vector["hex"])
            for type_name, buf in as_buffer_types(frame).items():
                self.assertEqual(parse(buf), [], f"{vector['name']} as {type_name}")
            self.assertRaises(WireError, parse_one, frame)
            self.assertRaises(WireError, wire_legacy.Message.from_bytes, frame)


class LegacyTreeVectorTests(SynchronousTestCase):
    def test_from_bytes_reads_the_first_message(self):
        for vector in VECTORS["valid"]:
            expected = decode_message(vector["messages"][0])
            message = wire_legacy.Message.from_bytes(bytes.fromhex(vector["hex"]))
            self.assertEqual(message.dst, expected["dst"], vector["name"])
            self.assertEqual(message.src, expected["src"], vector["name"])
            body = message.packet.body
            for name, value in expected.items():
                if name in ("kind", "dst", "src"):
                    continue
                actual = getattr(body, name)
                if name == "payload":
                    actual = bytes(actual)
                self.assertEqual(actual, value, f"{vector['name']}: {name}")

    def test_to_bytes_rebuilds_each_message(self):
        for vector in VECTORS["valid"]:
            frame = bytes.fromhex(vector["hex"])
            for raw in message_spans(frame, vector["messages"]):
                message = wire_legacy.Message.from_bytes(raw)
                self.assertEqual(message.to_bytes(), raw, vector["name"])


class WriterVectorTests(SynchronousTestCase):
    """Rebuild every vector message with each registered writer path."""

    def write(self, kind: str, path: str, *args) -> bytes:
        buf = bytearray()
        length = writer_for(kind, path).write(buf, *args)
        self.assertGreaterEqual(len(buf), length)
        return bytes(buf[:length])

    def heartbeat_answered_by(self, reply: bytes):
        """The heartbeat a reply answers: same 30-byte body, subtype 0."""
        frame = bytearray(reply[:46])
        frame[15] = 0
        return parse_one(bytes(frame))

    def signed_heartbeat_answered_by(self, reply: bytes):
        """A signed heartbeat a signed reply answers: the same 30-byte body,
        subtype 2, and chain values and a signature the reply must not take
        (its hop_hash and signature are arguments of their own)."""
        frame = bytearray(reply[:46])
        frame[15] = 2
        return parse_one(bytes(frame) + b"\x08" + b"\xee" * 128)

    def hash_relay(self, view) -> bytes:
        """The next hash of the chain, as the vectors' chain runs."""
        return hashlib.sha256(view.hop_hash).digest()

    def test_origin_writers_rebuild_every_message(self):
        checked = set()
        for vector in VECTORS["valid"]:
            frame = bytes.fromhex(vector["hex"])
            spans = message_spans(frame, vector["messages"])
            for message, raw in zip(vector["messages"], spans, strict=True):
                fields = decode_message(message)
                kind = fields["kind"]
                for path in PATHS:
                    where = f"{vector['name']} {kind} on {path}"
                    if kind == "heartbeat":
                        self.assertEqual(fields["dst"], BROADCAST)
                        args = [
                            (
                                fields["src"],
                                fields["duration_ms"],
                                fields["seq"],
                                fields["hops"],  # written as given
                                fields["source"],
                            )
                        ]
                    elif kind == "heartbeat_reply":
                        hb = self.heartbeat_answered_by(raw)
                        args = [(hb, fields["sender"], fields["src"], fields["dst"])]
                    elif kind == "signed_heartbeat":
                        self.assertEqual(fields["dst"], BROADCAST)
                        args = [
                            (
                                fields["src"],
                                fields["duration_ms"],
                                fields["seq"],
                                fields["hops"],
                                fields["source"],
                                fields["chain_length"],
                                fields["top_hash"],
                                fields["hop_hash"],
                                fields["signature"],
                            )
                        ]
                    elif kind == "signed_heartbeat_reply":
                        hb = self.signed_heartbeat_answered_by(raw)
                        args = [
                            (
                                hb,
                                fields["sender"],
                                fields["hop_hash"],
                                fields["signature"],
                                fields["src"],
                                fields["dst"],
                            )
                        ]
                    elif kind == "upstream":
                        args = [
                            (fields["origin"], payload, fields["src"], fields["dst"])
                            for payload in as_buffer_types(fields["payload"]).values()
                        ]
                    else:
                        args = [
                            (
                                fields["origin"],
                                fields["destination"],
                                payload,
                                fields["src"],
                                fields["dst"],
                            )
                            for payload in as_buffer_types(fields["payload"]).values()
                        ]
                    for arguments in args:
                        self.assertEqual(self.write(kind, path, *arguments), raw, where)
                    checked.add(kind)
        self.assertEqual(
            checked,
            {"heartbeat", "heartbeat_reply", "upstream", "downstream", *SIGNED_KINDS},
        )

    def test_forward_writers_patch_only_what_a_relay_changes(self):
        for vector in VECTORS["valid"]:
            frame = bytes.fromhex(vector["hex"])
            for view, raw in zip(
                parse(frame), message_spans(frame, vector["messages"]), strict=True
            ):
                for path in PATHS:
                    where = f"{vector['name']} {view.kind} on {path}"
                    if view.kind == "heartbeat":
                        expected = (
                            BROADCAST
                            + RELAY_SRC
                            + raw[12:36]
                            + (view.hops + 1).to_bytes(4, "big")
                            + raw[40:]
                        )
                        written = self.write(
                            "heartbeat_forward", path, view, RELAY_SRC, view.hops + 1
                        )
                    elif view.kind == "signed_heartbeat":
                        next_hash = self.hash_relay(view)
                        expected = (
                            BROADCAST
                            + RELAY_SRC
                            + raw[12:36]
                            + (view.hops + 1).to_bytes(4, "big")
                            + raw[40:79]
                            + next_hash
                            + raw[111:]
                        )
                        written = self.write(
                            "signed_heartbeat_forward",
                            path,
                            view,
                            RELAY_SRC,
                            view.hops + 1,
                            next_hash,
                        )
                    elif view.kind in (
                        "upstream",
                        "downstream",
                        "signed_heartbeat_reply",
                    ):
                        expected = RELAY_DST + RELAY_SRC + raw[12:]
                        written = self.write(
                            f"{view.kind}_forward", path, view, RELAY_SRC, RELAY_DST
                        )
                    else:
                        continue  # replies are forwarded with the reply writer
                    self.assertEqual(written, expected, where)

    def test_relay_vectors(self):
        self.assertTrue(VECTORS["relay"])
        for vector in VECTORS["relay"]:
            relay = bytes.fromhex(vector["relay_mac"])
            for buf in as_buffer_types(bytes.fromhex(vector["input_hex"])).values():
                (hb,) = parse(buf)
                for path in PATHS:
                    where = f"{vector['name']} on {path}"
                    self.assertEqual(
                        self.write("heartbeat_forward", path, hb, relay, hb.hops + 1),
                        bytes.fromhex(vector["rebroadcast_hex"]),
                        where,
                    )
                    # The reply goes back to the neighbour it came from.
                    self.assertEqual(
                        self.write("heartbeat_reply", path, hb, relay, relay, hb.src),
                        bytes.fromhex(vector["reply_hex"]),
                        where,
                    )


def valid_vector(name: str) -> dict:
    (vector,) = [v for v in VECTORS["valid"] if v["name"] == name]
    return vector


def frame_of(name: str) -> bytes:
    return bytes.fromhex(valid_vector(name)["hex"])


class SignedVectorTests(SynchronousTestCase):
    """The signed vectors (docs/protocol.md §2.7): present, genuine, linked
    by the relay steps they describe, and as the generator writes them."""

    def write(self, kind: str, path: str, *args) -> bytes:
        return WriterVectorTests.write(self, kind, path, *args)

    def signed_vectors(self) -> list[dict]:
        return [
            v
            for v in VECTORS["valid"]
            if any(m["kind"] in SIGNED_KINDS for m in v["messages"])
        ]

    def test_every_signed_kind_has_vectors(self):
        kinds = {m["kind"] for v in self.signed_vectors() for m in v["messages"]}
        self.assertEqual(kinds, set(SIGNED_KINDS))
        invalid = {v["name"] for v in VECTORS["invalid"]}
        self.assertTrue(
            {"truncated_signed_heartbeat", "truncated_signed_reply"} <= invalid
        )

    def test_signatures_verify_over_the_fields_they_cover(self):
        for vector in self.signed_vectors():
            for message, signing in zip(
                vector["messages"], vector["signing"], strict=True
            ):
                fields = decode_message(message)
                signed = bytes.fromhex(signing["signed_hex"])
                # docs/protocol.md §2.7: a domain prefix, then the fields.
                heartbeat = message["kind"] == "signed_heartbeat"
                covered = (
                    (b"vanet-hb1" if heartbeat else b"vanet-rp1")
                    + fields["source"]
                    + fields["seq"].to_bytes(4, "big")
                    + fields["duration_ms"].to_bytes(16, "big")
                )
                if heartbeat:
                    covered += bytes([fields["chain_length"]]) + fields["top_hash"]
                else:
                    covered += fields["sender"] + fields["hop_hash"]
                self.assertEqual(signed, covered, vector["name"])
                key = Ed25519PublicKey.from_public_bytes(
                    bytes.fromhex(signing["public_key"])
                )
                key.verify(fields["signature"], signed)  # raises if not
                forged = bytearray(fields["signature"])
                forged[0] ^= 1
                with self.assertRaises(InvalidSignature):
                    key.verify(bytes(forged), signed)

    def test_hop_hashes_run_down_the_chain(self):
        for vector in self.signed_vectors():
            for message in map(decode_message, vector["messages"]):
                if message["kind"] != "signed_heartbeat":
                    continue
                value = message["hop_hash"]
                for _ in range(message["chain_length"] - message["hops"]):
                    value = hashlib.sha256(value).digest()
                self.assertEqual(value, message["top_hash"], vector["name"])

    def test_a_relay_turns_one_vector_into_the_next(self):
        (hb,) = parse(frame_of("signed_rsu_heartbeat"))
        (reply,) = parse(frame_of("signed_reply_to_relay"))
        relay = bytes.fromhex("020000000011")
        rsu = bytes.fromhex("020000000001")
        next_hash = hashlib.sha256(hb.hop_hash).digest()
        for path in PATHS:
            self.assertEqual(
                self.write(
                    "signed_heartbeat_forward", path, hb, relay, hb.hops + 1, next_hash
                ),
                frame_of("signed_heartbeat_relayed"),
                path,
            )
            reply_fields = decode_message(
                valid_vector("signed_heartbeat_reply")["messages"][0]
            )
            self.assertEqual(
                self.write(
                    "signed_heartbeat_reply",
                    path,
                    hb,
                    relay,
                    hb.hop_hash,
                    reply_fields["signature"],
                    relay,
                    hb.src,
                ),
                frame_of("signed_heartbeat_reply"),
                path,
            )
            self.assertEqual(
                self.write("signed_heartbeat_reply_forward", path, reply, relay, rsu),
                frame_of("signed_reply_forwarded"),
                path,
            )

    def test_the_file_is_what_the_generator_writes(self):
        current = vectors.VECTORS_PATH.read_text(encoding="utf-8")
        signed = vectors_signed.build()
        self.assertEqual(
            vectors_signed.render(vectors_signed.merged(json.loads(current), signed)),
            current,
            "run python -m tests.vectors_signed",
        )
        # Merging is idempotent and touches no other entry.
        names = {e["name"] for entries in signed.values() for e in entries}
        for section in ("valid", "invalid", "relay"):
            others = [e for e in VECTORS[section] if e["name"] not in names]
            emptied = vectors_signed.merged({section: others}, {section: []})
            self.assertEqual(emptied[section], others)


class LoaderTests(SynchronousTestCase):
    def test_missing_file_fails_loudly_with_its_path(self):
        missing = vectors.VECTORS_PATH.with_name("no-such-wire.json")
        self.patch(vectors, "VECTORS_PATH", missing)
        with self.assertRaises(FileNotFoundError) as caught:
            vectors.load_vectors()
        self.assertIn(str(missing), str(caught.exception))

    def test_path_is_inside_the_checkout(self):
        repo_root = Path(__file__).resolve().parents[1]
        self.assertTrue(vectors.VECTORS_PATH.is_relative_to(repo_root))
        self.assertTrue(vectors.VECTORS_PATH.is_file())
