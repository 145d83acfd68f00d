"""The authentication gate (``vanet.auth``, docs/protocol.md §2.7): what a
node with ``[security] authenticate = yes`` lets through to its routing
core, and what it refuses, counted under which name."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from tests.vectors import load_vectors
from vanet.auth import AuthGate, VerifiedHeartbeat, VerifiedReply, first_seq
from vanet.identity import (
    DEFAULT_CHAIN_LENGTH,
    Identity,
    TrustStore,
    chain_step,
    parse_trust,
    trust_line,
)
from vanet.node.testing import heartbeat_view, reply_view
from vanet.wire import parse, writer_for
from vanet.wire.views import SignedHeartbeatView

RSU = bytes.fromhex("020000000001")
RELAY = bytes.fromhex("020000000011")
OBU = bytes.fromhex("020000000012")
OUTSIDER = bytes.fromhex("02a77ac00001")  # in no trust file
KEYS = {mac: Identity.generate() for mac in (RSU, RELAY, OBU, OUTSIDER)}
ROLES = {RSU: "rsu", RELAY: "obu", OBU: "obu"}
TRUST = TrustStore.of({mac: (ROLES[mac], KEYS[mac]) for mac in ROLES})
PERIOD_MS = 1000

_hb = writer_for("signed_heartbeat").write
_forward = writer_for("signed_heartbeat_forward").write
_reply = writer_for("signed_heartbeat_reply").write


def gate(mac: bytes, role: str | None = None, history: int = 10) -> AuthGate:
    return AuthGate(
        mac,
        role or ROLES[mac],
        KEYS[mac],
        TrustStore(TRUST.entries),
        history=history,
    )


def frame(write, *args) -> bytes:
    buf = bytearray()
    return bytes(buf[: write(buf, *args)])


def view(data: bytes):
    (msg,) = parse(data)
    return msg


def signed_heartbeat(rsu: AuthGate, seq: int, src: bytes = RSU, hops: int = 1):
    """The RSU's heartbeat ``seq`` as heard ``hops`` hops out (from ``src``),
    each relay having stepped the chain."""
    duration = seq * PERIOD_MS
    fields = rsu.heartbeat_fields(rsu.mac, seq, duration, 1)
    data = frame(_hb, rsu.mac, duration, seq, 1, rsu.mac, *fields)
    for h in range(2, hops + 1):
        hb = view(data)
        data = frame(_forward, hb, src, h, chain_step(hb.hop_hash))
    return data


def signed_reply(obu: AuthGate, hb_frame: bytes, dst: bytes) -> bytes:
    """``obu``'s reply to the heartbeat it heard as ``hb_frame``."""
    hb = view(hb_frame)
    signature = obu.reply_signature(hb)
    return frame(_reply, hb, obu.mac, hb.hop_hash, signature, obu.mac, dst)


def patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


