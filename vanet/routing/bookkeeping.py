"""What the RSU and OBU cores share: event recording, reply observations
and the downstream route table (PROTOCOL.md sections 3 and 4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from twisted.logger import Logger

from vanet.mac import format_mac
from vanet.routing.actions import RouteEvent
from vanet.routing.candidates import Candidate, summarize

# A reply observation: (target, via) -> (hops, latency_ms or None)
Replies = dict[tuple[bytes, bytes], tuple[int, float | None]]


class EventRecorder:
    """Counts events and drops, and logs each decision as a structured
    ``twisted.logger`` event (``log_namespace`` ``vanet.routing.<role>``)."""

    def __init__(self, mac: bytes, role: str) -> None:
        self.node = format_mac(mac)
        self.counters: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self._log = Logger(namespace=f"vanet.routing.{role}")

    def event(self, name: str, **fields) -> RouteEvent:
        self.counters[name] += 1
        self._log.info(
            "{node} {route_event}: {route_fields}",
            node=self.node,
            route_event=name,
            route_fields=fields,
        )
        return RouteEvent(name, fields)

    def drop(self, reason: str) -> None:
        self.drops[reason] += 1


def record_reply(
    replies: Replies,
    key: tuple[bytes, bytes],
    value: tuple[int, float | None],
    bound: int,
) -> bool:
    """Store one observation unless the per-sequence bound is reached.
    A measured observation replaces an unmeasured one for the same key."""
    old = replies.get(key)
    if old is None:
        if len(replies) >= bound:
            return False
        replies[key] = value
    elif value[1] is not None or old[1] is None:
        replies[key] = value
    return True


def build_routes(
    strategy,
    reply_sets: Iterable[Replies],
    me: bytes,
    demoted: Iterable[bytes] = (),
) -> dict[bytes, list[Candidate]]:
    """Ranked candidates per downstream target from live observations
    (``reply_sets`` oldest first)."""
    observations: dict[bytes, list[tuple[bytes, int, float | None]]] = {}
    for replies in reply_sets:
        for (target, via), (hops, latency) in replies.items():
            if target == me or via == me:
                continue
            observations.setdefault(target, []).append((via, hops, latency))
    demoted = set(demoted)
    table = {}
    for target, obs in observations.items():
        ranked = strategy.rank_routes(summarize(target, obs))
        if demoted:
            ranked.sort(key=lambda c: c.next_hop in demoted)  # stable
        table[target] = ranked
    return table


def diff_routes(
    recorder: EventRecorder,
    old: dict[bytes, Candidate],
    new: dict[bytes, Candidate],
) -> list[RouteEvent]:
    """route_discovered / route_changed / route_lost between two tables."""
    events = []
    for target, cand in new.items():
        before = old.get(target)
        if before is None:
            events.append(
                recorder.event(
                    "route_discovered",
                    target=format_mac(target),
                    next_hop=format_mac(cand.next_hop),
                    hops=cand.hops,
                    latency_ms=cand.min_ms,
                )
            )
        elif before.next_hop != cand.next_hop:
            events.append(
                recorder.event(
                    "route_changed",
                    target=format_mac(target),
                    next_hop=format_mac(cand.next_hop),
                    previous=format_mac(before.next_hop),
                    hops=cand.hops,
                    latency_ms=cand.min_ms,
                )
            )
    for target, before in old.items():
        if target not in new:
            events.append(
                recorder.event(
                    "route_lost",
                    target=format_mac(target),
                    previous=format_mac(before.next_hop),
                    reason="no_live_observation",
                )
            )
    return events


def routes_status(table: dict[bytes, Candidate]) -> dict:
    return {
        format_mac(target): {
            "next_hop": format_mac(c.next_hop),
            "hops": c.hops,
            "latency_ms": None if c.min_ms is None else round(c.min_ms, 3),
            "avg_ms": None if c.avg_ms is None else round(c.avg_ms, 3),
        }
        for target, c in sorted(table.items())
    }
