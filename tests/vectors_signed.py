"""The signed wire vectors of ``tests/vectors/wire.json`` (docs/protocol.md
§2.7), and the script that writes them.

Run ``python -m tests.vectors_signed`` from the checkout to (re)write them:
entries of the same names are replaced, every other entry is left as it is,
byte for byte. ``python -m tests.vectors_signed --check`` only says whether
the file holds what this script would write.

Everything is fixed, so the output is too: the frames are built here from
the format table (not with the codec under test), the keys are fixed
Ed25519 private keys and Ed25519 signatures are deterministic (RFC 8032).

The signatures cover what docs/protocol.md §2.7 says (written out here
from that text, not with ``vanet.identity``), so a node that authenticates
accepts these frames from the vectors' keys. Each signed vector records
what was signed (``signed_hex``) and by which public key
(``public_key``), so its signature verifies on its own:

- a heartbeat signs ``b"vanet-hb1"``, then source, seq, duration (16
  bytes), chain_length and top_hash, in their wire encodings and that
  order;
- a reply signs ``b"vanet-rp1"``, then source, seq, duration, sender and
  hop_hash;
- the chain: top_hash = SHA-256^N(seed), and a copy that has travelled
  ``hops`` hops carries hop_hash = SHA-256^hops(seed), so a relay passes
  SHA-256(hop_hash) with hops + 1.
"""

from __future__ import annotations

import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.vectors import VECTORS_PATH

BROADCAST = b"\xff" * 6
RSU = bytes.fromhex("020000000001")
OBU1 = bytes.fromhex("020000000011")
OBU2 = bytes.fromhex("020000000012")

# Fixed keys and chain seed: vectors, never deployment secrets.
RSU_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OBU1_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
OBU2_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96)))
CHAIN_SEED = hashlib.sha256(b"vanet wire vector chain seed").digest()
CHAIN_LENGTH = 8

# docs/protocol.md §2.7: what each signature starts with.
HEARTBEAT_DOMAIN = b"vanet-hb1"
REPLY_DOMAIN = b"vanet-rp1"

SIGNED_HEARTBEAT = b"\x30\x30\x00\x02"
SIGNED_REPLY = b"\x30\x30\x00\x03"


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def chain(seed: bytes, n: int) -> bytes:
    """SHA-256 applied ``n`` times to ``seed``."""
    for _ in range(n):
        seed = hashlib.sha256(seed).digest()
    return seed


