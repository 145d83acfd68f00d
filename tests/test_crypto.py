"""Payload encryption (docs/protocol.md §8) and key files."""

from __future__ import annotations

import os
import shutil
import tempfile

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.crypto import (
    AesGcmCodec,
    IdentityCodec,
    KeyFileError,
    load_key,
    make_codec,
)
from vanet.interfaces import IPayloadCodec

KEY = bytes.fromhex("00112233445566778899aabbccddeeff" * 2)
FRAME = bytes.fromhex("ffffffffffff0a0000000011") + b"\x08\x00" + b"marker text"


class CodecTests(SynchronousTestCase):
    def test_both_provide_the_interface(self):
        self.assertTrue(verifyObject(IPayloadCodec, IdentityCodec()))
        self.assertTrue(verifyObject(IPayloadCodec, AesGcmCodec(KEY)))

    def test_identity_passes_frames_through(self):
        codec = IdentityCodec()
        self.assertEqual(codec.overhead, 0)
        self.assertEqual(codec.open(codec.seal(FRAME)), FRAME)

    def test_round_trip_with_28_bytes_overhead(self):
        sender, receiver = AesGcmCodec(KEY), AesGcmCodec(KEY)
        payload = sender.seal(FRAME)
        self.assertEqual(sender.overhead, 28)
        self.assertEqual(len(payload), len(FRAME) + 28)
        self.assertNotIn(b"marker text", payload)
        self.assertEqual(receiver.open(payload), FRAME)

    def test_round_trip_from_memoryview(self):
        buf = bytearray(b"\0" * 8 + FRAME)
        payload = AesGcmCodec(KEY).seal(memoryview(buf)[8:])
        received = bytearray(b"hdr" + payload)
        self.assertEqual(AesGcmCodec(KEY).open(memoryview(received)[3:]), FRAME)

    def test_layout_is_nonce_ciphertext_tag(self):
        # Built with the raw GCM mode, independently of AESGCM's packing.
        nonce = bytes(range(12))
        encryptor = Cipher(algorithms.AES(KEY), modes.GCM(nonce)).encryptor()
        ciphertext = encryptor.update(FRAME) + encryptor.finalize()
        payload = nonce + ciphertext + encryptor.tag
        self.assertEqual(AesGcmCodec(KEY).open(payload), FRAME)
        # And the other way round: our payload opens with the raw mode.
        ours = AesGcmCodec(KEY).seal(FRAME)
        decryptor = Cipher(
            algorithms.AES(KEY), modes.GCM(ours[:12], ours[-16:])
        ).decryptor()
        self.assertEqual(decryptor.update(ours[12:-16]) + decryptor.finalize(), FRAME)

    def test_nonces_are_fresh(self):
        codec = AesGcmCodec(KEY)
        nonces = {codec.seal(FRAME)[:12] for _ in range(200)}
        self.assertEqual(len(nonces), 200)

    def test_wrong_key_is_refused(self):
        payload = AesGcmCodec(bytes(32)).seal(FRAME)
        codec = AesGcmCodec(KEY)
        self.assertIsNone(codec.open(payload))
        self.assertEqual(codec.last_rejection, "auth")
        self.assertEqual(codec.rejected["auth"], 1)

    def test_tampering_anywhere_is_refused(self):
        payload = AesGcmCodec(KEY).seal(FRAME)
        # nonce, first ciphertext byte, last ciphertext byte, tag
        for index in (0, 11, 12, len(payload) - 17, len(payload) - 1):
            tampered = bytearray(payload)
            tampered[index] ^= 0x80
            self.assertIsNone(AesGcmCodec(KEY).open(bytes(tampered)), index)
        self.assertIsNone(AesGcmCodec(KEY).open(payload[:-1]))

    def test_too_short_is_refused(self):
        codec = AesGcmCodec(KEY)
        self.assertIsNone(codec.open(b"\x00" * 27))
        self.assertEqual(codec.last_rejection, "short")

    def test_replay_is_refused_and_counted(self):
        receiver = AesGcmCodec(KEY)
        payload = AesGcmCodec(KEY).seal(FRAME)
        self.assertEqual(receiver.open(payload), FRAME)
        self.assertIsNone(receiver.open(payload))
        self.assertEqual(receiver.last_rejection, "replay")
        self.assertEqual(receiver.rejected["replay"], 1)
        # A new payload still opens, and resets last_rejection.
        self.assertEqual(receiver.open(AesGcmCodec(KEY).seal(FRAME)), FRAME)
        self.assertIsNone(receiver.last_rejection)

    def test_forged_copy_does_not_block_the_genuine_payload(self):
        receiver = AesGcmCodec(KEY)
        payload = AesGcmCodec(KEY).seal(FRAME)
        forged = payload[:12] + bytes(len(payload) - 12)
        self.assertIsNone(receiver.open(forged))
        self.assertEqual(receiver.open(payload), FRAME)

    def test_replay_cache_is_bounded(self):
        receiver = AesGcmCodec(KEY, replay_window=3)
        sender = AesGcmCodec(KEY)
        first = sender.seal(FRAME)
        receiver.open(first)
        for _ in range(2):
            receiver.open(sender.seal(FRAME))
        self.assertIsNone(receiver.open(first))  # still within the window
        receiver.open(sender.seal(FRAME))  # pushes `first` out
        self.assertEqual(receiver.open(first), FRAME)

    def test_key_must_be_32_bytes(self):
        for bad in (b"", bytes(16), bytes(31), bytes(33)):
            self.assertRaises(ValueError, AesGcmCodec, bad)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=100))
    def test_random_payloads_never_raise(self, payload):
        self.assertIsNone(AesGcmCodec(KEY).open(payload))


class KeyFileTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vanet-key-")
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, data: bytes, mode: int = 0o600) -> str:
        path = os.path.join(self.dir, "vanet.key")
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def test_raw_32_bytes(self):
        key = os.urandom(32)
        self.assertEqual(load_key(self.write(key)), key)

    def test_raw_key_with_whitespace_bytes_is_kept_whole(self):
        key = b" \n" + bytes(range(28)) + b"\n "
        self.assertEqual(load_key(self.write(key)), key)

    def test_64_hex_characters_with_whitespace(self):
        self.assertEqual(load_key(self.write(b"  " + KEY.hex().encode() + b"\n")), KEY)
        self.assertEqual(load_key(self.write(KEY.hex().upper().encode())), KEY)

    def test_group_or_other_access_is_refused(self):
        for mode in (0o644, 0o640, 0o620, 0o604, 0o602, 0o660):
            path = self.write(KEY, mode)
            with self.assertRaises(KeyFileError) as caught:
                load_key(path)
            message = str(caught.exception)
            self.assertIn(path, message)
            self.assertIn(f"chmod 600 {path}", message)
            self.assertIn(f"{mode:04o}", message)

    def test_owner_only_modes_are_accepted(self):
        for mode in (0o600, 0o400):
            self.assertEqual(load_key(self.write(KEY, mode)), KEY)

    def test_wrong_length_is_refused(self):
        for data in (b"", bytes(16), bytes(33), KEY.hex()[:-2].encode()):
            with self.assertRaises(KeyFileError) as caught:
                load_key(self.write(data))
            self.assertIn("32 raw bytes or 64 hex characters", str(caught.exception))

    def test_non_hex_text_is_refused(self):
        self.assertRaises(KeyFileError, load_key, self.write(b"z" * 64))
        # fromhex would skip these spaces and build a short key.
        spaced = " ".join(KEY.hex()[i : i + 2] for i in range(0, 42, 2)).encode()
        self.assertRaises(KeyFileError, load_key, self.write(spaced[:64]))

    def test_missing_file_names_it(self):
        path = os.path.join(self.dir, "absent.key")
        with self.assertRaises(KeyFileError) as caught:
            load_key(path)
        self.assertIn(path, str(caught.exception))
        self.assertIsInstance(caught.exception, ValueError)

    def test_directory_is_refused(self):
        os.chmod(self.dir, 0o700)
        self.assertRaises(KeyFileError, load_key, self.dir)

    def test_make_codec(self):
        self.assertIsInstance(make_codec(False), IdentityCodec)
        codec = make_codec(True, self.write(KEY))
        self.assertEqual(AesGcmCodec(KEY).open(codec.seal(FRAME)), FRAME)
        self.assertRaises(KeyFileError, make_codec, True, None)
