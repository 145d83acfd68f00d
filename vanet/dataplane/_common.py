"""Pieces both roles' data planes share."""

from __future__ import annotations

from collections import Counter

from vanet.routing.actions import DeliverToTap

# An inner frame needs at least destination MAC, source MAC and EtherType.
MIN_INNER_FRAME = 14


class DataPlaneBase:
    """Counters, drop accounting and opening payloads."""

    def __init__(self, mac: bytes, routing, codec) -> None:
        self.mac = bytes(mac)
        self.routing = routing
        self.codec = codec
        self.drops: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()

    def _drop(self, reason: str) -> list:
        self.drops[reason] += 1
        return []

    def _open(self, payload):
        """The inner frame of ``payload``, or ``None`` after counting why not
        (docs/protocol.md §8: a frame that fails to decrypt is dropped, counted)."""
        frame = self.codec.open(payload)
        if frame is None:
            reason = getattr(self.codec, "last_rejection", None)
            self.drops["replay" if reason == "replay" else "decrypt"] += 1
            return None
        if len(frame) < MIN_INNER_FRAME:
            self.drops["short_frame"] += 1
            return None
        return frame

    def _deliver(self, frame) -> DeliverToTap:
        self.counters["delivered_to_tap"] += 1
        return DeliverToTap(frame)
