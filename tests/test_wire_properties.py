"""Property tests: for any field values the legacy and zero-copy writers
write the same bytes and ``parse`` gives the fields back; ``parse`` never
raises, whatever it is given."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import BROADCAST
from vanet.wire import (
    LEGACY,
    U32_MAX,
    ZERO_COPY,
    WireError,
    parse,
    parse_one,
    writer_for,
)

# At least 1,000 examples per property (issue 2); no deadline, because a
# shared CI machine's pauses are not failures.
EXAMPLES = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KINDS = {
    "heartbeat",
    "heartbeat_reply",
    "upstream",
    "downstream",
    "signed_heartbeat",
    "signed_heartbeat_reply",
}

macs = st.binary(min_size=6, max_size=6)
durations = st.integers(0, 2**128 - 1)
u32s = st.integers(0, U32_MAX)
# Writing a heartbeat adds one hop, so the value held must leave room.
held_hops = st.integers(0, U32_MAX - 1)
u8s = st.integers(0, 255)
hashes = st.binary(min_size=32, max_size=32)
signatures = st.binary(min_size=64, max_size=64)
payload_bytes = st.binary(max_size=1500)
buffer_types = st.sampled_from([bytes, bytearray, memoryview])
# The caller's reused buffer: any size, with stale bytes in it.
initial_sizes = st.integers(0, 1600)


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


# Frames built straight from the format table, independent of the writers.
def heartbeat_frame(dst, src, duration_ms, seq, hops, source) -> bytes:
    return (
        dst
        + src
        + b"\x30\x30\x00\x00"
        + duration_ms.to_bytes(16, "big")
        + u32(seq)
        + u32(hops)
        + source
    )


def reply_frame(dst, src, duration_ms, seq, hops, source, sender) -> bytes:
    body = heartbeat_frame(dst, src, duration_ms, seq, hops, source)[16:]
    return dst + src + b"\x30\x30\x00\x01" + body + sender


def signed_heartbeat_frame(
    dst, src, duration_ms, seq, hops, source, chain_length, top_hash, hop_hash, sig
) -> bytes:
    body = heartbeat_frame(dst, src, duration_ms, seq, hops, source)[16:]
    return (
        dst
        + src
        + b"\x30\x30\x00\x02"
        + body
        + bytes([chain_length])
        + top_hash
        + hop_hash
        + sig
    )


def signed_reply_frame(
    dst, src, duration_ms, seq, hops, source, sender, hop_hash, sig
) -> bytes:
    body = heartbeat_frame(dst, src, duration_ms, seq, hops, source)[16:]
    return dst + src + b"\x30\x30\x00\x03" + body + sender + hop_hash + sig


def upstream_frame(dst, src, origin, payload) -> bytes:
    return dst + src + b"\x30\x30\x01\x00" + origin + payload


def downstream_frame(dst, src, origin, destination, payload) -> bytes:
    return dst + src + b"\x30\x30\x01\x01" + origin + destination + payload


class WriterEquivalenceTests(SynchronousTestCase):
    def write_both(self, kind: str, initial_size: int, *args) -> bytes:
        """Write with both paths into stale buffers; check they agree, that
        the buffer grew only if too small, and return the frame."""
        frames = []
        for path in (LEGACY, ZERO_COPY):
            buf = bytearray(b"\xa5" * initial_size)
            n = writer_for(kind, path).write(buf, *args)
            self.assertEqual(len(buf), max(initial_size, n), path)
            frames.append(bytes(buf[:n]))
        legacy_frame, zero_copy_frame = frames
        self.assertEqual(zero_copy_frame, legacy_frame, kind)
        return zero_copy_frame

    def parse_single(self, frame: bytes):
        views = parse(frame)
        self.assertEqual(len(views), 1)
        self.assertEqual(bytes(views[0].raw), frame)
        return views[0]

    @EXAMPLES
    @given(macs, durations, u32s, held_hops, macs, initial_sizes)
    def test_heartbeat(self, src, duration_ms, seq, hops, source, initial_size):
        frame = self.write_both(
            "heartbeat", initial_size, src, duration_ms, seq, hops, source
        )
        view = self.parse_single(frame)
        self.assertEqual(view.kind, "heartbeat")
        self.assertEqual(
            (view.dst, view.src, view.duration_ms, view.seq, view.hops, view.source),
            (BROADCAST, src, duration_ms, seq, hops, source),
        )

    @EXAMPLES
    @given(macs, macs, durations, u32s, held_hops, macs, macs, initial_sizes)
    def test_heartbeat_forward(
        self, dst, src, duration_ms, seq, hops, source, relay, initial_size
    ):
        (hb,) = parse(heartbeat_frame(dst, src, duration_ms, seq, hops, source))
        frame = self.write_both("heartbeat_forward", initial_size, hb, relay, hops + 1)
        view = self.parse_single(frame)
        self.assertEqual(view.kind, "heartbeat")
        self.assertEqual(
            (view.dst, view.src, view.duration_ms, view.seq, view.hops, view.source),
            (BROADCAST, relay, duration_ms, seq, hops + 1, source),
        )

    @EXAMPLES
    @given(macs, macs, durations, u32s, u32s, macs, macs, macs, macs, initial_sizes)
    def test_heartbeat_reply(
        self,
        hb_dst,
        hb_src,
        duration_ms,
        seq,
        hops,
        source,
        sender,
        src,
        dst,
        initial_size,
    ):
        (hb,) = parse(heartbeat_frame(hb_dst, hb_src, duration_ms, seq, hops, source))
        frame = self.write_both("heartbeat_reply", initial_size, hb, sender, src, dst)
        view = self.parse_single(frame)
        self.assertEqual(view.kind, "heartbeat_reply")
        self.assertEqual(
            (
                view.dst,
                view.src,
                view.duration_ms,
                view.seq,
                view.hops,
                view.source,
                view.sender,
            ),
            (dst, src, duration_ms, seq, hops, source, sender),
        )

    @EXAMPLES
    @given(
        macs,
        durations,
        u32s,
        u32s,
        macs,
        u8s,
        hashes,
        hashes,
        signatures,
        initial_sizes,
    )
    def test_signed_heartbeat(
        self,
        src,
        duration_ms,
        seq,
        hops,
        source,
        chain_length,
        top_hash,
        hop_hash,
        signature,
        initial_size,
    ):
        fields = (duration_ms, seq, hops, source, chain_length, top_hash, hop_hash)
        frame = self.write_both(
            "signed_heartbeat", initial_size, src, *fields, signature
        )
        self.assertEqual(
            frame, signed_heartbeat_frame(BROADCAST, src, *fields, signature)
        )
        view = self.parse_single(frame)
        self.assertEqual(view.kind, "signed_heartbeat")
        self.assertEqual(
            (
                view.dst,
                view.src,
                view.duration_ms,
                view.seq,
                view.hops,
                view.source,
                view.chain_length,
                view.top_hash,
                view.hop_hash,
                view.signature,
            ),
            (BROADCAST, src, *fields, signature),
        )

    @EXAMPLES
    @given(
        macs,
        macs,
        durations,
        u32s,
        held_hops,
        macs,
        u8s,
        hashes,
        hashes,
        signatures,
        macs,
        hashes,
        initial_sizes,
    )
    def test_signed_heartbeat_forward(
        self,
        dst,
        src,
        duration_ms,
        seq,
        hops,
        source,
        chain_length,
        top_hash,
        hop_hash,
        signature,
        relay,
        next_hash,
        initial_size,
    ):
        received = signed_heartbeat_frame(
            dst,
            src,
            duration_ms,
            seq,
            hops,
            source,
            chain_length,
            top_hash,
            hop_hash,
            signature,
        )
        (hb,) = parse(received)
        frame = self.write_both(
            "signed_heartbeat_forward", initial_size, hb, relay, hops + 1, next_hash
        )
        # Only dst, src, hops and hop_hash differ from what was received.
        self.assertEqual(
            frame,
            BROADCAST
            + relay
            + received[12:36]
            + u32(hops + 1)
            + received[40:79]
            + next_hash
            + received[111:],
        )
        view = self.parse_single(frame)
        self.assertEqual(
            (view.kind, view.hops, view.hop_hash, view.signature),
            ("signed_heartbeat", hops + 1, next_hash, signature),
        )

    @EXAMPLES
    @given(
        macs,
        durations,
        u32s,
        u32s,
        macs,
        u8s,
        hashes,
        hashes,
        signatures,
        macs,
        hashes,
        signatures,
        macs,
        macs,
        initial_sizes,
    )
    def test_signed_heartbeat_reply(
        self,
        hb_src,
        duration_ms,
        seq,
        hops,
        source,
        chain_length,
        top_hash,
        hop_hash,
        rsu_signature,
        sender,
        received_hash,
        signature,
        src,
        dst,
        initial_size,
    ):
        heartbeat = (duration_ms, seq, hops, source)
        (hb,) = parse(
            signed_heartbeat_frame(
                BROADCAST,
                hb_src,
                *heartbeat,
                chain_length,
                top_hash,
                hop_hash,
                rsu_signature,
            )
        )
        args = (sender, received_hash, signature, src, dst)
        frame = self.write_both("signed_heartbeat_reply", initial_size, hb, *args)
        self.assertEqual(
            frame,
            signed_reply_frame(dst, src, *heartbeat, sender, received_hash, signature),
        )
        view = self.parse_single(frame)
        self.assertEqual(
            (
                view.kind,
                view.dst,
                view.src,
                view.duration_ms,
                view.seq,
                view.hops,
                view.source,
                view.sender,
                view.hop_hash,
                view.signature,
            ),
            ("signed_heartbeat_reply", dst, src, *heartbeat, *args[:3]),
        )

    @EXAMPLES
    @given(
        macs,
        macs,
        durations,
        u32s,
        u32s,
        macs,
        macs,
        hashes,
        signatures,
        st.booleans(),
        macs,
        macs,
        initial_sizes,
    )
    def test_signed_heartbeat_reply_forward(
        self,
        dst,
        src,
        duration_ms,
        seq,
        hops,
        source,
        sender,
        hop_hash,
        signature,
        after_control,
        relay,
        next_hop,
        initial_size,
    ):
        fields = (duration_ms, seq, hops, source, sender, hop_hash, signature)
        received = signed_reply_frame(dst, src, *fields)
        if after_control:
            # The reply then sits at an offset in the received buffer.
            received = heartbeat_frame(dst, src, 1, 2, 3, source) + received
        reply = parse(received)[-1]
        frame = self.write_both(
            "signed_heartbeat_reply_forward", initial_size, reply, relay, next_hop
        )
        self.assertEqual(frame, signed_reply_frame(next_hop, relay, *fields))
        # Forwarding with the reply writer, as the plain reply is forwarded,
        # writes the same bytes.
        self.assertEqual(
            self.write_both(
                "signed_heartbeat_reply",
                initial_size,
                reply,
                reply.sender,
                reply.hop_hash,
                reply.signature,
                relay,
                next_hop,
            ),
            frame,
        )

    @EXAMPLES
    @given(macs, payload_bytes, buffer_types, macs, macs, initial_sizes)
    def test_upstream(self, origin, payload, buffer_type, src, dst, initial_size):
        frame = self.write_both(
            "upstream", initial_size, origin, buffer_type(payload), src, dst
        )
        view = self.parse_single(frame)
        self.assertEqual(view.kind, "upstream")
        self.assertEqual(
            (view.dst, view.src, view.origin, bytes(view.payload)),
            (dst, src, origin, payload),
        )

    @EXAMPLES
    @given(macs, macs, payload_bytes, buffer_types, macs, macs, initial_sizes)
    def test_downstream(
        self, origin, destination, payload, buffer_type, src, dst, initial_size
    ):
        frame = self.write_both(
            "downstream",
            initial_size,
            origin,
            destination,
            buffer_type(payload),
            src,
            dst,
        )
        view = self.parse_single(frame)
        self.assertEqual(view.kind, "downstream")
        self.assertEqual(
            (
                view.dst,
                view.src,
                view.origin,
                view.destination,
                bytes(view.payload),
            ),
            (dst, src, origin, destination, payload),
        )

    @EXAMPLES
    @given(macs, macs, macs, payload_bytes, st.booleans(), macs, macs, initial_sizes)
    def test_upstream_forward(
        self, dst, src, origin, payload, after_control, relay, next_hop, initial_size
    ):
        received = upstream_frame(dst, src, origin, payload)
        if after_control:
            # The data message then sits at an offset in the received buffer.
            received = heartbeat_frame(dst, src, 1, 2, 3, origin) + received
        up = parse(received)[-1]
        frame = self.write_both("upstream_forward", initial_size, up, relay, next_hop)
        view = self.parse_single(frame)
        self.assertEqual(
            (view.kind, view.dst, view.src, view.origin, bytes(view.payload)),
            ("upstream", next_hop, relay, origin, payload),
        )

    @EXAMPLES
    @given(
        macs,
        macs,
        macs,
        macs,
        payload_bytes,
        st.booleans(),
        macs,
        macs,
        initial_sizes,
    )
    def test_downstream_forward(
        self,
        dst,
        src,
        origin,
        destination,
        payload,
        after_control,
        relay,
        next_hop,
        initial_size,
    ):
        received = downstream_frame(dst, src, origin, destination, payload)
        if after_control:
            received = heartbeat_frame(dst, src, 1, 2, 3, origin) + received
        down = parse(received)[-1]
        frame = self.write_both(
            "downstream_forward", initial_size, down, relay, next_hop
        )
        view = self.parse_single(frame)
        self.assertEqual(
            (
                view.kind,
                view.dst,
                view.src,
                view.origin,
                view.destination,
                bytes(view.payload),
            ),
            ("downstream", next_hop, relay, origin, destination, payload),
        )


# Inputs for the never-raises property: plain noise rarely gets past the
# marker, so also mix valid frames, truncations and corrupted bytes.
valid_frames = st.one_of(
    st.builds(heartbeat_frame, macs, macs, durations, u32s, u32s, macs),
    st.builds(reply_frame, macs, macs, durations, u32s, u32s, macs, macs),
    st.builds(upstream_frame, macs, macs, macs, st.binary(max_size=64)),
    st.builds(downstream_frame, macs, macs, macs, macs, st.binary(max_size=64)),
    st.builds(
        signed_heartbeat_frame,
        macs,
        macs,
        durations,
        u32s,
        u32s,
        macs,
        u8s,
        hashes,
        hashes,
        signatures,
    ),
    st.builds(
        signed_reply_frame,
        macs,
        macs,
        durations,
        u32s,
        u32s,
        macs,
        macs,
        hashes,
        signatures,
    ),
)


@st.composite
def received_buffers(draw) -> bytes:
    parts = draw(st.lists(st.one_of(valid_frames, st.binary(max_size=64)), max_size=4))
    data = b"".join(parts)
    if data and draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    if data and draw(st.booleans()):
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([draw(st.integers(0, 255))]) + data[index + 1 :]
    return data


class ParseNeverRaisesTests(SynchronousTestCase):
    @EXAMPLES
    @given(st.one_of(st.binary(max_size=300), received_buffers()), buffer_types)
    def test_parse_never_raises(self, data, buffer_type):
        views = parse(buffer_type(data))
        self.assertIsInstance(views, list)
        # What was parsed is a run of whole messages from the start.
        offset = 0
        for view in views:
            self.assertIn(view.kind, KINDS)
            length = len(view.raw)
            self.assertEqual(bytes(view.raw), data[offset : offset + length])
            offset += length
        if views and views[-1].kind in ("upstream", "downstream"):
            self.assertEqual(offset, len(data))
        # parse_one agrees: it raises WireError exactly when parse finds none.
        if views:
            self.assertEqual(bytes(parse_one(data).raw), bytes(views[0].raw))
        else:
            self.assertRaises(WireError, parse_one, data)
