"""Routes toward vehicles, learnt from heartbeat replies (docs/protocol.md
§3 and §4), as both roles keep them: the reply logs and the route table."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice, repeat

from vanet.mac import format_mac
from vanet.routing.actions import RouteEvent
from vanet.routing.candidates import Candidate
from vanet.routing.events import EventRecorder
from vanet.routing.summary import Summary, summarize


class ReplyLog:
    """The reply observations brought back by one heartbeat, grouped by
    target: ``by_target[target][via] = (hops, latency_ms or None)``, each in
    first-arrival order (the order a full rebuild reads them in).

    ``live`` is set by the owning core while the log counts for routes, so a
    reply into a log that no longer counts costs no route work. ``seen`` is
    how many targets it held at the last route update (targets are only
    ever appended), so the order of that update can be read again."""

    __slots__ = ("by_target", "size", "live", "seen")

    def __init__(self) -> None:
        self.by_target: dict[bytes, dict[bytes, tuple[int, float | None]]] = {}
        self.size = 0
        self.live = False
        self.seen = 0

    def __len__(self) -> int:
        return self.size

    def clear(self) -> None:
        """Drop what it holds (it left the live window: routes no longer
        read it, and a network's worth of observations adds up)."""
        self.by_target = {}
        self.size = self.seen = 0

    def record(
        self, target: bytes, via: bytes, value: tuple[int, float | None], bound: int
    ) -> int:
        """Store one observation unless the per-heartbeat bound is reached
        (``REFUSED``); a measured observation replaces an unmeasured one for
        the same key. ``ADDED`` for a new key (it is last in this log's
        order), ``CHANGED`` when a held value was replaced, else ``KEPT``."""
        vias = self.by_target.get(target)
        if vias is None:
            if self.size >= bound:
                return REFUSED
            self.by_target[target] = {via: value}
            self.size += 1
            return ADDED
        old = vias.get(via)
        if old is None:
            if self.size >= bound:
                return REFUSED
            vias[via] = value
            self.size += 1
            return ADDED
        if (value[1] is not None or old[1] is None) and value != old:
            vias[via] = value
            return CHANGED
        return KEPT


#: ``ReplyLog.record`` outcomes (``>= CHANGED``: what is held changed)
REFUSED, KEPT, CHANGED, ADDED = 0, 1, 2, 3


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
        ranked = sorted(summarize(target, obs), key=strategy.route_key)
        if demoted:
            ranked.sort(key=lambda c: c.next_hop in demoted)  # stable
        table[target] = ranked
    return table


def _summaries(target: bytes, tables: list[dict], me: bytes) -> dict:
    """Per next hop, its ``Summary`` over the live logs (``tables``: their
    ``by_target``, oldest first), in the order ``summarize`` reads them
    (first appearance; the newest hop count; latencies summed oldest
    first, so the floats are the same)."""
    agg: dict[bytes, Summary] = {}
    # The logs that hold no observation of ``target`` (most of them) are
    # passed over in C: map and filter, not a Python loop.
    for vias in filter(None, map(_get, tables, repeat(target))):
        for via, (hops, latency) in vias.items():
            if via != me:
                s = agg.get(via)
                if s is None:
                    agg[via] = Summary(hops, latency)
                else:
                    s.add(hops, latency)
    return agg


_get = dict.get


def _first_appearance(
    targets, reply_logs: list[ReplyLog], as_seen: bool = False
) -> dict[bytes, int]:
    # The order a full rebuild's table lists targets in; ``as_seen``: as
    # of the last update (ignoring targets the logs gained since).
    wanted = set(targets)
    order: dict[bytes, int] = {}
    for log in reply_logs:
        held = islice(log.by_target, log.seen) if as_seen else log.by_target
        for target in held:
            if target in wanted and target not in order:
                order[target] = len(order)
                if len(order) == len(wanted):
                    return order
    return order


class RouteTable:
    """Downstream routes kept up to date target by target.

    ``update`` re-ranks only the targets a change touched and returns the
    same ``route_*`` events, in the same order, as diffing two full
    rebuilds (``build_routes`` + ``diff_routes``) would.

    ``rows`` holds each target's next hops with their summaries, best
    first; ``ranked`` and ``best`` build the ``Candidate`` objects on
    demand (status, tests): most vehicles are reached through one
    neighbour, and ranking them needs no candidate at all. ``next_hop`` is
    what the data path asks."""

    __slots__ = ("rows", "next_hop", "live_logs", "_tables", "_recorder", "_me")

    def __init__(self, recorder: EventRecorder, me: bytes) -> None:
        self.rows: dict[bytes, list[tuple[bytes, Summary]]] = {}
        self.next_hop: dict[bytes, bytes] = {}  # target -> best next hop
        self.live_logs: list[ReplyLog] = []  # what routes are read from
        # Their ``by_target`` dicts, in the same order: every re-ranked
        # target looks itself up in each, and a log's dict is replaced only
        # when it leaves the window (``clear``), so they are kept with it.
        self._tables: list[dict] = []
        self._recorder = recorder
        self._me = me

    @property
    def ranked(self) -> dict[bytes, list[Candidate]]:
        return {
            t: [s.candidate(t, via) for via, s in rows] for t, rows in self.rows.items()
        }

    @property
    def best(self) -> dict[bytes, Candidate]:
        return {t: rows[0][1].candidate(t, rows[0][0]) for t, rows in self.rows.items()}

    def update(
        self,
        strategy,
        targets: Iterable[bytes],
        demoted,
        logs: list[ReplyLog] | None = None,
        everything: bool = False,
    ) -> list[RouteEvent]:
        """Re-rank ``targets`` over the live logs (oldest first). The cores
        call it at ticks, with every target a reply touched since, and when
        the live window moves or the demoted set changes.

        ``logs``: the live logs when the window may have moved (``None``: it
        did not); the targets of the logs that entered or left it are
        re-ranked too, and those that left are cleared (routes no longer
        read them). ``everything``: also every route held and every target
        the live logs hold."""
        old_logs = self.live_logs
        left: list[ReplyLog] = []
        if logs is None:
            logs = old_logs
            tables = self._tables
        else:
            tables = self._tables = [log.by_target for log in logs]
            targets = set(targets)
            kept = {id(log) for log in logs}
            left = [log for log in old_logs if id(log) not in kept]
            for log in left:
                log.live = False
                targets.update(log.by_target)
            for log in logs:
                if not log.live:
                    log.live = True
                    targets.update(log.by_target)
            if everything:
                targets.update(self.next_hop)
                for log in logs:
                    targets.update(log.by_target)
            self.live_logs = logs
        events = self._rerank(strategy, targets, logs, tables, old_logs, demoted)
        for log in left:
            log.clear()  # after the re-ranking: it read their order
        return events

    def _rerank(
        self,
        strategy,
        targets: Iterable[bytes],
        reply_logs: list[ReplyLog],
        tables: list[dict],
        old_logs: list[ReplyLog],
        demoted,
    ) -> list[RouteEvent]:
        # ``old_logs`` were live at the previous update: they give the
        # order of ``route_lost`` events; ``tables`` are the ``by_target``
        # of ``reply_logs``.
        rows_table, hop_table = self.rows, self.next_hop
        # (target, next hop, hops, latency_ms, previous next hop)
        found: list[tuple[bytes, bytes, int, float | None, bytes | None]] = []
        lost: list[tuple[bytes, bytes]] = []
        route_key = strategy.route_key
        me = self._me
        for target in targets:
            if target == me:
                rows = []
            else:
                rows = list(_summaries(target, tables, me).items())
                if len(rows) > 1:
                    # Candidates only where there is an order to decide.
                    if demoted:
                        rows.sort(
                            key=lambda r, t=target: (
                                r[0] in demoted,
                                route_key(r[1].candidate(t, r[0])),
                            )
                        )
                    else:
                        rows.sort(
                            key=lambda r, t=target: route_key(r[1].candidate(t, r[0]))
                        )
            before = hop_table.get(target)
            if rows:
                via, summary = rows[0]
                rows_table[target] = rows
                if before != via:
                    hop_table[target] = via
                    found.append((target, via, summary.hops, summary.low, before))
            elif before is not None:
                del rows_table[target], hop_table[target]
                lost.append((target, before))
        if len(lost) > 1:
            # The order the previous table listed them in: what the old
            # logs held then, not what replies added to them since.
            order = _first_appearance([f[0] for f in lost], old_logs, as_seen=True)
            lost.sort(key=lambda f: order.get(f[0], len(order)))
        # What the logs hold now, for the next update's route_lost order.
        for log in reply_logs:
            log.seen = len(log.by_target)
        if not found and not lost:
            return []
        if len(found) > 1:
            order = _first_appearance([f[0] for f in found], reply_logs)
            found.sort(key=lambda f: order.get(f[0], len(order)))
        return _route_events(self._recorder, found, lost)


def _route_events(recorder: EventRecorder, found, lost) -> list[RouteEvent]:
    # Fields are built (and MACs formatted) only here, for emitted events.
    events = []
    for target, next_hop, hops, latency_ms, before in found:
        if before is None:
            events.append(
                recorder.event(
                    "route_discovered",
                    target=format_mac(target),
                    next_hop=format_mac(next_hop),
                    hops=hops,
                    latency_ms=latency_ms,
                )
            )
        else:
            events.append(
                recorder.event(
                    "route_changed",
                    target=format_mac(target),
                    next_hop=format_mac(next_hop),
                    previous=format_mac(before),
                    hops=hops,
                    latency_ms=latency_ms,
                )
            )
    for target, before in lost:
        events.append(
            recorder.event(
                "route_lost",
                target=format_mac(target),
                previous=format_mac(before),
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
            previous = None if before is None else before.next_hop
            found.append((target, cand.next_hop, cand.hops, cand.min_ms, previous))
    lost = [(t, before.next_hop) for t, before in old.items() if t not in new]
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