class HeartbeatTests(SynchronousTestCase):
    def setUp(self):
        self.rsu = gate(RSU)
        self.obu = gate(OBU)

    def assertRefused(self, gate_, data: bytes, reason: str) -> None:
        before = gate_.drops[reason]
        msg = view(data)
        self.assertIsNone(gate_.admit(msg))
        self.assertEqual(gate_.drops[reason], before + 1, dict(gate_.drops))
        self.assertIsInstance(msg, SignedHeartbeatView)
        self.assertNotEqual(msg.kind, "heartbeat")

    def test_a_signed_heartbeat_reaches_the_core_as_a_heartbeat(self):
        data = signed_heartbeat(self.rsu, 5, RELAY, hops=2)
        msg = self.obu.admit(view(data))
        self.assertIsInstance(msg, VerifiedHeartbeat)
        self.assertEqual(
            (msg.kind, msg.source, msg.seq, msg.hops, msg.duration_ms),
            ("heartbeat", RSU, 5, 2, 5000),
        )
        self.assertEqual(self.obu.counters["heartbeat_verified"], 1)
        self.assertEqual(dict(self.obu.drops), {})

    def test_copies_cost_a_chain_check_not_a_signature(self):
        self.obu.admit(view(signed_heartbeat(self.rsu, 1)))
        for hops in (1, 2, 3, 2):
            data = signed_heartbeat(self.rsu, 1, RELAY, hops=hops)
            self.assertIsNotNone(self.obu.admit(view(data)))
        self.assertEqual(self.obu.counters["heartbeat_verified"], 1)
        self.assertEqual(self.obu.counters["heartbeat_copy_checked"], 4)

    def test_forged_signature(self):
        data = signed_heartbeat(self.rsu, 1)
        forged = patched(data, 111, bytes(64))
        self.assertRefused(self.obu, forged, "bad_signature")
        # One bit of duration changed under the RSU's signature.
        self.assertRefused(
            self.obu, patched(data, 31, bytes([data[31] ^ 1])), "bad_signature"
        )
        # A forged copy of a verified heartbeat: not a copy, a forgery.
        self.obu.admit(view(data))
        self.assertRefused(self.obu, forged, "bad_signature")

    def test_unknown_key(self):
        outsider = AuthGate(OUTSIDER, "rsu", KEYS[OUTSIDER], TRUST)
        self.assertRefused(
            self.obu, signed_heartbeat(outsider, 1, RELAY), "unknown_key"
        )

    def test_wrong_role(self):
        # A trusted OBU signing heartbeats as if it were an RSU.
        posing = AuthGate(RELAY, "rsu", KEYS[RELAY], TRUST)
        self.assertRefused(self.obu, signed_heartbeat(posing, 1), "wrong_role")

    def test_a_relay_cannot_shorten_the_hop_count(self):
        three = signed_heartbeat(self.rsu, 1, RELAY, hops=3)
        # The same hop hash with fewer hops claimed.
        for hops in (1, 2):
            self.assertRefused(
                self.obu, patched(three, 36, hops.to_bytes(4, "big")), "bad_chain"
            )
        # hops 0, and beyond the end of the chain.
        for hops in (0, DEFAULT_CHAIN_LENGTH + 1):
            self.assertRefused(
                self.obu, patched(three, 36, hops.to_bytes(4, "big")), "bad_chain"
            )
        # Made-up hop hash.
        self.assertRefused(self.obu, patched(three, 79, bytes(32)), "bad_chain")
        # Lengthening is what relaying is: accepted.
        self.assertIsNotNone(self.obu.admit(view(three)))
        self.assertIsNotNone(
            self.obu.admit(view(signed_heartbeat(self.rsu, 1, RELAY, hops=4)))
        )
        # And once it is known, a shorter claim is still refused.
        self.assertRefused(
            self.obu, patched(three, 36, (2).to_bytes(4, "big")), "bad_chain"
        )

    def test_an_old_heartbeat_replayed_is_refused_before_any_check(self):
        for seq in range(20, 31):
            self.assertIsNotNone(self.obu.admit(view(signed_heartbeat(self.rsu, seq))))
        verified = self.obu.counters["heartbeat_verified"]
        # Captured long ago, signature valid: 10 or more seqs behind.
        self.assertRefused(self.obu, signed_heartbeat(self.rsu, 20), "replay")
        self.assertRefused(self.obu, signed_heartbeat(self.rsu, 0), "replay")
        self.assertEqual(self.obu.counters["heartbeat_verified"], verified)
        # A straggler inside the history is the core's to judge.
        self.assertIsNotNone(self.obu.admit(view(signed_heartbeat(self.rsu, 25))))

    def test_what_is_held_is_bounded_by_the_history(self):
        for seq in range(100):
            self.obu.admit(view(signed_heartbeat(self.rsu, seq)))
        self.assertEqual(self.obu.counters["heartbeat_verified"], 100)
        self.assertEqual(
            self.obu.memory(),
            {"sources": 1, "heartbeats_per_source": 20, "signed_heartbeats": 0},
        )
        self.assertEqual(self.rsu.memory()["signed_heartbeats"], 20)

    def test_plain_heartbeats_and_replies_are_unsigned(self):
        self.assertIsNone(self.obu.admit(heartbeat_view(RELAY, RSU, 1, hops=2)))
        self.assertIsNone(self.rsu.admit(reply_view(OBU, RSU, RSU, 1, OBU)))
        self.assertEqual(self.obu.drops["unsigned"], 1)
        self.assertEqual(self.rsu.drops["unsigned"], 1)

    def test_an_rsu_learns_nothing_from_heartbeats(self):
        other = gate(RSU)
        self.assertIsNone(other.admit(view(signed_heartbeat(self.rsu, 1, RELAY, 2))))
        self.assertEqual(other.counters["heartbeat_ignored"], 1)

    def test_one_signature_and_one_chain_per_seq(self):
        a = self.rsu.heartbeat_fields(RSU, 7, 7000, 1)
        b = self.rsu.heartbeat_fields(RSU, 7, 7000, 1)
        c = self.rsu.heartbeat_fields(RSU, 8, 8000, 1)
        self.assertEqual(a, b)
        self.assertNotEqual(a[1], c[1])  # a fresh chain top per heartbeat
        self.assertEqual(self.rsu.counters["heartbeat_signed"], 2)

    def test_relays_stop_at_the_end_of_the_chain(self):
        last = signed_heartbeat(self.rsu, 1, RELAY, hops=DEFAULT_CHAIN_LENGTH)
        hb = self.obu.admit(view(last))
        self.assertIsNotNone(hb)
        self.assertIsNone(self.obu.relay_hash(hb, DEFAULT_CHAIN_LENGTH + 1))
        self.assertEqual(self.obu.counters["heartbeat_not_relayed_chain"], 1)

    def test_a_new_trust_file_is_applied_at_once(self):
        data = signed_heartbeat(self.rsu, 1)
        self.assertIsNotNone(self.obu.admit(view(data)))
        # The RSU's key is withdrawn (SIGHUP reload): even a copy of what
        # verified before is refused.
        self.obu.trust.replace(
            TrustStore.of({OBU: ("obu", KEYS[OBU]), RELAY: ("obu", KEYS[RELAY])})
        )
        self.assertRefused(self.obu, data, "unknown_key")

    def test_a_reload_does_not_reopen_old_heartbeats_to_replay(self):
        for seq in range(20, 31):
            self.obu.admit(view(signed_heartbeat(self.rsu, seq)))
        self.obu.trust.replace(TrustStore(dict(TRUST.entries)))
        self.assertRefused(self.obu, signed_heartbeat(self.rsu, 20), "replay")
        # What was verified is verified again under the reloaded keys.
        verified = self.obu.counters["heartbeat_verified"]
        self.assertIsNotNone(self.obu.admit(view(signed_heartbeat(self.rsu, 30))))
        self.assertEqual(self.obu.counters["heartbeat_verified"], verified + 1)


