"""Buffers: what ``parse`` accepts, that views share the received memory,
and how the writers treat the caller's reused buffer."""

from __future__ import annotations

import struct

from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import BROADCAST
from vanet.wire import (
    LEGACY,
    WRITER_KINDS,
    ZERO_COPY,
    WireError,
    parse,
    parse_one,
    writer_for,
    writers,
)
from vanet.wire.views import parse_one as parse_one_at

RSU = bytes.fromhex("020000000001")
OBU1 = bytes.fromhex("020000000011")
OBU2 = bytes.fromhex("020000000012")
INNER = bytes.fromhex("ffffffffffff5a0000000a020806") + bytes(range(64))


def frame(kind: str, *args) -> bytes:
    buf = bytearray()
    n = writers.WRITERS[kind](buf, *args)
    return bytes(buf[:n])


HEARTBEAT = frame("heartbeat", RSU, 5000, 42, 1, RSU)
UPSTREAM = frame("upstream", OBU2, INNER, OBU2, OBU1)
DOWNSTREAM = frame("downstream", RSU, OBU2, INNER, RSU, OBU1)
TOP_HASH, HOP_HASH = bytes(range(32)), bytes(range(32, 64))
SIGNATURE = bytes(range(64, 128))
SIGNED_HEARTBEAT = frame(
    "signed_heartbeat", RSU, 5000, 42, 1, RSU, 8, TOP_HASH, HOP_HASH, SIGNATURE
)
SIGNED_REPLY = frame(
    "signed_heartbeat_reply",
    parse_one(SIGNED_HEARTBEAT),
    OBU1,
    HOP_HASH,
    SIGNATURE,
    OBU1,
    RSU,
)


def writer_arguments() -> dict[str, tuple]:
    """Arguments after ``buf`` for every writer kind."""
    (hb,) = parse(HEARTBEAT)
    (up,) = parse(UPSTREAM)
    (down,) = parse(DOWNSTREAM)
    (signed_hb,) = parse(SIGNED_HEARTBEAT)
    (signed_reply,) = parse(SIGNED_REPLY)
    return {
        "heartbeat": (RSU, 5000, 42, 1, RSU),
        "heartbeat_forward": (hb, OBU1, hb.hops + 1),
        "heartbeat_reply": (hb, OBU1, OBU1, RSU),
        "upstream": (OBU1, INNER, OBU1, RSU),
        "upstream_forward": (up, OBU1, RSU),
        "downstream": (RSU, OBU2, INNER, RSU, OBU1),
        "downstream_forward": (down, OBU1, OBU2),
        "signed_heartbeat": (RSU, 5000, 42, 1, RSU, 8, TOP_HASH, HOP_HASH, SIGNATURE),
        "signed_heartbeat_forward": (signed_hb, OBU1, 2, TOP_HASH),
        "signed_heartbeat_reply": (
            signed_hb,
            OBU1,
            HOP_HASH,
            SIGNATURE,
            OBU1,
            RSU,
        ),
        "signed_heartbeat_reply_forward": (signed_reply, OBU1, RSU),
    }


class ParseInputTests(SynchronousTestCase):
    def test_bytes_bytearray_and_memoryview(self):
        received = HEARTBEAT + UPSTREAM
        results = []
        for buf in (received, bytearray(received), memoryview(received)):
            views = parse(buf)
            self.assertEqual([v.kind for v in views], ["heartbeat", "upstream"])
            results.append(
                [(v.dst, v.src, bytes(v.raw), bytes(v.payload)) for v in views[1:]]
            )
        self.assertEqual(results[0], results[1])
        self.assertEqual(results[0], results[2])

    def test_memoryview_into_a_larger_buffer(self):
        # A transport may hand us a slice of its own receive buffer.
        backing = bytearray(b"\x00" * 7 + DOWNSTREAM + b"\xee" * 9)
        window = memoryview(backing)[7 : 7 + len(DOWNSTREAM)]
        (view,) = parse(window)
        self.assertEqual(bytes(view.payload), INNER)
        self.assertEqual(bytes(view.raw), DOWNSTREAM)

    def test_parse_one_at_an_offset(self):
        received = memoryview(HEARTBEAT + DOWNSTREAM)
        first, offset = parse_one_at(received, 0)
        second, end = parse_one_at(received, offset)
        self.assertEqual((first.kind, offset), ("heartbeat", len(HEARTBEAT)))
        self.assertEqual((second.kind, end), ("downstream", len(received)))
        self.assertEqual(parse_one(received).kind, "heartbeat")

    def test_empty_and_odd_inputs_give_no_messages(self):
        self.assertEqual(parse(b""), [])
        self.assertEqual(parse(bytearray()), [])
        self.assertEqual(parse(memoryview(b"\x00" * 100)), [])


class ZeroCopyViewTests(SynchronousTestCase):
    def test_payload_shares_the_received_memory(self):
        received = bytearray(UPSTREAM)
        (view,) = parse(received)
        self.assertIsInstance(view.payload, memoryview)
        received[-1] ^= 0xFF
        self.assertEqual(view.payload[-1], INNER[-1] ^ 0xFF)
        received[len(received) - len(INNER)] = 0x42
        self.assertEqual(view.payload[0], 0x42)

    def test_raw_shares_the_received_memory(self):
        received = bytearray(HEARTBEAT + DOWNSTREAM)
        hb, down = parse(received)
        received[6] = 0x99  # src of the heartbeat
        received[len(HEARTBEAT) + 20] = 0x77  # in the downstream's origin
        self.assertEqual(hb.raw[6], 0x99)
        self.assertEqual(down.raw[20], 0x77)
        # Fixed fields are read at parse time and stay as they were.
        self.assertEqual(hb.src, RSU)

    def test_payload_of_a_memoryview_input_points_into_it(self):
        received = bytearray(DOWNSTREAM)
        (view,) = parse(memoryview(received))
        received[-2] = 0x01
        self.assertEqual(view.payload[-2], 0x01)


