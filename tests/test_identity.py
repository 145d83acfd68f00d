"""vanet.identity: node identities, the trust file, what is signed, the hop
hash chain and the replay window (issue 10, item 3; Done means 4)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from vanet.identity import (
    BAD_SIGNATURE,
    DEFAULT_CHAIN_LENGTH,
    UNKNOWN_KEY,
    WRONG_ROLE,
    HopChain,
    Identity,
    IdentityFileError,
    ReplayWindow,
    ReplayWindows,
    TrustFileError,
    TrustStore,
    chain_at,
    chain_step,
    chain_top,
    chain_verify,
    heartbeat_signed_bytes,
    load_identity,
    load_trust,
    reply_signed_bytes,
    serial_newer,
    trust_line,
)

RSU_MAC = bytes.fromhex("020000000001")
OBU_MAC = bytes.fromhex("020000000012")
RSU = Identity.generate()
OBU = Identity.generate()
OUTSIDER = Identity.generate()


class FileCase(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vanet-id-")
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, name: str, data: bytes | str, mode: int = 0o600) -> str:
        path = os.path.join(self.dir, name)
        if isinstance(data, str):
            data = data.encode()
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path


class IdentityFileTests(FileCase):
    def test_written_key_loads_with_the_same_public_key(self):
        path = self.write("node.key", RSU.private_pem())
        loaded = load_identity(path)
        self.assertEqual(loaded.public_bytes, RSU.public_bytes)
        self.assertEqual(loaded.source, path)
        # Ed25519 signatures are deterministic: the same key signs alike.
        self.assertEqual(loaded.sign(b"vanet"), RSU.sign(b"vanet"))

    def test_group_or_other_access_is_refused(self):
        for mode in (0o644, 0o640, 0o604, 0o660):
            path = self.write("node.key", RSU.private_pem(), mode)
            with self.assertRaises(IdentityFileError) as caught:
                load_identity(path)
            message = str(caught.exception)
            self.assertIn(path, message)
            self.assertIn(f"{mode:04o}", message)
            self.assertIn(f"chmod 600 {path}", message)

    def test_owner_read_only_is_accepted(self):
        path = self.write("node.key", RSU.private_pem(), 0o400)
        self.assertEqual(load_identity(path).public_bytes, RSU.public_bytes)

    def test_not_a_key(self):
        for data in (b"", b"hello", os.urandom(32), RSU.public_bytes * 2):
            path = self.write("node.key", data)
            with self.assertRaises(IdentityFileError) as caught:
                load_identity(path)
            self.assertIn("not an Ed25519 private key", str(caught.exception))
            self.assertIn(path, str(caught.exception))

    def test_other_algorithm_is_refused(self):
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.write("node.key", pem)
        with self.assertRaises(IdentityFileError) as caught:
            load_identity(path)
        self.assertIn("not an Ed25519 private key", str(caught.exception))

    def test_encrypted_key_is_refused(self):
        pem = RSU.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        path = self.write("node.key", pem)
        with self.assertRaises(IdentityFileError) as caught:
            load_identity(path)
        self.assertIn("encrypted", str(caught.exception))

    def test_missing_file_and_directory(self):
        absent = os.path.join(self.dir, "absent.key")
        with self.assertRaises(IdentityFileError) as caught:
            load_identity(absent)
        self.assertIn(absent, str(caught.exception))
        self.assertIn("No such file", str(caught.exception))
        self.assertRaises(IdentityFileError, load_identity, self.dir)

    def test_fifo_is_refused_without_hanging(self):
        path = os.path.join(self.dir, "fifo")
        os.mkfifo(path, 0o600)
        with self.assertRaises(IdentityFileError) as caught:
            load_identity(path)
        self.assertIn("not a regular file", str(caught.exception))

    def test_openssl_key_is_accepted(self):
        openssl = shutil.which("openssl")
        if openssl is None:
            self.skipTest("no openssl command here")
        path = os.path.join(self.dir, "openssl.key")
        subprocess.run(
            [openssl, "genpkey", "-algorithm", "ed25519", "-out", path],
            check=True,
            capture_output=True,
        )
        os.chmod(path, 0o600)
        self.assertEqual(len(load_identity(path).public_bytes), 32)


def good_trust_text() -> str:
    return (
        "# the road-side unit\n"
        f"02:00:00:00:00:01 rsu {RSU.public_text}\n"
        "\n"
        f"02-00-00-00-00-12   obu   {OBU.public_bytes.hex()}   # hex works too\n"
    )


class TrustFileTests(FileCase):
    def trust(self, text: str, mode: int = 0o644) -> str:
        return self.write("trust", text, mode)

    def fails(self, text: str, line: int, *fragments: str) -> str:
        path = self.trust(text)
        with self.assertRaises(TrustFileError) as caught:
            load_trust(path)
        message = str(caught.exception)
        self.assertEqual(len(message.splitlines()), 1, message)
        self.assertIn(f"trust file {path}, line {line}:", message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message

    def test_good_file(self):
        store = load_trust(self.trust(good_trust_text()))
        self.assertEqual(len(store), 2)
        self.assertEqual(store.get(RSU_MAC).role, "rsu")
        self.assertEqual(store.get(RSU_MAC).public_bytes, RSU.public_bytes)
        self.assertEqual(store.get(OBU_MAC).role, "obu")
        self.assertEqual(store.get(OBU_MAC).public_bytes, OBU.public_bytes)

    def test_keygen_line_round_trips(self):
        store = load_trust(self.trust(trust_line(RSU_MAC, "rsu", RSU.public_bytes)))
        self.assertEqual(store.get(RSU_MAC).public_bytes, RSU.public_bytes)

    def test_empty_file_is_an_empty_store(self):
        self.assertEqual(len(load_trust(self.trust("# nobody yet\n\n"))), 0)

    def test_bad_mac(self):
        self.fails(
            good_trust_text() + f"02:00:00:00:01 obu {OBU.public_text}\n",
            5,
            "bad MAC '02:00:00:00:01'",
        )

    def test_group_broadcast_and_zero_macs(self):
        for mac, what in (
            ("ff:ff:ff:ff:ff:ff", "group or broadcast"),
            ("01:00:5e:00:00:01", "group or broadcast"),
            ("00:00:00:00:00:00", "zero address"),
        ):
            self.fails(f"{mac} rsu {RSU.public_text}\n", 1, mac, what)

    def test_unknown_role(self):
        self.fails(
            f"# x\n02:00:00:00:00:01 car {RSU.public_text}\n",
            2,
            "unknown role 'car'",
            "rsu, obu",
        )

    def test_bad_keys(self):
        for key in (
            RSU.public_text[:-4],  # 29 bytes
            base64.b64encode(os.urandom(33)).decode(),
            RSU.public_bytes.hex()[:-1] + "g",
            "not-a-key!",
            RSU.public_text.replace("=", "") + "A",
        ):
            self.fails(f"02:00:00:00:00:01 rsu {key}\n", 1, "bad public key")

    def test_duplicate_mac_names_both_lines(self):
        self.fails(
            good_trust_text() + f"02:00:00:00:00:01 obu {OBU.public_text}\n",
            5,
            "duplicate MAC 02:00:00:00:00:01",
            "line 2",
        )

    def test_wrong_number_of_fields(self):
        self.fails("02:00:00:00:00:01 rsu\n", 1, "got 2 fields")
        self.fails(f"02:00:00:00:00:01 rsu {RSU.public_text} x\n", 1, "got 4")

    def test_not_utf8_names_the_line(self):
        path = self.write("trust", good_trust_text().encode() + b"\xff\xfe\n", 0o644)
        with self.assertRaises(TrustFileError) as caught:
            load_trust(path)
        self.assertIn("line 5: not UTF-8", str(caught.exception))

    def test_writable_by_group_or_others_is_refused(self):
        for mode in (0o664, 0o646, 0o666, 0o620):
            path = self.trust(good_trust_text(), mode)
            with self.assertRaises(TrustFileError) as caught:
                load_trust(path)
            message = str(caught.exception)
            self.assertIn(path, message)
            self.assertIn(f"{mode:04o}", message)
            self.assertIn("writable by group or others", message)

    def test_world_readable_is_accepted(self):
        for mode in (0o644, 0o600, 0o444):
            self.assertEqual(len(load_trust(self.trust(good_trust_text(), mode))), 2)

    def test_missing_file(self):
        absent = os.path.join(self.dir, "absent")
        with self.assertRaises(TrustFileError) as caught:
            load_trust(absent)
        self.assertIn(f"trust file {absent}: cannot read it", str(caught.exception))


def heartbeat(seq: int = 7, top: bytes = b"\x11" * 32) -> bytes:
    return heartbeat_signed_bytes(RSU_MAC, seq, 123456, DEFAULT_CHAIN_LENGTH, top)


class VerifyTests(FileCase):
    def setUp(self):
        super().setUp()
        self.store = load_trust(self.write("trust", good_trust_text(), 0o644))

    def test_genuine_signatures_verify(self):
        message = heartbeat()
        self.assertTrue(self.store.verify(RSU_MAC, "rsu", message, RSU.sign(message)))
        reply = reply_signed_bytes(RSU_MAC, 7, 123456, OBU_MAC, b"\x22" * 32)
        self.assertTrue(self.store.verify(OBU_MAC, "obu", reply, OBU.sign(reply)))
        # memoryviews, as the wire's views give them
        self.assertTrue(
            self.store.verify(
                memoryview(RSU_MAC),
                "rsu",
                memoryview(message),
                memoryview(RSU.sign(message)),
            )
        )

    def test_unknown_sender(self):
        message = heartbeat()
        stranger = bytes.fromhex("020000000099")
        self.assertEqual(
            self.store.check(stranger, "rsu", message, OUTSIDER.sign(message)),
            UNKNOWN_KEY,
        )

    def test_key_not_in_the_trust_file_signing_as_a_known_mac(self):
        message = heartbeat()
        self.assertEqual(
            self.store.check(RSU_MAC, "rsu", message, OUTSIDER.sign(message)),
            BAD_SIGNATURE,
        )
        self.assertFalse(
            self.store.verify(RSU_MAC, "rsu", message, OUTSIDER.sign(message))
        )

    def test_an_obu_cannot_sign_heartbeats(self):
        message = heartbeat_signed_bytes(OBU_MAC, 1, 0, 32, b"\x00" * 32)
        self.assertEqual(
            self.store.check(OBU_MAC, "rsu", message, OBU.sign(message)), WRONG_ROLE
        )

    def test_any_changed_byte_fails(self):
        message = heartbeat()
        signature = RSU.sign(message)
        for i in range(len(message)):
            changed = bytearray(message)
            changed[i] ^= 0x01
            self.assertFalse(
                self.store.verify(RSU_MAC, "rsu", bytes(changed), signature), i
            )
        for i in range(len(signature)):
            changed = bytearray(signature)
            changed[i] ^= 0x80
            self.assertFalse(
                self.store.verify(RSU_MAC, "rsu", message, bytes(changed)), i
            )

    def test_a_heartbeat_signature_is_no_reply_signature(self):
        # Same signer in both roles would still be told apart by the prefix.
        hb = heartbeat_signed_bytes(OBU_MAC, 7, 5, 32, b"\x22" * 32)
        rp = reply_signed_bytes(OBU_MAC, 7, 5, OBU_MAC, b"\x22" * 32)
        self.assertFalse(self.store.verify(OBU_MAC, "obu", rp, OBU.sign(hb)))

    def test_cached_answers_stay_right(self):
        message = heartbeat()
        good, bad = RSU.sign(message), OUTSIDER.sign(message)
        for _ in range(3):
            self.assertTrue(self.store.verify(RSU_MAC, "rsu", message, good))
            self.assertFalse(self.store.verify(RSU_MAC, "rsu", message, bad))

    def test_replace_takes_the_new_keys_in_place(self):
        message = heartbeat()
        signature = RSU.sign(message)
        self.assertTrue(self.store.verify(RSU_MAC, "rsu", message, signature))
        held = self.store
        new = TrustStore(
            load_trust(
                self.write("trust2", trust_line(RSU_MAC, "rsu", OUTSIDER.public_bytes))
            ).entries
        )
        held.replace(new)
        self.assertFalse(held.verify(RSU_MAC, "rsu", message, signature))
        self.assertTrue(held.verify(RSU_MAC, "rsu", message, OUTSIDER.sign(message)))
        self.assertIsNone(held.get(OBU_MAC))

    @settings(max_examples=300, deadline=None)
    @given(
        mac=st.one_of(st.binary(max_size=8), st.none(), st.integers(), st.text()),
        role=st.one_of(st.sampled_from(["rsu", "obu", ""]), st.none(), st.integers()),
        message=st.one_of(st.binary(max_size=80), st.none(), st.integers(-5, 5)),
        signature=st.one_of(
            st.binary(min_size=63, max_size=65), st.none(), st.text(), st.integers()
        ),
    )
    def test_hostile_input_never_raises(self, mac, role, message, signature):
        for known in (mac, RSU_MAC):
            self.assertIs(self.store.verify(known, role, message, signature), False)


class SignedBytesTests(SynchronousTestCase):
    def test_heartbeat_layout(self):
        top = bytes(range(32))
        self.assertEqual(
            heartbeat_signed_bytes(RSU_MAC, 0x01020304, 0x0A0B, 32, top),
            b"vanet-hb1"
            + RSU_MAC
            + bytes.fromhex("01020304")
            + bytes(14)
            + bytes.fromhex("0a0b")
            + b"\x20"
            + top,
        )
        self.assertEqual(len(heartbeat()), 68)

    def test_reply_layout(self):
        hop = bytes(range(100, 132))
        self.assertEqual(
            reply_signed_bytes(RSU_MAC, 0xFFFFFFFF, 2**128 - 1, OBU_MAC, hop),
            b"vanet-rp1" + RSU_MAC + b"\xff" * 4 + b"\xff" * 16 + OBU_MAC + hop,
        )

    def test_out_of_range_fields_are_refused(self):
        top = bytes(32)
        for args in (
            (RSU_MAC[:5], 1, 1, 32, top),
            (RSU_MAC, -1, 1, 32, top),
            (RSU_MAC, 2**32, 1, 32, top),
            (RSU_MAC, 1, 2**128, 32, top),
            (RSU_MAC, 1, 1, 0, top),
            (RSU_MAC, 1, 1, 256, top),
            (RSU_MAC, 1, 1, 32, top[:31]),
        ):
            self.assertRaises(ValueError, heartbeat_signed_bytes, *args)
        self.assertRaises(
            ValueError, reply_signed_bytes, RSU_MAC, 1, 1, OBU_MAC + b"\0", top
        )


seeds = st.binary(min_size=32, max_size=32)


class HashChainTests(SynchronousTestCase):
    def test_values_are_iterated_sha256(self):
        seed = bytes(32)
        h1 = hashlib.sha256(seed).digest()
        self.assertEqual(chain_at(seed, 1), h1)
        self.assertEqual(chain_step(h1), hashlib.sha256(h1).digest())
        self.assertEqual(chain_top(seed, 2), chain_step(h1))
        self.assertEqual(HopChain(seed, 2).top, chain_top(seed, 2))

    @settings(max_examples=60, deadline=None)
    @given(seed=seeds, n=st.integers(1, 40), data=st.data())
    def test_a_value_verifies_only_at_its_own_hop_count(self, seed, n, data):
        h = data.draw(st.integers(1, n))
        top = chain_top(seed, n)
        value = chain_at(seed, h)
        for k in range(0, n + 2):
            self.assertEqual(chain_verify(value, k, n, top), k == h, (k, h))

    @settings(max_examples=60, deadline=None)
    @given(seed=seeds, n=st.integers(2, 40), data=st.data())
    def test_a_relay_step_verifies_one_hop_further(self, seed, n, data):
        h = data.draw(st.integers(1, n - 1))
        top = chain_top(seed, n)
        stepped = chain_step(chain_at(seed, h))
        self.assertTrue(chain_verify(stepped, h + 1, n, top))
        self.assertFalse(chain_verify(stepped, h, n, top))

    def test_beyond_the_chain_cannot_be_authenticated(self):
        chain = HopChain(os.urandom(32), 4)
        beyond = chain_step(chain.at(4))
        for hops in (4, 5, 6):
            self.assertFalse(chain_verify(beyond, hops, 4, chain.top))
        self.assertFalse(chain_verify(chain.seed, 0, 4, chain.top))
        self.assertIsNone(chain.hops_of(beyond))
        self.assertIsNone(chain.hops_of(chain.seed))  # hops 0 is never sent

    @settings(max_examples=40, deadline=None)
    @given(seed=seeds, data=st.data())
    def test_the_rsu_reads_the_hop_count_off_a_reply(self, seed, data):
        chain = HopChain(seed)
        h = data.draw(st.integers(1, chain.length))
        self.assertEqual(chain.hops_of(chain_at(seed, h)), h)

    @settings(max_examples=200, deadline=None)
    @given(
        value=st.one_of(st.binary(max_size=40), st.none(), st.integers()),
        hops=st.one_of(st.integers(-3, 300), st.none(), st.floats(), st.booleans()),
        n=st.one_of(st.integers(-3, 300), st.none(), st.text(max_size=2)),
        top=st.one_of(st.binary(max_size=40), st.none()),
    )
    def test_garbage_never_raises(self, value, hops, n, top):
        self.assertIsInstance(chain_verify(value, hops, n, top), bool)
        self.assertIsNone(HopChain(bytes(32), 3).hops_of(value))

    def test_fresh_chains_differ(self):
        self.assertNotEqual(HopChain.fresh().top, HopChain.fresh().top)
        self.assertEqual(HopChain.fresh().length, 32)


class ReplayWindowTests(SynchronousTestCase):
    def test_each_seq_once(self):
        window = ReplayWindow()
        self.assertTrue(window.accept(10))
        self.assertFalse(window.accept(10))
        self.assertTrue(window.accept(12))
        self.assertTrue(window.accept(11))  # late but inside the window
        self.assertFalse(window.accept(11))
        self.assertFalse(window.accept(12))

    def test_older_than_the_window_is_refused(self):
        window = ReplayWindow()
        window.accept(1000)
        self.assertTrue(window.would_accept(1000 - 63))
        self.assertFalse(window.would_accept(1000 - 64))
        self.assertFalse(window.accept(1000 - 64))
        self.assertTrue(window.accept(1000 - 63))
        window.accept(1100)  # a jump of 100 forgets everything before 1037
        self.assertTrue(window.accept(1037))
        self.assertFalse(window.accept(1036))

    def test_serial_arithmetic_across_the_wrap(self):
        window = ReplayWindow()
        window.accept(0xFFFFFFFE)
        self.assertTrue(window.accept(0))  # after 0xFFFFFFFF
        self.assertTrue(window.accept(0xFFFFFFFF))  # late, inside the window
        self.assertFalse(window.accept(0xFFFFFFFE))
        self.assertTrue(window.accept(5))
        self.assertEqual(window.newest, 5)
        self.assertTrue(serial_newer(0, 0xFFFFFFFF))
        self.assertFalse(serial_newer(0xFFFFFFFF, 0))

    def test_halfway_and_invalid_are_refused(self):
        window = ReplayWindow()
        window.accept(0)
        self.assertFalse(window.accept(2**31))  # neither newer nor older
        for bad in (-1, 2**32, None, 1.0, "1"):
            self.assertFalse(window.accept(bad))
        self.assertEqual(window.newest, 0)

    @settings(max_examples=200, deadline=None)
    @given(
        base=st.sampled_from([0, 1000, 2**31 - 50, 2**32 - 100]),
        offsets=st.lists(st.integers(0, 300), max_size=120),
    )
    def test_matches_a_plain_model(self, base, offsets):
        """Near any point of the u32 circle: accepted iff never accepted
        before and within 64 of the newest accepted (or newer)."""
        window = ReplayWindow()
        accepted: set[int] = set()
        newest = None
        for offset in offsets:
            seq = (base + offset) % 2**32
            want = offset not in accepted and (newest is None or offset > newest - 64)
            self.assertEqual(window.accept(seq), want, (offset, newest))
            if want:
                accepted.add(offset)
                newest = offset if newest is None else max(newest, offset)

    def test_windows_per_sender(self):
        windows = ReplayWindows(max_keys=2)
        self.assertTrue(windows.accept(OBU_MAC, 1))
        self.assertTrue(windows.accept(RSU_MAC, 1))
        self.assertFalse(windows.would_accept(OBU_MAC, 1))
        self.assertFalse(windows.accept(OBU_MAC, 1))
        self.assertTrue(windows.would_accept(b"other", 1))


class NoTwistedTests(SynchronousTestCase):
    def test_identity_imports_no_twisted(self):
        """The routing cores call it: it must stay sans-I/O."""
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, vanet.identity; "
                "print(sorted(m for m in sys.modules if m.startswith('twisted')))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.stdout.strip(), "[]", result.stderr)
