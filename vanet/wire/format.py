"""Frame layouts of docs/protocol.md §2, declared once (dpkt-style).

One message is one Ethernet frame:

    dst 6 | src 6 | marker 0x3030 | type 1 | subtype 1 | body

All integers are big-endian. The heartbeat's ``duration`` is a 16-byte
unsigned integer, read and written as two u64 halves.
"""

from __future__ import annotations

import struct

MARKER = 0x3030
MARKER_BYTES = b"\x30\x30"
ETHERTYPE = MARKER  # the marker sits where the EtherType goes

# packet type, subtype
CONTROL, DATA = 0, 1
HEARTBEAT, HEARTBEAT_REPLY = 0, 1
UPSTREAM, DOWNSTREAM = 0, 1

HEADER = struct.Struct("!6s6sHBB")  # dst, src, marker, type, subtype
HEADER_LEN = HEADER.size  # 16

# duration (hi, lo), seq, hops, source
HEARTBEAT_BODY = struct.Struct("!QQII6s")
HEARTBEAT_BODY_LEN = HEARTBEAT_BODY.size  # 30
HEARTBEAT_LEN = HEADER_LEN + HEARTBEAT_BODY_LEN  # 46

# the heartbeat body it answers, then sender
REPLY_BODY = struct.Struct("!QQII6s6s")
HEARTBEAT_REPLY_LEN = HEADER_LEN + REPLY_BODY.size  # 52

UPSTREAM_FIXED_LEN = HEADER_LEN + 6  # origin
DOWNSTREAM_FIXED_LEN = HEADER_LEN + 12  # origin, destination

# Whole-message layouts, for parsing a message in one unpack.
HEARTBEAT_FRAME = struct.Struct("!6s6sHBBQQII6s")
HEARTBEAT_REPLY_FRAME = struct.Struct("!6s6sHBBQQII6s6s")
UPSTREAM_FIXED = struct.Struct("!6s6sHBB6s")
DOWNSTREAM_FIXED = struct.Struct("!6s6sHBB6s6s")

# Offsets inside a frame, for writers that patch a copied frame.
DST = slice(0, 6)
SRC = slice(6, 12)
ADDRS = slice(0, 12)
HOPS_OFFSET = HEADER_LEN + 16 + 4  # after duration and seq
HOPS = struct.Struct("!I")
TYPE_BYTES = {
    "heartbeat": bytes([CONTROL, HEARTBEAT]),
    "heartbeat_reply": bytes([CONTROL, HEARTBEAT_REPLY]),
    "upstream": bytes([DATA, UPSTREAM]),
    "downstream": bytes([DATA, DOWNSTREAM]),
}

DURATION_MAX = (1 << 128) - 1
U32_MAX = (1 << 32) - 1
KINDS = ("heartbeat", "heartbeat_reply", "upstream", "downstream")
