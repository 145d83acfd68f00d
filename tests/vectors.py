"""The wire test vectors (``tests/vectors/wire.json``, docs/protocol.md §2).

Any test may import this: ``from tests.vectors import load_vectors``. A
missing file is a broken checkout: we fail loudly with the path instead of
skipping.
"""

from __future__ import annotations

import json
from pathlib import Path

VECTORS_PATH = Path(__file__).resolve().parent / "vectors" / "wire.json"

# Fields of a vector message that hold hex-encoded bytes.
BYTE_FIELDS = frozenset(
    {
        "dst",
        "src",
        "source",
        "sender",
        "origin",
        "destination",
        "payload",
        "top_hash",
        "hop_hash",
        "signature",
    }
)


def load_vectors() -> dict:
    """The parsed ``wire.json``: keys ``valid``, ``invalid`` and ``relay``."""
    if not VECTORS_PATH.is_file():
        raise FileNotFoundError(
            f"wire test vectors not found at {VECTORS_PATH}: a broken checkout"
        )
    with VECTORS_PATH.open(encoding="utf-8") as vectors_file:
        vectors = json.load(vectors_file)
    missing = {"valid", "invalid", "relay"} - vectors.keys()
    if missing:
        raise ValueError(f"{VECTORS_PATH} lacks sections {sorted(missing)}")
    return vectors


def decode_message(expected: dict) -> dict:
    """A vector message with its hex fields decoded to ``bytes``."""
    return {
        name: bytes.fromhex(value) if name in BYTE_FIELDS else value
        for name, value in expected.items()
    }