class ReplyTests(SynchronousTestCase):
    """RSU - RELAY - OBU: OBU answers the heartbeat RELAY passed on."""

    def setUp(self):
        self.rsu, self.relay, self.obu = gate(RSU), gate(RELAY), gate(OBU)
        self.heartbeats = {}
        for seq in range(3):
            one = signed_heartbeat(self.rsu, seq)
            two = signed_heartbeat(self.rsu, seq, RELAY, hops=2)
            self.relay.admit(view(one))
            self.obu.admit(view(two))
            self.heartbeats[seq] = two

    def reply(self, seq: int, dst: bytes = RELAY) -> bytes:
        return signed_reply(self.obu, self.heartbeats[seq], dst)

    def assertRefused(self, gate_, data: bytes, reason: str) -> None:
        before = gate_.drops[reason]
        self.assertIsNone(gate_.admit(view(data)))
        self.assertEqual(gate_.drops[reason], before + 1, dict(gate_.drops))

    def test_a_signed_reply_is_admitted_by_the_relay_and_the_rsu(self):
        data = self.reply(2)
        for gate_ in (self.relay, self.rsu):
            msg = gate_.admit(view(data))
            self.assertIsInstance(msg, VerifiedReply)
            self.assertEqual(
                (msg.kind, msg.sender, msg.hops, msg.seq),
                ("heartbeat_reply", OBU, 2, 2),
            )

    def test_a_replayed_reply_is_refused(self):
        data = self.reply(1)
        self.assertIsNotNone(self.rsu.admit(view(data)))
        self.assertRefused(self.rsu, data, "replay")
        # Relayed by someone else (only dst and src differ): still a replay.
        self.assertRefused(self.rsu, patched(data, 6, OUTSIDER), "replay")
        # An older one, not seen yet, is inside the window: accepted once.
        self.assertIsNotNone(self.rsu.admit(view(self.reply(0))))
        self.assertRefused(self.rsu, self.reply(0), "replay")

    def test_a_replay_costs_no_signature_check(self):
        data = self.reply(1)
        self.rsu.admit(view(data))
        broken = patched(data, 84, bytes(64))
        self.assertRefused(self.rsu, broken, "replay")

    def test_a_forged_reply_does_not_use_up_the_real_one(self):
        data = self.reply(2)
        self.assertRefused(self.rsu, patched(data, 84, bytes(64)), "bad_signature")
        self.assertIsNotNone(self.rsu.admit(view(data)))

    def test_the_hop_count_must_be_the_one_the_chain_proves(self):
        data = self.reply(2)
        for hops in (1, 3):
            forged = patched(data, 36, hops.to_bytes(4, "big"))
            self.assertRefused(self.relay, forged, "bad_chain")
            self.assertRefused(self.rsu, forged, "bad_chain")

    def test_unknown_key_and_wrong_role(self):
        outsider = AuthGate(OUTSIDER, "obu", KEYS[OUTSIDER], TRUST)
        self.assertRefused(
            self.rsu, signed_reply(outsider, self.heartbeats[2], RSU), "unknown_key"
        )
        posing = AuthGate(RSU, "obu", KEYS[RSU], TRUST)  # the RSU's key
        hb = view(self.heartbeats[2])
        data = frame(
            _reply, hb, RSU, hb.hop_hash, posing.reply_signature(hb), RELAY, RSU
        )
        self.assertRefused(self.rsu, data, "wrong_role")

    def test_a_reply_to_a_heartbeat_never_verified(self):
        other = gate(RSU)  # a restarted RSU: it signed none of these
        self.assertRefused(other, self.reply(2), "unknown_heartbeat")
        stranger = gate(OBU)
        self.assertRefused(stranger, self.reply(2), "unknown_heartbeat")

    def test_the_reply_signature_covers_what_the_rsu_uses(self):
        data = self.reply(2)
        for offset in (16, 32, 40, 46):  # duration, seq, source, sender
            forged = patched(data, offset + 3, bytes([data[offset + 3] ^ 1]))
            self.assertIsNone(self.rsu.admit(view(forged)))
        self.assertEqual(self.rsu.counters["reply_verified"], 0)
        self.assertIsNotNone(self.rsu.admit(view(data)))


