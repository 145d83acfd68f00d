"""Payload codecs (docs/protocol.md §8) and the key file loader.

- ``IdentityCodec``: payload = inner frame (encryption off).
- ``AesGcmCodec``: payload = 12-byte random nonce . ciphertext . 16-byte tag
  (AES-256-GCM over the whole inner frame, no associated data), plus a
  bounded cache of recently opened nonces so a replayed payload is refused
  without changing the wire format.
- ``load_key(path)``: the 32-byte key from a key file, refusing files that
  group or others can access (``vanet.permissions``, as ssh does with
  private keys).
"""

from __future__ import annotations

import os
from collections import Counter, OrderedDict

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from zope.interface import implementer

from vanet.interfaces import IPayloadCodec
from vanet.permissions import ProtectedFileError, read_protected

KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
OVERHEAD = NONCE_LEN + TAG_LEN  # 28 bytes, docs/protocol.md §8
DEFAULT_REPLAY_WINDOW = 65536


class KeyFileError(ProtectedFileError):
    """The key file is missing, unsafe, or does not hold a 32-byte key."""


@implementer(IPayloadCodec)
class IdentityCodec:
    """Encryption off: the payload is the inner frame itself."""

    overhead = 0
    # Mirrors AesGcmCodec so callers can read it without a type check.
    last_rejection: str | None = None

    def seal(self, frame):
        return frame

    def open(self, payload):
        return payload


@implementer(IPayloadCodec)
class AesGcmCodec:
    """AES-256-GCM with replay protection.

    ``open`` returns ``None`` (never raises) for a payload that is too short,
    fails authentication, or whose nonce was already accepted among the last
    ``replay_window`` opened payloads; ``last_rejection`` says which
    ("short", "auth" or "replay") and ``rejected`` counts them.

    Limits of keeping the wire format: a replay older than the window, or one
    sent after this node restarted (the cache lives in memory), is accepted.
    """

    overhead = OVERHEAD

    def __init__(self, key: bytes, replay_window: int = DEFAULT_REPLAY_WINDOW) -> None:
        if len(key) != KEY_LEN:
            raise ValueError(f"an AES-256 key is {KEY_LEN} bytes, got {len(key)}")
        if replay_window < 1:
            raise ValueError("replay_window must be at least 1")
        self._aead = AESGCM(bytes(key))
        self._window = replay_window
        # Insertion-ordered: the oldest accepted nonce is evicted first.
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self.rejected: Counter[str] = Counter()
        self.last_rejection: str | None = None

    def seal(self, frame) -> bytes:
        nonce = os.urandom(NONCE_LEN)
        return nonce + self._aead.encrypt(nonce, frame, None)

    def open(self, payload) -> bytes | None:
        if len(payload) < OVERHEAD:
            return self._reject("short")
        nonce = bytes(payload[:NONCE_LEN])
        if nonce in self._seen:
            return self._reject("replay")
        try:
            frame = self._aead.decrypt(nonce, payload[NONCE_LEN:], None)
        except InvalidTag:
            return self._reject("auth")
        # Remember the nonce only once it proved authentic: otherwise a forged
        # copy of a payload seen in flight could get the real one refused.
        seen = self._seen
        seen[nonce] = None
        if len(seen) > self._window:
            seen.popitem(last=False)
        self.last_rejection = None
        return frame

    def _reject(self, reason: str) -> None:
        self.last_rejection = reason
        self.rejected[reason] += 1
        return None


def load_key(path: str | os.PathLike) -> bytes:
    """Read a 32-byte key: 32 raw bytes, or 64 hex characters (surrounding
    whitespace ignored). Raise ``KeyFileError`` naming the file and the fix."""
    name = os.fspath(path)
    data = read_protected(
        name, "key file", private=True, max_bytes=4096, error=KeyFileError
    )
    if len(data) == KEY_LEN:
        return data
    text = data.strip()
    if len(text) == 2 * KEY_LEN:
        try:
            key = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            key = b""
        if len(key) == KEY_LEN:  # fromhex skips spaces: check what it made
            return key
    raise KeyFileError(
        f"key file {name}: expected {KEY_LEN} raw bytes or {2 * KEY_LEN} hex "
        f"characters, got {len(data)} bytes "
        f"(make one with: head -c 32 /dev/urandom > {name}; chmod 600 {name})"
    )


def make_codec(encryption: bool, key_file: str | os.PathLike | None = None):
    """The codec a node's ``[security]`` section asks for."""
    if not encryption:
        return IdentityCodec()
    if key_file is None:
        raise KeyFileError("encryption is on but no key_file is configured")
    return AesGcmCodec(load_key(key_file))
