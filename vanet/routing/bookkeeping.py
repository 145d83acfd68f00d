"""What the RSU and OBU cores share: event recording, reply observations
and the downstream route table (PROTOCOL.md sections 3 and 4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from twisted.logger import Logger

from vanet.mac import format_mac
from vanet.routing.actions import RouteEvent
from vanet.routing.candidates import Candidate, summarize


class EventRecorder:
    """Counts events and drops, and logs each decision as a structured
    ``twisted.logger`` event (``log_namespace`` ``vanet.routing.<role>``).

    This is the one place a route event is logged and counted: the node
    engine carries the returned ``RouteEvent`` out without logging it again.
    ``name`` (the node's configured name) labels the log lines; without one
    they carry the MAC."""

    def __init__(self, mac: bytes, role: str, name: str | None = None) -> None:
        self.node = name if name else format_mac(mac)
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


class ReplyLog:
    """The reply observations brought back by one heartbeat, grouped by
    target: ``by_target[target][via] = (hops, latency_ms or None)``, each in
    first-arrival order (the order a full rebuild reads them in).

    ``live`` is set by the owning core while the log counts for routes, so a
    reply into a log that no longer counts costs no route work."""

    __slots__ = ("by_target", "size", "live")

    def __init__(self) -> None:
        self.by_target: dict[bytes, dict[bytes, tuple[int, float | None]]] = {}
        self.size = 0
        self.live = False

    def __len__(self) -> int:
        return self.size

    def record(
        self, target: bytes, via: bytes, value: tuple[int, float | None], bound: int
    ) -> int:
        """Store one observation unless the per-heartbeat bound is reached
        (``REFUSED``); a measured observation replaces an unmeasured one for
        the same key. ``CHANGED`` when what is held changed, else ``KEPT``."""
        vias = self.by_target.get(target)
        if vias is None:
            if self.size >= bound:
                return REFUSED
            self.by_target[target] = {via: value}
            self.size += 1
            return CHANGED
        old = vias.get(via)
        if old is None:
            if self.size >= bound:
                return REFUSED
            vias[via] = value
            self.size += 1
            return CHANGED
        if (value[1] is not None or old[1] is None) and value != old:
            vias[via] = value
            return CHANGED
        return KEPT


REFUSED, KEPT, CHANGED = 0, 1, 2


def build_routes(
    strategy,
    reply_logs: Iterable[ReplyLog],
    me: bytes,
    demoted: Iterable[bytes] = (),
) -> dict[bytes, list[Candidate]]:
    """Ranked candidates per downstream target from live observations
    (``reply_logs`` oldest first), rebuilt from scratch. The cores keep
    their tables up to date with ``RouteTable``; this is the reference
    they are tested against."""
    observations: dict[bytes, list[tuple[bytes, int, float | None]]] = {}
    for log in reply_logs:
        for target, vias in log.by_target.items():
            if target == me:
                continue
            for via, (hops, latency) in vias.items():
                if via == me:
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


def rank_target(
    strategy, target: bytes, reply_logs: list[ReplyLog], me: bytes, demoted
) -> list[Candidate]:
    """Ranked candidates toward one target from live observations (empty
    without any): one row of ``build_routes``."""
    if target == me:
        return []
    observations = []
    append = observations.append
    for log in reply_logs:
        vias = log.by_target.get(target)
        if vias:
            for via, (hops, latency) in vias.items():
                if via != me:
                    append((via, hops, latency))
    if not observations:
        return []
    ranked = strategy.rank_routes(summarize(target, observations))
    if demoted:
        ranked.sort(key=lambda c: c.next_hop in demoted)  # stable
    return ranked


def _first_appearance(targets, reply_logs: list[ReplyLog]) -> dict[bytes, int]:
    # The order a full rebuild's table lists targets in.
    wanted = set(targets)
    order: dict[bytes, int] = {}
    for log in reply_logs:
        for target in log.by_target:
            if target in wanted and target not in order:
                order[target] = len(order)
                if len(order) == len(wanted):
                    return order
    return order


class RouteTable:
    """Downstream routes kept up to date target by target.

    ``update`` re-ranks only the targets a change touched and returns the
    same ``route_*`` events, in the same order, as diffing two full
    rebuilds (``build_routes`` + ``diff_routes``) would."""

    __slots__ = ("ranked", "best", "_recorder", "_me")

    def __init__(self, recorder: EventRecorder, me: bytes) -> None:
        self.ranked: dict[bytes, list[Candidate]] = {}
        self.best: dict[bytes, Candidate] = {}
        self._recorder = recorder
        self._me = me

    def update(
        self,
        strategy,
        targets: Iterable[bytes],
        reply_logs: list[ReplyLog],
        old_logs: list[ReplyLog],
        demoted,
    ) -> list[RouteEvent]:
        """Re-rank ``targets`` over ``reply_logs`` (the live logs, oldest
        first); ``old_logs`` were live at the previous update (they give
        the order of ``route_lost`` events)."""
        ranked_table, best_table, me = self.ranked, self.best, self._me
        found: list[tuple[bytes, Candidate, Candidate | None]] = []
        lost: list[tuple[bytes, Candidate]] = []
        for target in targets:
            ranked = rank_target(strategy, target, reply_logs, me, demoted)
            before = best_table.get(target)
            if ranked:
                cand = ranked[0]
                ranked_table[target] = ranked
                best_table[target] = cand
                if before is None or before.next_hop != cand.next_hop:
                    found.append((target, cand, before))
            elif before is not None:
                del ranked_table[target], best_table[target]
                lost.append((target, before))
        if not found and not lost:
            return []
        if len(found) > 1:
            order = _first_appearance([f[0] for f in found], reply_logs)
            found.sort(key=lambda f: order.get(f[0], len(order)))
        if len(lost) > 1:
            order = _first_appearance([f[0] for f in lost], old_logs)
            lost.sort(key=lambda f: order.get(f[0], len(order)))
        return _route_events(self._recorder, found, lost)


def _route_events(recorder: EventRecorder, found, lost) -> list[RouteEvent]:
    events = []
    for target, cand, before in found:
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
        else:
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
    for target, before in lost:
        events.append(
            recorder.event(
                "route_lost",
                target=format_mac(target),
                previous=format_mac(before.next_hop),
                reason="no_live_observation",
            )
        )
    return events


def diff_routes(
    recorder: EventRecorder,
    old: dict[bytes, Candidate],
    new: dict[bytes, Candidate],
) -> list[RouteEvent]:
    """route_discovered / route_changed / route_lost between two tables."""
    found = []
    for target, cand in new.items():
        before = old.get(target)
        if before is None or before.next_hop != cand.next_hop:
            found.append((target, cand, before))
    lost = [(t, before) for t, before in old.items() if t not in new]
    return _route_events(recorder, found, lost)


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