class FirstSeqTests(SynchronousTestCase):
    def test_a_restarted_rsu_never_goes_back(self):
        # At most one heartbeat a period, never ahead of the clock: the
        # last seq sent before a restart at t is at most first_seq(t).
        period = 0.2
        start = 1_764_500_000.123
        sent = first_seq(start, period) + int((60.0 - 1e-9) / period)
        for restart_after in (60.0, 60.05, 61.0, 3600.0):
            self.assertGreaterEqual(
                first_seq(start + restart_after, period) - sent, 0, restart_after
            )
        self.assertEqual(first_seq(0.0, 1.0), 0)


# Offsets of the signed heartbeat's body (docs/protocol.md §2.7).
BODY = range(16, 175)


class HostileBytesTests(SynchronousTestCase):
    rsu = gate(RSU)
    data = signed_heartbeat(rsu, 3, RELAY, hops=2)

    @settings(max_examples=300, deadline=None)
    @given(st.sampled_from(list(BODY)), st.integers(min_value=1, max_value=255))
    def test_any_changed_body_byte_is_refused(self, offset, flip):
        obu = gate(OBU)
        changed = patched(self.data, offset, bytes([self.data[offset] ^ flip]))
        msgs = parse(changed)
        self.assertEqual(len(msgs), 1)
        self.assertIsNone(obu.admit(msgs[0]))
        self.assertEqual(sum(obu.drops.values()), 1, dict(obu.drops))

    @settings(max_examples=200, deadline=None)
    @given(st.integers(min_value=0, max_value=174), st.binary(max_size=200))
    def test_truncated_or_extended_frames_never_pass_as_a_changed_one(self, cut, tail):
        obu = gate(OBU)
        for msg in parse(self.data[:cut] + tail):
            admitted = obu.admit(msg)
            if admitted is not None:
                # Only the untouched heartbeat itself can pass.
                self.assertEqual(bytes(admitted.raw)[16:], self.data[16:])


class VectorTests(SynchronousTestCase):
    """The signed vectors of tests/vectors/wire.json are frames an
    authenticating node accepts from the vectors' keys."""

    def gate_of(self, mac: bytes) -> AuthGate:
        vectors = {v["name"]: v for v in load_vectors()["valid"]}
        keys = {
            RSU: vectors["signed_rsu_heartbeat"]["signing"][0]["public_key"],
            RELAY: vectors["signed_heartbeat_reply"]["signing"][0]["public_key"],
            OBU: vectors["signed_reply_to_relay"]["signing"][0]["public_key"],
        }
        text = "\n".join(
            trust_line(m, ROLES[m], bytes.fromhex(k)) for m, k in keys.items()
        )
        trust = TrustStore(parse_trust(text, "vectors"))
        self.vectors = vectors
        return AuthGate(mac, ROLES[mac], Identity.generate(), trust)

    def frame(self, name: str):
        return view(bytes.fromhex(self.vectors[name]["hex"]))

    def test_the_signed_vectors_are_accepted(self):
        relay = self.gate_of(RELAY)
        self.assertIsNotNone(relay.admit(self.frame("signed_rsu_heartbeat")))
        self.assertIsNotNone(relay.admit(self.frame("signed_reply_to_relay")))
        obu = self.gate_of(OBU)
        self.assertIsNotNone(obu.admit(self.frame("signed_heartbeat_relayed")))
        far = self.gate_of(OBU)
        self.assertIsNotNone(far.admit(self.frame("signed_heartbeat_large_fields")))
        for gate_ in (relay, obu, far):
            self.assertEqual(dict(gate_.drops), {})
