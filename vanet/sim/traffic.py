"""In-process traffic: test frames and per-flow delivery statistics.

A flow's frames are ordinary inner Ethernet frames, written into the
sender's TAP and read from the receiver's:

    dst 6 (receiver's TAP MAC) | src 6 (sender's TAP MAC) | EtherType 0x88B5
    | magic "VSIM" | flow id u32 | seq u64 | sent at f64 (s) | zero padding

0x88B5 is the IEEE "local experimental" EtherType, so no host stack takes
these frames for its own. Nothing here does I/O or reads a clock: the
runner passes ``now`` (seconds, from its reactor) in and out.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import Any

import attrs

from vanet.mac import format_mac

ETHERTYPE_TEST = 0x88B5
MAGIC = b"VSIM"
HEADER = struct.Struct("!6s6sH4sIQd")
MIN_FRAME_SIZE = HEADER.size  # 38
MAX_FRAME_SIZE = 9014  # a 9000-byte TAP MTU plus the Ethernet header
PERCENTILES = (50, 90, 99)


@attrs.define(eq=False)
class _Record:
    sent: int = 0
    received: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    misdelivered: int = 0
    highest_seq: int = -1
    seen: set[int] = attrs.Factory(set)
    latencies_ms: list[float] = attrs.Factory(list)


@attrs.define(eq=False)
class Flow:
    """One traffic flow; made by ``FlowStats.add_flow``."""

    flow_id: int
    name: str
    src_mac: bytes
    dst_mac: bytes
    size: int
    rate_per_s: float
    _record: _Record = attrs.field(repr=False, alias="record")

    @property
    def interval_s(self) -> float:
        """Seconds between two frames at ``rate_per_s``."""
        return 1.0 / self.rate_per_s if self.rate_per_s > 0 else math.inf

    def make_frame(self, seq: int, now: float) -> bytes:
        """The frame carrying ``seq``, stamped ``now``; counts it as sent."""
        self._record.sent += 1
        header = HEADER.pack(
            self.dst_mac,
            self.src_mac,
            ETHERTYPE_TEST,
            MAGIC,
            self.flow_id,
            seq,
            now,
        )
        return header + bytes(self.size - HEADER.size)


def parse_test_frame(frame: Any) -> tuple[int, int, float] | None:
    """``(flow id, seq, sent at)`` of a test frame, or ``None`` for any
    other frame."""
    if len(frame) < HEADER.size:
        return None
    _, _, ethertype, magic, flow_id, seq, sent_at = HEADER.unpack_from(frame)
    if ethertype != ETHERTYPE_TEST or magic != MAGIC:
        return None
    return flow_id, seq, sent_at


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list; ``None`` if empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class FlowStats:
    """Sent and received frames of every flow, deduplicated, with delivery
    ratio and latency percentiles.

    Frames still in flight when ``summary()`` is called count as not
    delivered: stop the generators and let the network drain first.
    """

    def __init__(self) -> None:
        self._flows: dict[str, Flow] = {}
        self._by_id: list[Flow] = []
        self.foreign_frames = 0  # frames on_received did not recognise

    def add_flow(
        self,
        name: str,
        src_mac: bytes,
        dst_mac: bytes,
        size: int,
        rate_per_s: float = 0.0,
    ) -> Flow:
        if name in self._flows:
            raise ValueError(f"flow {name!r} already exists")
        if not MIN_FRAME_SIZE <= size <= MAX_FRAME_SIZE:
            raise ValueError(
                f"flow {name!r}: size {size} is outside {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE}"
            )
        if len(src_mac) != 6 or len(dst_mac) != 6:
            raise ValueError(f"flow {name!r}: MACs are 6 bytes")
        flow = Flow(
            flow_id=len(self._by_id),
            name=name,
            src_mac=bytes(src_mac),
            dst_mac=bytes(dst_mac),
            size=size,
            rate_per_s=rate_per_s,
            record=_Record(),
        )
        self._flows[name] = flow
        self._by_id.append(flow)
        return flow

    def flow(self, name: str) -> Flow:
        return self._flows[name]

    def flows(self) -> Iterable[Flow]:
        return iter(self._by_id)

    def on_received(
        self, frame: Any, now: float, receiver_mac: bytes | None = None
    ) -> Flow | None:
        """Account for a frame read from a TAP at ``now``. Returns its flow,
        or ``None`` if it is not one of ours (other traffic, or a duplicate
        or misdelivered copy, which are counted on the flow). Give
        ``receiver_mac`` (the TAP's MAC) to catch frames that reached the
        wrong node."""
        parsed = parse_test_frame(frame)
        if parsed is None or parsed[0] >= len(self._by_id):
            self.foreign_frames += 1
            return None
        flow_id, seq, sent_at = parsed
        flow = self._by_id[flow_id]
        record = flow._record
        if receiver_mac is not None and bytes(receiver_mac) != flow.dst_mac:
            record.misdelivered += 1
            return None
        if seq in record.seen:
            record.duplicates += 1
            return None
        record.seen.add(seq)
        record.received += 1
        if seq < record.highest_seq:
            record.out_of_order += 1
        else:
            record.highest_seq = seq
        record.latencies_ms.append((now - sent_at) * 1000.0)
        return flow

    def flow_summary(self, name: str) -> dict[str, Any]:
        flow = self._flows[name]
        record = flow._record
        latencies = sorted(record.latencies_ms)
        latency = {f"p{p}": percentile(latencies, p) for p in PERCENTILES}
        latency["max"] = latencies[-1] if latencies else None
        return {
            "flow": name,
            "src_mac": format_mac(flow.src_mac),
            "dst_mac": format_mac(flow.dst_mac),
            "size": flow.size,
            "rate_per_s": flow.rate_per_s,
            "sent": record.sent,
            "received": record.received,
            "duplicates": record.duplicates,
            "out_of_order": record.out_of_order,
            "misdelivered": record.misdelivered,
            "delivery_ratio": (
                min(1.0, record.received / record.sent) if record.sent else None
            ),
            "latency_ms": latency,
        }

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per flow: counts, ``delivery_ratio`` (``None`` before any frame was
        sent) and ``latency_ms`` p50/p90/p99/max (``None`` without samples)."""
        return {flow.name: self.flow_summary(flow.name) for flow in self._by_id}

    def totals(self) -> dict[str, Any]:
        """All flows together: sent, received and the overall delivery ratio."""
        sent = sum(flow._record.sent for flow in self._by_id)
        received = sum(flow._record.received for flow in self._by_id)
        return {
            "sent": sent,
            "received": received,
            "delivery_ratio": min(1.0, received / sent) if sent else None,
            "foreign_frames": self.foreign_frames,
        }