class ReusedBufferTests(SynchronousTestCase):
    def test_every_writer_kind_is_exercised(self):
        self.assertEqual(set(writer_arguments()), set(WRITER_KINDS))

    def test_too_small_buffer_grows(self):
        for path in (ZERO_COPY, LEGACY):
            for kind, args in writer_arguments().items():
                buf = bytearray(5)
                n = writer_for(kind, path).write(buf, *args)
                self.assertEqual(len(buf), n, f"{kind} on {path}")
                (view,) = parse(buf)
                self.assertEqual(
                    view.kind, kind.removesuffix("_forward"), f"{kind} on {path}"
                )

    def test_big_buffer_is_reused_not_shrunk(self):
        for path in (ZERO_COPY, LEGACY):
            for kind, args in writer_arguments().items():
                buf = bytearray(b"\xa5" * 4096)
                before = id(buf)
                n = writer_for(kind, path).write(buf, *args)
                self.assertEqual(len(buf), 4096, f"{kind} on {path}")
                self.assertEqual(id(buf), before)
                # Bytes past the frame are left alone: the caller sends [:n].
                self.assertEqual(buf[n:], b"\xa5" * (4096 - n), f"{kind} on {path}")

    def test_small_frame_after_a_large_one(self):
        for path in (ZERO_COPY, LEGACY):
            buf = bytearray()
            big = writer_for("downstream", path).write(
                buf, RSU, OBU2, bytes(1400), RSU, OBU1
            )
            small = writer_for("heartbeat", path).write(buf, RSU, 7, 1, 1, RSU)
            self.assertEqual(len(buf), big)
            (view,) = parse(memoryview(buf)[:small])
            self.assertEqual(
                (view.kind, view.dst, view.seq, view.hops),
                ("heartbeat", BROADCAST, 1, 1),
            )

    def test_writing_from_a_view_into_its_own_buffer_is_refused(self):
        # A view pins the received buffer (it holds a memoryview export), so
        # reusing that same bytearray as the output buffer while views are
        # alive fails loudly instead of corrupting them.
        received = bytearray(UPSTREAM)
        (view,) = parse(received)
        with self.assertRaises(BufferError):
            writers.write_downstream(received, RSU, OBU2, bytes(2000), RSU, OBU1)
        self.assertEqual(bytes(view.payload), INNER)


class WireErrorTests(SynchronousTestCase):
    def test_errors_say_what_is_wrong(self):
        header = RSU + OBU1
        cases = {
            header[:10]: "shorter than the 16-byte header",
            header + b"\x08\x00\x00\x00": "bad marker 0800",
            header + b"\x30\x30\x02\x00": "unknown packet type 2",
            header + b"\x30\x30\x00\x04": "unknown control subtype 4",
            header + b"\x30\x30\x01\x05": "unknown data subtype 5",
            HEARTBEAT[:-1]: "truncated heartbeat",
            SIGNED_HEARTBEAT[:-1]: "truncated signed heartbeat: needs 159 bytes",
            SIGNED_REPLY[:-1]: "truncated signed heartbeat reply: needs 132 bytes",
            # A plain heartbeat's length is no signed heartbeat.
            header + b"\x30\x30\x00\x02" + bytes(30): "truncated signed heartbeat",
            UPSTREAM[:20]: "truncated upstream",
            DOWNSTREAM[:27]: "truncated downstream",
        }
        for data, expected in cases.items():
            with self.assertRaises(WireError) as caught:
                parse_one(data)
            self.assertIn(expected, str(caught.exception))
            self.assertEqual(parse(data), [])

    def test_hop_count_at_its_limit_is_not_wrapped(self):
        # docs/protocol.md §2: a received 2**32 - 1 has no room for the extra
        # hop; writers refuse 2**32 instead of sending 0.
        frame = bytearray(HEARTBEAT)
        frame[36:40] = b"\xff\xff\xff\xff"
        (hb,) = parse(bytes(frame))
        for path in (ZERO_COPY, LEGACY):
            with self.assertRaises((struct.error, OverflowError)):
                writer_for("heartbeat_forward", path).write(
                    bytearray(), hb, OBU1, hb.hops + 1
                )
            with self.assertRaises((struct.error, OverflowError)):
                writer_for("heartbeat", path).write(bytearray(), RSU, 0, 0, 2**32, RSU)

    def test_signed_hop_count_at_its_limit_is_not_wrapped(self):
        frame = bytearray(SIGNED_HEARTBEAT)
        frame[36:40] = b"\xff\xff\xff\xff"
        (hb,) = parse(bytes(frame))
        for path in (ZERO_COPY, LEGACY):
            with self.assertRaises((struct.error, OverflowError)):
                writer_for("signed_heartbeat_forward", path).write(
                    bytearray(), hb, OBU1, hb.hops + 1, HOP_HASH
                )
