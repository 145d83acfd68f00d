"""Node identities, the trust file, and exactly what a node signs.

Sans-I/O apart from reading the two files (no Twisted): the routing cores
call it directly.

- ``Identity``: a node's Ed25519 key pair. ``load_identity(path)`` reads a
  private key file: PEM, unencrypted PKCS#8 (``-----BEGIN PRIVATE KEY-----``,
  what ``vanet-keygen`` and ``openssl genpkey -algorithm ed25519`` write),
  refused unless only its owner can access it (mode 600 or 400).
- The trust file: one ``MAC role public-key`` line per node (role ``rsu`` or
  ``obu``; the key as base64 or hex of its raw 32 bytes); ``#`` starts a
  comment. ``load_trust(path)`` parses it strictly (every bad line is a
  one-line error naming the file and line) and refuses a file that group
  or others can write. ``TrustStore.verify`` checks a signature.
- ``heartbeat_signed_bytes`` / ``reply_signed_bytes``: the one definition of
  the bytes an RSU's heartbeat and an OBU's reply signatures cover.
- The hop-count hash chain (as in SEAD and SAODV) that stops a relay from
  making a path look shorter: ``chain_top``, ``chain_at``, ``chain_step``,
  ``chain_verify``, and ``HopChain`` for the RSU that holds the seed.
- ``ReplayWindow``: a 64-entry window of u32 sequence numbers per sender
  (serial-number arithmetic, RFC 1982 style) that accepts each seq once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections import OrderedDict
from collections.abc import Hashable, Mapping

import attrs
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from vanet.mac import MAC_LEN, MacError, format_mac, is_group, parse_mac
from vanet.permissions import ProtectedFileError, read_protected
from vanet.wire import serial_diff

#: The roles a node can have; the trust file says which one each key may sign as.
ROLES = ("rsu", "obu")
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
HASH_LEN = 32  # SHA-256: the hash chain's values and seeds
DEFAULT_CHAIN_LENGTH = 32
MAX_CHAIN_LENGTH = 255  # the chain length travels as a u8

# Domain separation: a signature over one kind of message can never be
# taken for the other (both prefixes are 9 bytes, then fixed-width fields).
HEARTBEAT_DOMAIN = b"vanet-hb1"
REPLY_DOMAIN = b"vanet-rp1"
_U32 = 1 << 32
_U128 = 1 << 128

# Sizes the loaders read at most: a PEM Ed25519 key is 119 bytes; a trust
# file line is under 100 bytes, so this allows tens of thousands of nodes.
MAX_IDENTITY_FILE = 4096
MAX_TRUST_FILE = 4 << 20

# Why ``TrustStore.check`` refused a signature (for drop counters).
UNKNOWN_KEY = "unknown_key"
WRONG_ROLE = "wrong_role"
BAD_SIGNATURE = "bad_signature"


class IdentityFileError(ProtectedFileError):
    """A private key file is missing, unsafe, or not an Ed25519 PEM key."""


class TrustFileError(ProtectedFileError):
    """The trust file is missing, unsafe, or has a bad line."""


# -- identities --------------------------------------------------------------


def encode_public_key(raw: bytes) -> str:
    """A raw 32-byte public key as the trust file and vanet-keygen write it."""
    return base64.b64encode(bytes(raw)).decode("ascii")


def decode_public_key(text: str) -> bytes:
    """The raw 32 bytes of a public key written as base64 (44 characters)
    or hex (64); ``ValueError`` saying what was expected otherwise."""
    raw = b""
    try:
        if len(text) == 2 * PUBLIC_KEY_LEN:
            raw = bytes.fromhex(text)
        else:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raw = b""
    if len(raw) != PUBLIC_KEY_LEN:
        raise ValueError(
            f"bad public key {text!r}: expected the base64 (44 characters) or "
            f"hex (64) of a raw {PUBLIC_KEY_LEN}-byte Ed25519 key"
        )
    return raw


def _public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@attrs.frozen
class Identity:
    """A node's Ed25519 key pair; ``source`` is the file it came from."""

    private_key: Ed25519PrivateKey = attrs.field(repr=False, eq=False)
    source: str | None = None
    public_bytes: bytes = attrs.field(init=False)

    @public_bytes.default
    def _public(self) -> bytes:
        return _public_raw(self.private_key.public_key())

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_text(self) -> str:
        """The public key as a trust file line carries it (base64)."""
        return encode_public_key(self.public_bytes)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (one of the
        ``*_signed_bytes`` below)."""
        data = _octets(message)
        if data is None:
            raise TypeError("sign() takes bytes")
        return self.private_key.sign(data)

    def private_pem(self) -> bytes:
        """The private key file's contents (PEM, unencrypted PKCS#8)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def load_identity(path: str | os.PathLike) -> Identity:
    """A node's identity from its private key file; ``IdentityFileError``
    (one line naming the file and the fix) if it is unreadable, readable
    by group or others, or not an unencrypted Ed25519 PEM key."""
    name = os.fspath(path)
    data = read_protected(
        name,
        "identity file",
        private=True,
        max_bytes=MAX_IDENTITY_FILE,
        error=IdentityFileError,
    )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # "private key is encrypted"
        raise IdentityFileError(
            f"identity file {name}: the key is encrypted; a node needs an "
            f"unencrypted one (make one with: vanet-keygen {name})"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityFileError(
            f"identity file {name}: not an Ed25519 private key in PEM "
            f"(PKCS#8) form (make one with: vanet-keygen {name})"
        )
    return Identity(key, source=name)


# -- the trust file ----------------------------------------------------------


def _octets(value) -> bytes | None:
    """``value`` as bytes if it is bytes-like, else ``None``. Not
    ``bytes(value)``: ``bytes(10**9)`` would allocate a gigabyte."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return None


def trusted_mac(text: str) -> bytes:
    """A MAC a trust file line may name: unicast and not all zeros (no frame
    can come from a group or zero address); ``ValueError`` otherwise."""
    try:
        mac = parse_mac(text)
    except MacError:
        raise ValueError(
            f"bad MAC {text!r}: expected 6 hex octets, e.g. 02:00:00:00:00:01"
        ) from None
    if is_group(mac):
        raise ValueError(f"MAC {text} is a group or broadcast address")
    if mac == bytes(MAC_LEN):
        raise ValueError(f"MAC {text} is the zero address")
    return mac


def trust_line(mac: bytes, role: str, public_bytes: bytes) -> str:
    """One trust file line, as ``vanet-keygen --mac --role`` prints it."""
    return f"{format_mac(mac)} {role} {encode_public_key(public_bytes)}"


@attrs.frozen
class TrustEntry:
    role: str
    public_bytes: bytes
    key: Ed25519PublicKey = attrs.field(repr=False, eq=False)


def parse_trust(text: str, source: str) -> dict[bytes, TrustEntry]:
    """MAC -> entry from a trust file's text; ``TrustFileError`` naming
    ``source``, the line number and what is wrong at the first bad line."""
    entries: dict[bytes, TrustEntry] = {}
    first_line: dict[bytes, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"trust file {source}, line {number}"
        if len(fields) != 3:
            raise TrustFileError(
                f"{where}: expected 'MAC role public-key', got {len(fields)} "
                f"field{'s' if len(fields) != 1 else ''}"
            )
        mac_text, role, key_text = fields
        try:
            mac = trusted_mac(mac_text)
            if role not in ROLES:
                raise ValueError(
                    f"unknown role {role!r}: expected one of {', '.join(ROLES)}"
                )
            raw = decode_public_key(key_text)
            # A backend may refuse some 32-byte strings as points.
            key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as e:
            raise TrustFileError(f"{where}: {e}") from None
        if mac in entries:
            raise TrustFileError(
                f"{where}: duplicate MAC {format_mac(mac)} (first on line "
                f"{first_line[mac]}): keep one"
            )
        entries[mac] = TrustEntry(role, raw, key)
        first_line[mac] = number
    return entries


def load_trust(path: str | os.PathLike) -> TrustStore:
    """The trust store in the file at ``path``; ``TrustFileError`` (one
    line) if it is unreadable, writable by group or others, or malformed."""
    name = os.fspath(path)
    data = read_protected(
        name,
        "trust file",
        private=False,
        max_bytes=MAX_TRUST_FILE,
        error=TrustFileError,
    )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise TrustFileError(
            f"trust file {name}, line {line}: not UTF-8 text"
        ) from None
    return TrustStore(parse_trust(text, name), source=name)


_VERIFY_CACHE = 1024


@attrs.define
class TrustStore:
    """MAC -> (role, public key), from a trust file (``source``).

    The object stays the same when the file is re-read (``replace``), so a
    routing core holding it sees the new keys at once.
    """

    entries: Mapping[bytes, TrustEntry] = attrs.field(factory=dict)
    source: str | None = None
    # Recent answers by (mac, role, message, signature): a flood delivers
    # the same signed heartbeat from every neighbour, and forged copies of
    # one frame cost one verification, not one each.
    _cache: OrderedDict = attrs.field(
        factory=OrderedDict, init=False, repr=False, eq=False
    )

    @classmethod
    def of(cls, members: Mapping[bytes, tuple[str, Identity]]) -> TrustStore:
        """A store trusting ``members`` (MAC -> (role, identity)), as a trust
        file listing them would: for the simulator's in-memory keys, tests
        and benchmarks."""
        entries = {}
        for mac, (role, identity) in members.items():
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}: expected one of {ROLES}")
            key = identity.private_key.public_key()
            entries[trusted_mac(format_mac(mac))] = TrustEntry(
                role, identity.public_bytes, key
            )
        return cls(entries, source="<in memory>")

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, mac: bytes) -> TrustEntry | None:
        mac = _octets(mac)
        return None if mac is None else self.entries.get(mac)

    def check(self, mac, role: str, message, signature) -> str | None:
        """``None`` if ``signature`` is ``mac``'s valid signature of
        ``message`` and the trust file lets ``mac`` act as ``role``;
        otherwise why not: ``UNKNOWN_KEY``, ``WRONG_ROLE`` or
        ``BAD_SIGNATURE``. Never raises, whatever the arguments."""
        entry = self.get(mac)
        if entry is None:
            return UNKNOWN_KEY
        if entry.role != role:
            return WRONG_ROLE
        signature, message = _octets(signature), _octets(message)
        if message is None or signature is None or len(signature) != SIGNATURE_LEN:
            return BAD_SIGNATURE
        cache_key = (entry.public_bytes, role, message, signature)
        cache = self._cache
        if cache_key in cache:
            cache.move_to_end(cache_key)
            return cache[cache_key]
        try:
            entry.key.verify(signature, message)
            result = None
        except InvalidSignature:
            result = BAD_SIGNATURE
        except Exception:  # hostile input must never take the node down
            result = BAD_SIGNATURE
        cache[cache_key] = result
        if len(cache) > _VERIFY_CACHE:
            cache.popitem(last=False)
        return result

    def verify(self, mac, role: str, message, signature) -> bool:
        """Whether ``signature`` is ``mac``'s, as ``role``, over ``message``."""
        return self.check(mac, role, message, signature) is None

    def replace(self, other: TrustStore) -> None:
        """Take ``other``'s entries (a re-read trust file) in place."""
        self.entries = other.entries
        self.source = other.source
        self._cache.clear()


# -- what is signed ----------------------------------------------------------


def _mac(value, what: str) -> bytes:
    value = _octets(value)
    if value is None or len(value) != MAC_LEN:
        raise ValueError(f"{what} must be {MAC_LEN} bytes")
    return value


def _hash(value, what: str) -> bytes:
    value = _octets(value)
    if value is None or len(value) != HASH_LEN:
        raise ValueError(f"{what} must be {HASH_LEN} bytes")
    return value


def _check_range(value: int, limit: int, what: str) -> int:
    if type(value) is not int or not 0 <= value < limit:
        raise ValueError(f"{what} {value} is out of range")
    return value


def _duration(duration_ms: int) -> bytes:
    # u128, as on the wire (vanet/wire/layouts.py).
    return _check_range(duration_ms, _U128, "duration_ms").to_bytes(16, "big")


def heartbeat_signed_bytes(
    source: bytes, seq: int, duration_ms: int, chain_length: int, top_hash: bytes
) -> bytes:
    """What an RSU signs in a heartbeat: everything no relay may change.

    ``b"vanet-hb1" | source (6) | seq (u32) | duration_ms (u128) |
    chain_length (u8) | top_hash (32)``, integers big-endian: 68 bytes.
    ``hops`` and the hop hash are not covered: relays change them, and the
    hash chain under ``top_hash`` protects them instead.
    """
    if not 1 <= chain_length <= MAX_CHAIN_LENGTH:
        raise ValueError(
            f"chain_length {chain_length} is out of range 1..{MAX_CHAIN_LENGTH}"
        )
    return b"".join(
        (
            HEARTBEAT_DOMAIN,
            _mac(source, "source"),
            struct.pack(">I", _check_range(seq, _U32, "seq")),
            _duration(duration_ms),
            bytes((chain_length,)),
            _hash(top_hash, "top_hash"),
        )
    )


def reply_signed_bytes(
    source: bytes, seq: int, duration_ms: int, sender: bytes, hop_hash: bytes
) -> bytes:
    """What an OBU signs in its reply to heartbeat (``source``, ``seq``).

    ``b"vanet-rp1" | source (6) | seq (u32) | duration_ms (u128) |
    sender (6) | hop_hash (32)``, integers big-endian: 73 bytes.
    ``source``, ``seq`` and ``duration_ms`` are the heartbeat's; ``sender``
    is the replying OBU; ``hop_hash`` is the chain value the OBU received
    with the heartbeat, from which the RSU (which holds the seed) learns
    how many hops away the OBU really is (``HopChain.hops_of``).
    """
    return b"".join(
        (
            REPLY_DOMAIN,
            _mac(source, "source"),
            struct.pack(">I", _check_range(seq, _U32, "seq")),
            _duration(duration_ms),
            _mac(sender, "sender"),
            _hash(hop_hash, "hop_hash"),
        )
    )


# -- the hop-count hash chain ------------------------------------------------
#
# The RSU draws a fresh seed per heartbeat and signs top = H^N(seed). A
# heartbeat at hops = h carries H^h(seed). Going one hop further is easy
# (hash once); claiming fewer hops would need a preimage of SHA-256. What a
# relay can still do: pass the value on unchanged (same hop count as it
# heard), and nothing beyond N hops can be authenticated.


def chain_step(hop_hash: bytes) -> bytes:
    """The value a relay forwards with ``hops + 1``: H(hop_hash)."""
    return hashlib.sha256(hop_hash).digest()


def _iterate(value: bytes, times: int) -> bytes:
    for _ in range(times):
        value = hashlib.sha256(value).digest()
    return value


def chain_at(seed: bytes, hops: int) -> bytes:
    """H^hops(seed): the value a heartbeat carries at ``hops``."""
    if hops < 0:
        raise ValueError(f"hops {hops} is negative")
    return _iterate(_hash(seed, "seed"), hops)


def chain_top(seed: bytes, n: int = DEFAULT_CHAIN_LENGTH) -> bytes:
    """H^n(seed): the value the RSU signs as ``top_hash``."""
    if not 1 <= n <= MAX_CHAIN_LENGTH:
        raise ValueError(f"chain length {n} is out of range 1..{MAX_CHAIN_LENGTH}")
    return chain_at(seed, n)


def chain_verify(hop_hash, hops, n, top_hash) -> bool:
    """Whether ``hop_hash`` is the chain value at ``hops`` (1..n) of the
    chain whose top (``n`` steps) is ``top_hash``. Never raises."""
    if not (
        type(hops) is int
        and type(n) is int
        and 1 <= n <= MAX_CHAIN_LENGTH
        and 1 <= hops <= n
    ):
        return False
    hop_hash, top_hash = _octets(hop_hash), _octets(top_hash)
    if hop_hash is None or top_hash is None:
        return False
    if len(hop_hash) != HASH_LEN or len(top_hash) != HASH_LEN:
        return False
    return hmac.compare_digest(_iterate(hop_hash, n - hops), top_hash)


@attrs.frozen
class HopChain:
    """One heartbeat's chain, held by the RSU that sends it."""

    seed: bytes = attrs.field(repr=False)
    length: int = DEFAULT_CHAIN_LENGTH
    # values[h] = H^h(seed), h = 0..length
    _values: tuple[bytes, ...] = attrs.field(init=False, repr=False, eq=False)

    @_values.default
    def _compute(self) -> tuple[bytes, ...]:
        value = _hash(self.seed, "seed")
        if not 1 <= self.length <= MAX_CHAIN_LENGTH:
            raise ValueError(
                f"chain length {self.length} is out of range 1..{MAX_CHAIN_LENGTH}"
            )
        values = [value]
        for _ in range(self.length):
            value = hashlib.sha256(value).digest()
            values.append(value)
        return tuple(values)

    @classmethod
    def fresh(cls, length: int = DEFAULT_CHAIN_LENGTH) -> HopChain:
        """A chain with a new random seed: one per heartbeat."""
        return cls(os.urandom(HASH_LEN), length)

    @property
    def top(self) -> bytes:
        return self._values[-1]

    def at(self, hops: int) -> bytes:
        """The value sent with ``hops`` (the RSU's own heartbeat: hops = 1)."""
        if not 0 <= hops <= self.length:
            raise ValueError(f"hops {hops} is out of range 0..{self.length}")
        return self._values[hops]

    def hops_of(self, hop_hash) -> int | None:
        """The hop count (1..length) at which ``hop_hash`` lies on this
        chain, or ``None``: what a signed reply proves about its sender's
        distance. Never raises."""
        hop_hash = _octets(hop_hash)
        if hop_hash is None:
            return None
        for hops in range(1, self.length + 1):
            if hmac.compare_digest(self._values[hops], hop_hash):
                return hops
        return None


# -- replay window -----------------------------------------------------------

REPLAY_WINDOW = 64


def serial_newer(a: int, b: int) -> bool:
    """Whether u32 ``a`` is after ``b`` in serial-number arithmetic (RFC
    1982, ``vanet.wire.serial_diff``). The halfway point is not newer."""
    return serial_diff(a, b) > 0


@attrs.define
class ReplayWindow:
    """Which of one sender's u32 sequence numbers were accepted: the newest
    and the 63 before it (a bitmap). Feed it only frames whose signature
    verified, or a forgery could use up a genuine seq."""

    size: int = REPLAY_WINDOW
    newest: int | None = None
    _seen: int = 0  # bit i: newest - i was accepted

    def would_accept(self, seq: int) -> bool:
        """Whether ``accept(seq)`` would: check before the costly verify."""
        return self._place(seq) is not None

    def accept(self, seq: int) -> bool:
        """Record ``seq`` and return ``True`` the first time it is seen
        inside the window; ``False`` for a repeat or one too old."""
        place = self._place(seq)
        if place is None:
            return False
        if place < 0:  # newer: slide the window forward
            self._seen = ((self._seen << -place) | 1) & ((1 << self.size) - 1)
            self.newest = seq
        else:
            self._seen |= 1 << place
        return True

    def _place(self, seq: int) -> int | None:
        """-(steps forward) for a newer seq, the bit index of an unseen
        one inside the window, ``None`` for a repeat or one too old."""
        if type(seq) is not int or not 0 <= seq < _U32:
            return None
        if self.newest is None:
            return -self.size  # the first: an empty window
        ahead = serial_diff(seq, self.newest)
        if ahead > 0:
            return -min(ahead, self.size)
        back = -ahead  # the halfway point is 2^31 behind: outside the window
        if back >= self.size or self._seen >> back & 1:
            return None
        return back


@attrs.define
class ReplayWindows:
    """A ``ReplayWindow`` per key (e.g. per sender), at most ``max_keys``;
    the least recently used is forgotten first. Keys should be senders the
    trust file knows, so the bound is never reached in practice."""

    max_keys: int = 4096
    _windows: OrderedDict = attrs.field(factory=OrderedDict, init=False)

    def would_accept(self, key: Hashable, seq: int) -> bool:
        window = self._windows.get(key) or ReplayWindow()
        return window.would_accept(seq)

    def accept(self, key: Hashable, seq: int) -> bool:
        windows = self._windows
        window = windows.get(key)
        if window is None:
            window = windows[key] = ReplayWindow()
            if len(windows) > self.max_keys:
                windows.popitem(last=False)
        else:
            windows.move_to_end(key)
        return window.accept(seq)
