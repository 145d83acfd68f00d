"""The RSU's client-MAC table: which node each client MAC lives behind.

Bounded (least recently seen evicted first) and with expiry, like a
learning bridge's forwarding table (docs/protocol.md §7).
"""

from __future__ import annotations

from collections import OrderedDict

from vanet.mac import format_mac

#: past the TTL at which an entry goes: ``now - seen > ttl`` holds a hair
#: after ``seen + ttl`` (far above a float's rounding at epoch times)
EXPIRY_AFTER = 1e-6


class ClientTable:
    """Client MAC -> (the node it lives behind, when it was last seen)."""

    def __init__(self, capacity: int = 4096, ttl_s: float = 300.0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.capacity = capacity
        self.ttl_s = ttl_s
        # Ordered by last sighting: the first entry is the stalest.
        self._entries: OrderedDict[bytes, tuple[bytes, float]] = OrderedDict()
        self.evicted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._entries)

    def learn(self, client: bytes, behind: bytes, now: float) -> bool:
        """``client`` was just seen entering at ``behind`` (an OBU or the
        RSU). Whether that is news: the client was not known there."""
        entries = self._entries
        old = entries.get(client)
        entries[client] = (behind, now)
        entries.move_to_end(client)
        if len(entries) > self.capacity:
            entries.popitem(last=False)
            self.evicted += 1
        return old is None or old[0] != behind

    def lookup(self, client: bytes, now: float) -> bytes | None:
        """Where ``client`` lives, or ``None`` if unknown or expired."""
        entry = self._entries.get(client)
        if entry is None:
            return None
        behind, seen = entry
        if now - seen > self.ttl_s:
            del self._entries[client]
            self.expired += 1
            return None
        return behind

    def expire(self, now: float) -> None:
        """Drop every entry older than the TTL."""
        entries = self._entries
        while entries:
            client, (_, seen) = next(iter(entries.items()))
            if now - seen <= self.ttl_s:
                break
            del entries[client]
            self.expired += 1

    def next_expiry(self) -> float:
        """When ``expire`` next has an entry to drop (``inf``: none held):
        a hair after the stalest entry's TTL, which it outlives by ``<=``."""
        for _, seen in self._entries.values():
            return seen + self.ttl_s + EXPIRY_AFTER
        return float("inf")

    def status(self, now: float) -> dict[str, dict]:
        """``{client: {"behind": mac, "age_s": seconds}}`` for live entries."""
        self.expire(now)
        return {
            format_mac(client): {
                "behind": format_mac(behind),
                "age_s": round(now - seen, 3),
            }
            for client, (behind, seen) in self._entries.items()
        }