def public_key(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def heartbeat_body(duration_ms: int, seq: int, hops: int, source: bytes) -> bytes:
    return duration_ms.to_bytes(16, "big") + u32(seq) + u32(hops) + source


class SignedRound:
    """One RSU heartbeat round: what the RSU signs, and the frames of it."""

    def __init__(self, key, source, duration_ms, seq, chain_length, seed):
        self.key, self.source = key, source
        self.duration_ms, self.seq = duration_ms, seq
        self.chain_length, self.seed = chain_length, seed
        self.top_hash = chain(seed, chain_length)
        self.signed = (
            HEARTBEAT_DOMAIN
            + source
            + u32(seq)
            + duration_ms.to_bytes(16, "big")
            + bytes([chain_length])
            + self.top_hash
        )
        self.signature = key.sign(self.signed)

    def heartbeat(self, src: bytes, hops: int) -> tuple[bytes, dict]:
        """The copy ``src`` broadcasts after ``hops`` hops, and its fields."""
        hop_hash = chain(self.seed, hops)
        frame = (
            BROADCAST
            + src
            + SIGNED_HEARTBEAT
            + heartbeat_body(self.duration_ms, self.seq, hops, self.source)
            + bytes([self.chain_length])
            + self.top_hash
            + hop_hash
            + self.signature
        )
        fields = {
            "kind": "signed_heartbeat",
            "dst": BROADCAST.hex(),
            "src": src.hex(),
            "duration_ms": self.duration_ms,
            "seq": self.seq,
            "hops": hops,
            "source": self.source.hex(),
            "chain_length": self.chain_length,
            "top_hash": self.top_hash.hex(),
            "hop_hash": hop_hash.hex(),
            "signature": self.signature.hex(),
        }
        return frame, fields

    def reply(
        self, key, sender: bytes, hops: int, src: bytes, dst: bytes
    ) -> tuple[bytes, dict, bytes]:
        """``sender``'s reply to the copy it got at ``hops``, as sent from
        ``src`` to ``dst``; its fields, and the bytes ``sender`` signed."""
        hop_hash = chain(self.seed, hops)
        signed = (
            REPLY_DOMAIN
            + self.source
            + u32(self.seq)
            + self.duration_ms.to_bytes(16, "big")
            + sender
            + hop_hash
        )
        signature = key.sign(signed)
        frame = (
            dst
            + src
            + SIGNED_REPLY
            + heartbeat_body(self.duration_ms, self.seq, hops, self.source)
            + sender
            + hop_hash
            + signature
        )
        fields = {
            "kind": "signed_heartbeat_reply",
            "dst": dst.hex(),
            "src": src.hex(),
            "duration_ms": self.duration_ms,
            "seq": self.seq,
            "hops": hops,
            "source": self.source.hex(),
            "sender": sender.hex(),
            "hop_hash": hop_hash.hex(),
            "signature": signature.hex(),
        }
        return frame, fields, signed


def _vector(name: str, note: str, frames_fields, signing) -> dict:
    frames = [frame for frame, _ in frames_fields]
    return {
        "name": name,
        "hex": b"".join(frames).hex(),
        "note": note,
        "messages": [fields for _, fields in frames_fields],
        # Per message: who signed it and what, so each signature verifies.
        "signing": [
            {"public_key": public_key(key), "signed_hex": signed.hex()}
            for key, signed in signing
        ],
    }


def build() -> dict[str, list[dict]]:
    """The signed vectors: ``valid`` and ``invalid`` entries, in order."""
    rnd = SignedRound(RSU_KEY, RSU, 5000, 42, CHAIN_LENGTH, CHAIN_SEED)
    rsu_hb = rnd.heartbeat(RSU, 1)
    relayed_hb = rnd.heartbeat(OBU1, 2)
    reply1, reply1_fields, reply1_signed = rnd.reply(OBU1_KEY, OBU1, 1, OBU1, RSU)
    reply2, reply2_fields, reply2_signed = rnd.reply(OBU2_KEY, OBU2, 2, OBU2, OBU1)
    forwarded, forwarded_fields, _ = rnd.reply(OBU2_KEY, OBU2, 2, OBU1, RSU)
    rsu_signing = (RSU_KEY, rnd.signed)
    big = SignedRound(
        RSU_KEY, RSU, 123456789012345678901234567890, 2**32 - 1, 255, CHAIN_SEED
    )
    big_hb = big.heartbeat(OBU2, 255)

    valid = [
        _vector(
            "signed_rsu_heartbeat",
            "subtype 2: the RSU's signed heartbeat, seq 42, hops 1, a chain of 8;"
            " hop_hash is SHA-256(seed), top_hash SHA-256^8(seed)",
            [rsu_hb],
            [rsu_signing],
        ),
        _vector(
            "signed_heartbeat_relayed",
            "signed_rsu_heartbeat as OBU1 rebroadcasts it: src, hops 2 and"
            " hop_hash SHA-256(received hop_hash) change, nothing else",
            [relayed_hb],
            [rsu_signing],
        ),
        _vector(
            "signed_heartbeat_large_fields",
            "a 16-byte duration, seq 2^32 - 1, chain_length 255 at hops 255",
            [big_hb],
            [(RSU_KEY, big.signed)],
        ),
        _vector(
            "signed_heartbeat_reply",
            "subtype 3: OBU1 answers signed_rsu_heartbeat; hops copied, the"
            " hop_hash it received, its own signature",
            [(reply1, reply1_fields)],
            [(OBU1_KEY, reply1_signed)],
        ),
        _vector(
            "signed_reply_to_relay",
            "OBU2 answers signed_heartbeat_relayed (hops 2) toward OBU1",
            [(reply2, reply2_fields)],
            [(OBU2_KEY, reply2_signed)],
        ),
        _vector(
            "signed_reply_forwarded",
            "signed_reply_to_relay as OBU1 relays it to the RSU: only dst and"
            " src change",
            [(forwarded, forwarded_fields)],
            [(OBU2_KEY, reply2_signed)],
        ),
        _vector(
            "signed_control_messages_in_one_buffer",
            "a signed heartbeat (175 bytes) then a signed reply (148 bytes)",
            [rsu_hb, (reply1, reply1_fields)],
            [rsu_signing, (OBU1_KEY, reply1_signed)],
        ),
    ]
    invalid = [
        {
            "name": "truncated_signed_heartbeat",
            "hex": rsu_hb[0][:-1].hex(),
            "note": "a signed heartbeat needs 159 bytes after the header",
        },
        {
            "name": "truncated_signed_reply",
            "hex": reply1[:-1].hex(),
            "note": "a signed reply needs 132 bytes after the header",
        },
        {
            "name": "signed_heartbeat_without_signature",
            "hex": rsu_hb[0][:-64].hex(),
            "note": "a signed heartbeat cut before its signature",
        },
        {
            "name": "unknown_control_subtype_4",
            "hex": (RSU + OBU1 + b"\x30\x30\x00\x04" + bytes(159)).hex(),
            "note": "control subtypes are 0 to 3",
        },
    ]
    return {"valid": valid, "invalid": invalid}


def merged(vectors: dict, signed: dict[str, list[dict]]) -> dict:
    """``vectors`` with the signed entries in place: an entry of the same
    name is replaced where it stands, a new one goes at the end of its
    section; every other entry is kept as it is."""
    out = dict(vectors)
    for section, entries in signed.items():
        by_name = {entry["name"]: entry for entry in entries}
        kept = [by_name.pop(e["name"], e) for e in vectors[section]]
        out[section] = kept + [e for e in entries if e["name"] in by_name]
    return out


def render(vectors: dict) -> str:
    # The layout wire.json has always had: one-space indent, UTF-8, no
    # final newline.
    return json.dumps(vectors, indent=1, ensure_ascii=False)


def main(argv: list[str]) -> int:
    current = VECTORS_PATH.read_text(encoding="utf-8")
    wanted = render(merged(json.loads(current), build()))
    if "--check" in argv:
        if wanted != current:
            print(f"{VECTORS_PATH} differs from what tests/vectors_signed.py writes")
            return 1
        print(f"{VECTORS_PATH} is up to date")
        return 0
    VECTORS_PATH.write_text(wanted, encoding="utf-8")
    print(f"wrote the signed vectors into {VECTORS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
