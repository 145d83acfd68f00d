"""What the RSU and OBU cores share: event recording, reply observations
and the downstream route table (docs/protocol.md §3 and §4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import islice

from twisted.logger import Logger

from vanet.mac import format_mac
from vanet.routing.actions import RouteEvent
from vanet.routing.candidates import Candidate, summarize
from vanet.routing.strategies import route_row_key


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
        ranked = strategy.rank_routes(summarize(target, obs))
        if demoted:
            ranked.sort(key=lambda c: c.next_hop in demoted)  # stable
        table[target] = ranked
    return table


#: A summarized next hop toward one target, as the route table keeps it:
#: ``(next_hop, hops, min_ms, avg_ms, samples)`` (``None``, ``None``, 0 when
#: unmeasured). Plain tuples: a ``Candidate`` is built only when asked for.
Row = tuple[bytes, int, "float | None", "float | None", int]


def _candidate(target: bytes, row: Row) -> Candidate:
    return Candidate(target, row[0], row[1], row[2], row[3], row[4])


def _aggregate(target: bytes, reply_logs: list[ReplyLog], me: bytes) -> dict:
    """Per next hop ``[hops, min, sum, count]`` over the live logs, in the
    order ``summarize`` reads them (first appearance; the newest hop count;
    latencies summed oldest first, so the floats are the same)."""
    agg: dict[bytes, list] = {}
    for log in reply_logs:
        vias = log.by_target.get(target)
        if vias:
            for via, (hops, latency) in vias.items():
                if via != me:
                    _observe(agg, via, hops, latency)
    return agg


def _observe(agg: dict, via: bytes, hops: int, latency: float | None) -> None:
    # One more observation of next hop ``via``: a new running summary, or
    # added to the one ``agg`` has.
    a = agg.get(via)
    if a is None:
        agg[via] = (
            [hops, None, 0.0, 0] if latency is None else [hops, latency, latency, 1]
        )
    else:
        _add(a, hops, latency)


def _add(a: list, hops: int, latency: float | None) -> None:
    # One more observation of a next hop, after those already in ``a``.
    a[0] = hops  # the newest observation's hop count
    if latency is not None:
        if a[3]:
            if latency < a[1]:
                a[1] = latency
            a[2] += latency
            a[3] += 1
        else:
            a[1] = a[2] = latency
            a[3] = 1


def _rows(agg: dict[bytes, list]) -> list[Row]:
    return [
        (via, a[0], a[1], a[2] / a[3], a[3]) if a[3] else (via, a[0], None, None, 0)
        for via, a in agg.items()
    ]


def _summary_rows(target: bytes, reply_logs: list[ReplyLog], me: bytes) -> list[Row]:
    """``summarize`` over the live logs without building the observation
    list or ``Candidate`` objects: the same values in the same order."""
    return _rows(_aggregate(target, reply_logs, me))


def _order(strategy, target: bytes, rows: list[Row], demoted) -> list[Row]:
    if not rows:
        return rows
    key = route_row_key(strategy)
    if key is not None:
        # A shipped strategy: its order as a key on rows, no Candidates.
        if demoted:
            rows.sort(key=lambda r: (r[0] in demoted, key(r)))
        else:
            rows.sort(key=key)
        return rows
    ranked = strategy.rank_routes([_candidate(target, r) for r in rows])
    if demoted:
        ranked.sort(key=lambda c: c.next_hop in demoted)  # stable
    return [(c.next_hop, c.hops, c.min_ms, c.avg_ms, c.samples) for c in ranked]


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

    The table holds ranked rows (tuples); ``ranked`` and ``best`` build the
    ``Candidate`` objects on demand (status, tests), and ``next_hop`` is
    what the data path asks."""

    __slots__ = ("rows", "next_hop", "live_logs", "_recorder", "_me")

    def __init__(self, recorder: EventRecorder, me: bytes) -> None:
        self.rows: dict[bytes, list[Row]] = {}
        self.next_hop: dict[bytes, bytes] = {}  # target -> best next hop
        self.live_logs: list[ReplyLog] = []  # what routes are read from
        self._recorder = recorder
        self._me = me

    @property
    def ranked(self) -> dict[bytes, list[Candidate]]:
        return {t: [_candidate(t, r) for r in rows] for t, rows in self.rows.items()}

    @property
    def best(self) -> dict[bytes, Candidate]:
        return {t: _candidate(t, rows[0]) for t, rows in self.rows.items()}

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
        else:
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
        events = self._rerank(strategy, targets, logs, old_logs, demoted)
        for log in left:
            log.clear()  # after the re-ranking: it read their order
        return events

    def _rerank(
        self,
        strategy,
        targets: Iterable[bytes],
        reply_logs: list[ReplyLog],
        old_logs: list[ReplyLog],
        demoted,
    ) -> list[RouteEvent]:
        # ``old_logs`` were live at the previous update: they give the
        # order of ``route_lost`` events.
        rows_table, hop_table = self.rows, self.next_hop
        found: list[tuple[bytes, Row, bytes | None]] = []
        lost: list[tuple[bytes, bytes]] = []
        key = None if demoted else route_row_key(strategy)
        me = self._me
        for target in targets:
            rows = _summary_rows(target, reply_logs, me) if target != me else []
            if key is not None:
                rows.sort(key=key)  # _order's shortcut, without the call
            else:
                rows = _order(strategy, target, rows, demoted)
            before = hop_table.get(target)
            if rows:
                best = rows[0]
                rows_table[target] = rows
                if before != best[0]:
                    hop_table[target] = best[0]
                    found.append((target, best, before))
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
        return _row_events(self._recorder, found, lost)


def _row_events(recorder: EventRecorder, found, lost) -> list[RouteEvent]:
    # Fields are built (and MACs formatted) only here, for emitted events.
    events = []
    for target, (next_hop, hops, min_ms, _, _), before in found:
        if before is None:
            events.append(
                recorder.event(
                    "route_discovered",
                    target=format_mac(target),
                    next_hop=format_mac(next_hop),
                    hops=hops,
                    latency_ms=min_ms,
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
                    latency_ms=min_ms,
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


def _route_events(recorder: EventRecorder, found, lost) -> list[RouteEvent]:
    return _row_events(
        recorder,
        [
            (
                t,
                (c.next_hop, c.hops, c.min_ms, c.avg_ms, c.samples),
                None if b is None else b.next_hop,
            )
            for t, c, b in found
        ],
        [(t, b.next_hop) for t, b in lost],
    )


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
