"""The OBU's routing core, sans I/O (docs/protocol.md §3–§6).

The node hands every heartbeat and heartbeat reply addressed to it to
``on_message(msg, now)``, calls ``tick(now)`` a few times per heartbeat
period, and reports failed sends with ``on_send_failed``. The core returns
frames to send (``Transmit``) and decisions (``RouteEvent``); the
``strategy`` only ranks the candidates the core builds.

Frames go out the moment their cause arrives; ranking waits for the next
tick where it can (docs/architecture.md, "When the OBU core decides"): a
heartbeat from a known RSU, a copy of one, and a reply are weighed there.
"""

from __future__ import annotations

from zope.interface import implementer

from vanet.interfaces import IRoutingCore
from vanet.mac import format_mac
from vanet.routing.actions import Action, ForwardReply, RelayHeartbeat, SendReply
from vanet.routing.candidates import Candidate
from vanet.routing.events import EventRecorder
from vanet.routing.routes import CHANGED, REFUSED, ReplyLog, RouteTable, routes_status
from vanet.routing.summary import Summary
from vanet.wire import U32_MAX


class _Heard:
    """One heartbeat ``(source, seq)`` as this OBU heard it."""

    __slots__ = (
        "duration_ms",
        "at",
        "first_from",
        "hops",
        "arrivals",
        "replies",
    )

    def __init__(self, duration_ms: int, at: float, first_from: bytes, hops: int):
        self.duration_ms = duration_ms
        self.at = at  # when it was first heard (our clock, seconds)
        self.first_from = first_from  # P: our way toward the source
        self.hops = hops  # as carried on the wire: our distance to the source
        # neighbour -> (hops, arrival time): every path it came over
        self.arrivals: dict[bytes, tuple[int, float]] = {}
        self.replies = ReplyLog()

    def arrive(self, neighbour: bytes, hops: int, at: float) -> None:
        self.arrivals[neighbour] = (hops, at)


#: Arrival offsets are kept in multiples of 1/1024 ms (about 1 us): sums of
#: such numbers are exact in a float, so a heartbeat leaving the history is
#: subtracted out of a running sum with the same result as summing again.
_QUANTUM = 1024


class _Source:
    """What this OBU holds about one RSU."""

    __slots__ = (
        "seqs",
        "last_seq_from",
        "last_at_from",
        "period",
        "last_at",
        "agg",
        "ordered",
        "ref",
    )

    def __init__(self) -> None:
        self.seqs: dict[int, _Heard] = {}
        self.last_seq_from: dict[bytes, int] = {}  # newest seq each neighbour gave
        self.last_at_from: dict[bytes, float] = {}  # and when
        self.period: float | None = None  # learnt from ``duration`` (s)
        self.last_at = 0.0
        # Per neighbour the ``Summary`` of its arrivals' offsets
        # over the held heartbeats, oldest first: what the upstream
        # candidates are summarized from. ``None`` when it must be re-read
        # (an arrival came for an older heartbeat than the newest).
        self.agg: dict[bytes, Summary] | None = None
        self.ordered: list[tuple[int, _Heard]] | None = None  # seqs, sorted
        # The first raw offset seen: offsets are kept relative to it, so
        # they stay small (exact sums) whatever the two clocks read.
        self.ref: float | None = None

    def offset(self, at: float, duration_ms: int) -> float:
        """An arrival's offset: its time (ms, our clock) less the RSU's
        ``duration`` and ``ref``, in multiples of 1/_QUANTUM ms."""
        raw = at * 1000 - duration_ms
        ref = self.ref
        if ref is None:
            ref = self.ref = raw
        return round((raw - ref) * _QUANTUM) / _QUANTUM

    def add_seq(self, seq: int, heard: _Heard, history: int) -> None:
        """Hold a newly heard heartbeat (before its first arrival is
        noted), dropping the oldest past ``history``."""
        seqs = self.seqs
        if seqs and seq < self.sorted_seqs()[-1][0]:
            self.agg = None  # not the newest: its arrivals go in the middle
        seqs[seq] = heard
        self.ordered = None
        while len(seqs) > history:
            oldest = min(seqs)
            self._forget(seqs.pop(oldest))

    def _forget(self, heard: _Heard) -> None:
        # Take the oldest heartbeat's arrivals out of the running sums.
        agg = self.agg
        if agg is None:
            return
        duration_ms = heard.duration_ms
        for n, (_, at) in heard.arrivals.items():
            a = agg[n]
            if a.count == 1:
                del agg[n]
                continue
            if a.remove(self.offset(at, duration_ms)):
                # It may have been the only fastest: the minimum of the rest.
                a.low = min(
                    self.offset(h.arrivals[n][1], h.duration_ms)
                    for h in self.seqs.values()
                    if n in h.arrivals
                )

    def sorted_seqs(self) -> list[tuple[int, _Heard]]:
        ordered = self.ordered
        if ordered is None:
            ordered = self.ordered = sorted(self.seqs.items())
        return ordered

    def add_arrival(self, seq: int, neighbour: bytes, hops: int, at: float) -> None:
        """Note that held heartbeat ``seq`` came from ``neighbour``; fold it
        into ``agg`` if it is for the newest heartbeat (then it is last in
        the order a re-read follows)."""
        heard = self.seqs[seq]
        heard.arrive(neighbour, hops, at)
        agg = self.agg
        if agg is None:
            return
        if seq != self.sorted_seqs()[-1][0]:
            self.agg = None
            return
        offset = self.offset(at, heard.duration_ms)
        a = agg.get(neighbour)
        if a is None:
            agg[neighbour] = Summary(hops, offset)
        else:
            a.add(hops, offset)

    def aggregate(self) -> dict[bytes, Summary]:
        agg = self.agg
        if agg is None:
            agg = self.agg = {}
            offset_of = self.offset
            for _, heard in self.sorted_seqs():
                duration_ms = heard.duration_ms
                for n, (hops, at) in heard.arrivals.items():
                    offset = offset_of(at, duration_ms)
                    a = agg.get(n)
                    if a is None:
                        agg[n] = Summary(hops, offset)
                    else:
                        a.add(hops, offset)
        return agg


@implementer(IRoutingCore)
class ObuRoutingCore:
    """Heartbeat relay, reply relay and upstream selection of one OBU.

    - ``hello_history``: heartbeats remembered per RSU (section 3).
    - ``cached_candidates``: the N best upstream next hops kept for
      failover (section 4).
    - ``neighbour_timeout``: a neighbour that delivered none of the last
      ``neighbour_timeout`` heartbeats of an RSU (by seq, or by time using
      the period learnt from ``duration``) stops being a candidate toward
      it (section 8).
    - ``gateway_switch_threshold``: relative improvement another RSU needs
      before the OBU moves to it ("late switch"); 0.1 by default.
    - ``default_period``: heartbeat period (s) assumed until learnt.
    - ``max_sources``, ``max_neighbours``, ``max_observations``: bounds on
      RSUs, neighbours (overall and per RSU) and observations per heartbeat.
    - ``name``: the node's name in the route-event log lines (default:
      its MAC).
    - ``max_hops``: do not rebroadcast heartbeats that have already come
      this many hops (0: no limit, the protocol's default). It bounds each
      RSU's flood, and the replies that come back from it, in large
      networks.
    - ``relay_scope``: rebroadcast an RSU's heartbeats only while that RSU
      is at most this many hops farther than the nearest RSU this OBU hears
      (``None``: every RSU's, the protocol's default). With many RSUs each
      one's flood then covers its own area and a margin around it; see
      ``_in_scope``.
    """

    role = "obu"

    def __init__(
        self,
        mac: bytes,
        strategy,
        *,
        hello_history: int = 10,
        cached_candidates: int = 3,
        neighbour_timeout: int = 2,
        gateway_switch_threshold: float = 0.1,
        default_period: float = 1.0,
        max_sources: int = 16,
        max_neighbours: int = 64,
        max_observations: int = 256,
        name: str | None = None,
        max_hops: int = 0,
        relay_scope: int | None = None,
    ) -> None:
        if max_hops < 0:
            raise ValueError("max_hops must be 0 (no limit) or more")
        if relay_scope is not None and relay_scope < 0:
            raise ValueError("relay_scope must be None (no scope) or 0 or more")
        if hello_history < 1:
            raise ValueError("hello_history must be at least 1")
        if cached_candidates < 1:
            raise ValueError("cached_candidates must be at least 1")
        if neighbour_timeout < 1:
            raise ValueError("neighbour_timeout must be at least 1")
        if default_period <= 0:
            raise ValueError("default_period must be positive (seconds)")
        self.mac = bytes(mac)
        self.strategy = strategy
        self.hello_history = hello_history
        self.cached_candidates = cached_candidates
        self.neighbour_timeout = neighbour_timeout
        self.gateway_switch_threshold = gateway_switch_threshold
        self.default_period = default_period
        self.max_sources = max_sources
        self.max_neighbours = max_neighbours
        self.max_observations = max_observations
        self.max_hops = max_hops
        self.relay_scope = relay_scope
        # Hops to the nearest RSU with a live candidate (relay_scope's base),
        # as of the last upstream selection.
        self._nearest_hops = float("inf")
        self._hops_by_source: dict[bytes, int] = {}
        self._sources: dict[bytes, _Source] = {}
        self._neighbours: dict[bytes, float] = {}  # one-hop neighbour -> last heard
        self._demoted: dict[bytes, float] = {}  # next hop -> when a send failed
        self._gateway: bytes | None = None
        self._upstream: bytes | None = None
        self._candidates: list[Candidate] = []  # toward the gateway, primary first
        self.name = name
        self._recorder = EventRecorder()
        self._counters = self._recorder.counters  # (hot path: no property)
        # Incremental state (see _refresh): ranked upstream candidates per
        # RSU, the sources whose candidates must be rebuilt, the reply logs
        # routes are built from, and the earliest time a liveness check may
        # change something.
        self._upstream_by_source: dict[bytes, list[Candidate]] = {}
        self._live_by_source: dict[bytes, frozenset[bytes]] = {}
        self._dirty_sources: set[bytes] = set()
        # Heartbeat copies not yet noted: (source, its state, seq, neighbour,
        # hops, arrival time); see _on_heartbeat.
        self._deferred: list[tuple] = []
        self._forget_at = float("-inf")  # next memory housekeeping (tick)
        # Targets whose routes replies changed since the last route update.
        self._pending_targets: set[bytes] = set()
        self._logs_dirty = False  # some source's live logs changed
        self._all_routes_dirty = False
        self._recheck_at = float("inf")
        self._expiry_by_source: dict[bytes, float] = {}
        self._logs_by_source: dict[bytes, list[ReplyLog]] = {}
        self._table = RouteTable(self._recorder, self.mac)

    @property
    def _ranked_routes(self) -> dict[bytes, list[Candidate]]:
        return self._table.ranked

    def _everything_dirty(self) -> None:
        """Rebuild all candidates and routes at the next refresh (the
        demoted set changed, which reorders candidates anywhere)."""
        self._dirty_sources.update(self._sources)
        self._dirty_sources.update(self._upstream_by_source)
        self._logs_dirty = True
        self._all_routes_dirty = True

    # -- public state ---------------------------------------------------

    @property
    def counters(self):
        return self._recorder.counters

    @property
    def drops(self):
        return self._recorder.drops

    @property
    def upstream(self) -> bytes | None:
        """Primary next hop toward the gateway RSU."""
        return self._upstream

    @property
    def gateway(self) -> bytes | None:
        """The RSU this OBU sends upstream traffic to."""
        return self._gateway

    @property
    def upstream_candidates(self) -> list[bytes]:
        """The cached next hops toward the gateway, primary first."""
        return [c.next_hop for c in self._candidates]

    def route_to(self, target: bytes, now: float) -> bytes | None:
        """Next hop toward a downstream vehicle (learnt from replies)."""
        return self._table.next_hop.get(target)

    def vehicles(self, now: float) -> list[bytes]:
        """Vehicles with a live route, in MAC order."""
        return sorted(self._table.next_hop)

    # -- inputs ---------------------------------------------------------

    def on_message(self, msg, now: float) -> list[Action]:
        kind = msg.kind
        if kind == "heartbeat":
            return self._on_heartbeat(msg, now)
        if kind == "heartbeat_reply":
            return self._on_reply(msg, now)
        return []  # data messages belong to the data plane

    def heartbeat(self, now: float) -> list[Action]:
        """An OBU originates no heartbeats (docs/protocol.md §3)."""
        return []

    def tick(self, now: float) -> list[Action]:
        """Note deferred heartbeat copies, expire silent neighbours and RSUs;
        fail over if needed."""
        self._apply_deferred()
        if now >= self._forget_at:
            # Memory housekeeping only (what it forgets stopped counting
            # long before), so once a period is enough.
            self._forget_at = now + self.default_period
            self._forget_dead_sources(now)
        return self._refresh(now, routes=True)

    def on_send_failed(self, next_hop: bytes, now: float) -> list[Action]:
        """A send toward ``next_hop`` failed: rank it last (so the next
        candidate is promoted at once) until it delivers a fresh heartbeat."""
        self._apply_deferred()
        self._demoted[bytes(next_hop)] = now
        self._everything_dirty()
        self._counters["send_failed"] += 1
        return self._refresh(now, failed=bytes(next_hop), routes=True)

    # -- section 3: heartbeats -----------------------------------------

    def _on_heartbeat(self, hb, now: float) -> list[Action]:
        rec = self._recorder
        neighbour, source, seq = hb.src, hb.source, hb.seq
        if neighbour == self.mac or source == self.mac:
            rec.drop("own_frame")  # our own rebroadcast, heard back
            return []
        if hb.hops >= U32_MAX:
            # The hop count cannot grow further on the wire (u32): a frame
            # that claims this is broken or looping; relaying it would wrap.
            rec.drop("hop_limit")
            return []
        self._note_neighbour(neighbour, now)
        state = self._sources.get(source)
        held = None if state is None else state.seqs.get(seq)
        if held is not None and held.duration_ms == hb.duration_ms:
            # Already seen over another path. The copy only adds an arrival
            # (a candidate's latency sample), which is noted at the next
            # decision point (the next new heartbeat, a tick or a failed
            # send) instead of re-ranking now: every heartbeat comes over
            # each neighbour, so this is most of them, and acting on a copy
            # a quarter period later changes no failover time.
            self._counters["heartbeat_duplicate"] += 1
            deferred = self._deferred
            deferred.append((source, state, seq, neighbour, hb.hops, now))
            if len(deferred) >= self.max_neighbours * self.max_sources:
                return self._refresh(now) if self._apply_deferred() else []
            return []
        events: list[Action] = []
        if self._deferred:
            self._apply_deferred()  # first: they came before this one
        if state is not None and self._is_restart(state, seq, hb.duration_ms):
            # Section 3: the RSU restarted; forget what we held for it.
            events.append(
                rec.event(
                    "source_restarted",
                    source=format_mac(source),
                    seq=seq,
                    oldest_held=min(state.seqs) if state.seqs else None,
                )
            )
            del self._sources[source]
            state = None
        if state is None:
            state = self._new_source(source)
        self._heard_from(state, source, neighbour, seq, now)

        self._counters["heartbeat_new"] += 1
        heard = _Heard(hb.duration_ms, now, neighbour, hb.hops)
        self._learn_period(state, seq, hb.duration_ms)
        state.add_seq(seq, heard, self.hello_history)
        state.add_arrival(seq, neighbour, hb.hops, now)
        # Answer the neighbour it came from, with sender = us,
        actions: list[Action] = [SendReply(hb, neighbour)]
        if self.max_hops and hb.hops >= self.max_hops:
            # A local flooding bound (like batman-adv's TTL): the heartbeat
            # has come max_hops hops; nodes farther out do not hear it.
            self._counters["heartbeat_not_relayed_max_hops"] += 1
        elif not self._in_scope(source, hb.hops):
            self._counters["heartbeat_not_relayed_scope"] += 1
        else:
            # and rebroadcast it (dst broadcast, src = us, one hop more).
            actions.insert(0, RelayHeartbeat(hb, hb.hops + 1))
        actions.extend(events)
        if self._upstream is None or source not in self._upstream_by_source:
            # Nothing to lose by choosing now: the first upstream, or a new
            # RSU, is taken at once.
            actions.extend(self._refresh(now))
        return actions

    def _apply_deferred(self) -> bool:
        """Note the heartbeat copies deferred since the last decision point,
        as they would have been noted on arrival; whether any counted."""
        deferred, self._deferred = self._deferred, []
        sources = self._sources
        changed = False
        for source, state, seq, neighbour, hops, at in deferred:
            if sources.get(source) is not state:
                continue  # the RSU was forgotten or restarted since
            heard = state.seqs.get(seq)
            if heard is None:
                continue  # that heartbeat left the history since
            changed = True
            self._heard_from(state, source, neighbour, seq, at)
            if neighbour not in heard.arrivals:
                if len(heard.arrivals) < self.max_neighbours:
                    state.add_arrival(seq, neighbour, hops, at)
                else:
                    self._recorder.drop("observation_bound")
        return changed

    def _heard_from(
        self, state: _Source, source: bytes, neighbour: bytes, seq: int, at: float
    ) -> None:
        """What any heartbeat of ``source`` from ``neighbour`` tells, new or
        a copy: the RSU and the neighbour are alive."""
        if at > state.last_at:
            state.last_at = at
        if neighbour in self._demoted and seq > state.last_seq_from.get(neighbour, -1):
            del self._demoted[neighbour]  # it is alive again
            self._everything_dirty()
        self._note_source_neighbour(state, neighbour, seq, at)
        # What it changes: the candidates toward its RSU and which reply
        # logs are live; routes follow from the latter.
        self._dirty_sources.add(source)

    def _in_scope(self, source: bytes, hops: int) -> bool:
        """Whether a heartbeat of ``source`` that came ``hops`` hops is
        relayed under ``relay_scope``. The distance compared is the fewest
        hops toward ``source`` over its live candidates and this copy, not
        this copy's alone: which copy comes first varies with jitter, and a
        decision that flipped with it would make the RSU's flood flicker at
        the edge of its scope.

        Why nobody loses its nearest RSU: if S is a nearest RSU of a node X,
        it is one of every node Y on a shortest path from S to X as well
        (d(Y,T) >= d(X,T) - d(X,Y) >= d(X,S) - d(X,Y) = d(Y,S) for any RSU
        T), so those nodes relay S's heartbeats toward X. When the nearest
        RSU falls silent, the base moves to the next one once its
        candidates expire, and that RSU's next heartbeat is relayed: losing
        a gateway then costs up to one period more than without a scope."""
        scope = self.relay_scope
        if scope is None:
            return True
        known = self._hops_by_source.get(source)
        if known is not None and known < hops:
            hops = known
        return hops <= self._nearest_hops + scope

    def _is_restart(self, state: _Source, seq: int, duration_ms: int) -> bool:
        if not state.seqs:
            return False
        if seq < min(state.seqs):
            return True
        held = state.seqs.get(seq)
        if held is not None:
            # A known seq with another start time: a restarted RSU reusing it.
            return held.duration_ms != duration_ms
        lower = [s for s in state.seqs if s < seq]
        return bool(lower) and state.seqs[max(lower)].duration_ms > duration_ms

    def _learn_period(self, state: _Source, seq: int, duration_ms: int) -> None:
        lower = [s for s in state.seqs if s < seq]
        if not lower:
            return
        prev = max(lower)
        elapsed = duration_ms - state.seqs[prev].duration_ms
        if elapsed > 0:
            state.period = elapsed / (seq - prev) / 1000.0

    def _new_source(self, source: bytes) -> _Source:
        if len(self._sources) >= self.max_sources:
            # Evict the RSU heard from least recently.
            oldest = min(self._sources, key=lambda s: self._sources[s].last_at)
            del self._sources[oldest]
            self._dirty_sources.add(oldest)
            self._recorder.drop("source_bound")
        state = self._sources[source] = _Source()
        return state

    def _note_source_neighbour(
        self, state: _Source, neighbour: bytes, seq: int, now: float
    ) -> None:
        if neighbour not in state.last_seq_from and len(state.last_seq_from) >= (
            self.max_neighbours
        ):
            oldest = min(state.last_at_from, key=state.last_at_from.__getitem__)
            del state.last_seq_from[oldest], state.last_at_from[oldest]
        if seq >= state.last_seq_from.get(neighbour, -1):
            state.last_seq_from[neighbour] = seq
        state.last_at_from[neighbour] = now

    def _note_neighbour(self, neighbour: bytes, now: float) -> None:
        if neighbour not in self._neighbours and len(self._neighbours) >= (
            self.max_neighbours
        ):
            oldest = min(self._neighbours, key=self._neighbours.__getitem__)
            del self._neighbours[oldest]
        self._neighbours[neighbour] = now

    # -- section 3: replies ---------------------------------------------

    def _on_reply(self, reply, now: float) -> list[Action]:
        rec = self._recorder
        via, sender = reply.src, reply.sender
        if via == self.mac or sender == self.mac:
            rec.drop("own_frame")
            return []
        state = self._sources.get(reply.source)
        heard = None if state is None else state.seqs.get(reply.seq)
        if heard is None:
            rec.drop("unknown_heartbeat")
            return []
        if heard.duration_ms != reply.duration_ms:
            rec.drop("stale_reply")
            return []
        toward_source = heard.first_from
        if toward_source == sender:
            # Our way toward the source claims to be behind us: a loop.
            rec.drop("loop")
            return [
                rec.event(
                    "loop_detected",
                    source=format_mac(reply.source),
                    seq=reply.seq,
                    sender=format_mac(sender),
                    via=format_mac(via),
                )
            ]
        self._note_neighbour(via, now)
        # Hops relative to us: the sender's distance minus ours.
        hops = max(1, reply.hops - heard.hops)
        latency_ms = max(0.0, (now - heard.at) * 1000)
        log = heard.replies
        bound = self.max_observations
        value = (hops, latency_ms)
        stored = log.record(sender, via, value, bound)
        refused = stored == REFUSED
        touched: tuple[bytes, ...] = (sender,) if stored >= CHANGED else ()
        if via != sender:
            # The delivering neighbour itself is one hop away.
            stored = log.record(via, via, (1, None), bound)
            if stored >= CHANGED:
                touched += (via,)
            refused = refused or stored == REFUSED
        if refused:
            rec.drop("observation_bound")
        self._counters["reply_received"] += 1
        actions: list[Action] = []
        if via != toward_source:
            # Forward unchanged but for dst = P, src = us.
            actions.append(ForwardReply(reply, toward_source))
            self._counters["reply_forwarded"] += 1
        else:
            self._counters["reply_not_bounced"] += 1
        # Only routes toward what this log gained can change (and none if
        # the log does not count, or not yet: a log entering the live window
        # brings all its targets). Held routes are re-ranked at the next
        # tick; a vehicle without one gets it now, window move and all, so
        # the first frames toward it do not wait a quarter period.
        if touched:
            if log.live:
                self._pending_targets.update(touched)
            next_hop = self._table.next_hop
            if any(target not in next_hop for target in touched):
                actions.extend(self._refresh(now, routes=True))
        return actions

    # -- liveness (section 8) ------------------------------------------

    def period(self, source: bytes) -> float:
        state = self._sources.get(source)
        if state is None or state.period is None:
            return self.default_period
        return state.period

    def _deadline(self, state: _Source) -> float:
        period = state.period if state.period is not None else self.default_period
        return self.neighbour_timeout * period

    def _live_neighbours(self, state: _Source, now: float) -> set[bytes]:
        if not state.seqs:
            return set()
        newest = state.sorted_seqs()[-1][0]
        deadline = self._deadline(state)
        timeout = self.neighbour_timeout
        at_from = state.last_at_from
        me = self.mac
        return {
            n
            for n, seq in state.last_seq_from.items()
            if newest - seq < timeout and now - at_from[n] <= deadline and n != me
        }

    def _forget_dead_sources(self, now: float) -> None:
        # An RSU silent for its whole history is forgotten (bounded memory).
        for source, state in list(self._sources.items()):
            period = state.period if state.period is not None else self.default_period
            if (
                now - state.last_at
                > max(self.hello_history, self.neighbour_timeout) * period
            ):
                del self._sources[source]
                self._dirty_sources.add(source)
        for n, at in list(self._neighbours.items()):
            if now - at > self.hello_history * self.default_period and not any(
                n in s.last_seq_from for s in self._sources.values()
            ):
                del self._neighbours[n]

    # -- section 4: selection ------------------------------------------

    def _upstream_candidates(
        self, source: bytes, state: _Source, now: float, live=None
    ) -> list[Candidate]:
        if live is None:
            live = self._live_neighbours(state, now)
        if not live:
            return []
        # Latency: one-way delay in excess of the fastest arrival held
        # (duration is on the RSU's clock; see vanet.routing.strategies).
        agg = state.aggregate()
        base = min(a.low for a in agg.values())
        return [a.candidate(source, n, base) for n, a in agg.items() if n in live]

    def _demote(self, ranked: list[Candidate]) -> list[Candidate]:
        if self._demoted:
            ranked.sort(key=lambda c: c.next_hop in self._demoted)  # stable
        return ranked

    def _refresh(
        self, now: float, failed: bytes | None = None, routes: bool = False
    ) -> list[Action]:
        """Bring the upstream (and with ``routes`` the routes) up to date
        after a change.

        Equivalent to rebuilding everything from the held state (what this
        core did on every message once), but only what changed is rebuilt:
        the candidates toward RSUs marked dirty (by their heartbeats, a
        removal, the demoted set, or a live neighbour going silent), and
        the routes toward the targets replies touched since the last time
        plus those whose reply logs entered or left the live window. Routes
        are re-ranked at ticks and failed sends only: a busy relay forwards
        thousands of replies a period, several toward each target, and the
        routes toward vehicles serve only downstream data."""
        events: list[Action] = []
        if now >= self._recheck_at:
            self._check_liveness(now)
        if self._dirty_sources:
            self._select_upstream(now, events)
            expiry = self._expiry_by_source
            self._recheck_at = min(expiry.values()) if expiry else float("inf")
        if routes and (
            self._pending_targets or self._logs_dirty or self._all_routes_dirty
        ):
            targets, self._pending_targets = self._pending_targets, set()
            self._update_routes(targets, events)
        return events

    def _check_liveness(self, now: float) -> None:
        # Time alone only ever removes: a neighbour or an RSU falls silent.
        live_by_source = self._live_by_source
        logs_by_source = self._logs_by_source
        for source, state in self._sources.items():
            if live_by_source.get(source) != self._live_neighbours(state, now) or bool(
                logs_by_source.get(source)
            ) != self._source_live(state, now):
                self._dirty_sources.add(source)
        if not self._dirty_sources:
            # Nothing expired yet (the check runs a hair early): look again
            # at the next call.
            self._recheck_at = now

    def _source_live(self, state: _Source, now: float) -> bool:
        return bool(state.seqs) and now - state.last_at <= self._deadline(state)

    def _expiry(self, state: _Source, live, logs) -> float:
        """Earliest time a live neighbour of this RSU, or the RSU itself,
        may fall silent (a hair early: ``_check_liveness`` decides)."""
        if not live and not logs:
            return float("inf")  # silent already: only a heartbeat changes it
        at = state.last_at
        last_at_from = state.last_at_from
        for n in live:
            if last_at_from[n] < at:
                at = last_at_from[n]
        return at + self._deadline(state) - 1e-6

    def _select_upstream(self, now: float, events: list[Action]) -> None:
        strategy = self.strategy
        rec = self._recorder
        by_source = self._upstream_by_source
        logs_by_source = self._logs_by_source
        hops_by_source = self._hops_by_source  # fewest hops, per RSU
        for source in self._dirty_sources:
            state = self._sources.get(source)
            if state is None:
                by_source.pop(source, None)
                hops_by_source.pop(source, None)
                self._live_by_source.pop(source, None)
                self._expiry_by_source.pop(source, None)
                if logs_by_source.pop(source, None):
                    self._logs_dirty = True
                continue
            live = self._live_by_source[source] = frozenset(
                self._live_neighbours(state, now)
            )
            logs = self._source_logs(state, now)
            self._expiry_by_source[source] = self._expiry(state, live, logs)
            if logs != logs_by_source.get(source, []):
                self._logs_dirty = True
            logs_by_source[source] = logs
            cands = self._upstream_candidates(source, state, now, live)
            if cands:
                cands.sort(key=strategy.upstream_key)
                by_source[source] = self._demote(cands)
                hops_by_source[source] = min(c.hops for c in cands)
            else:
                by_source.pop(source, None)
                hops_by_source.pop(source, None)
        self._dirty_sources.clear()
        # In the sources' order, as a full rebuild lists them.
        per_source = {s: by_source[s] for s in self._sources if s in by_source}
        self._nearest_hops = min(hops_by_source.values(), default=float("inf"))

        # Gateway: the best RSU, left only past the threshold or when dead.
        old_gateway = self._gateway
        new_gateway = old_gateway
        if not per_source:
            new_gateway = None
        else:
            best = min((r[0] for r in per_source.values()), key=strategy.gateway_key)
            if old_gateway not in per_source:
                new_gateway = best.target
                reason = "initial" if old_gateway is None else "gateway_lost"
            elif best.target != old_gateway:
                reason = strategy.gateway_switch_reason(
                    per_source[old_gateway][0], best, self.gateway_switch_threshold
                )
                if reason:
                    new_gateway = best.target
            if new_gateway != old_gateway:
                name = "gateway_selected" if old_gateway is None else "gateway_switched"
                events.append(
                    rec.event(
                        name,
                        gateway=format_mac(new_gateway),
                        previous=None
                        if old_gateway is None
                        else format_mac(old_gateway),
                        reason=reason,
                        hops=per_source[new_gateway][0].hops,
                    )
                )
        if new_gateway is None and old_gateway is not None:
            events.append(
                rec.event(
                    "gateway_lost",
                    previous=format_mac(old_gateway),
                    reason="no_live_neighbour",
                )
            )
        self._gateway = new_gateway

        # Upstream toward the gateway, with hysteresis.
        ranked = per_source.get(new_gateway, []) if new_gateway else []
        old_up = self._upstream
        by_hop = {c.next_hop: c for c in ranked}
        current = by_hop.get(old_up) if old_up is not None else None
        new_up, reason = old_up, None
        if not ranked:
            new_up = None
        elif new_gateway != old_gateway and old_gateway is not None:
            new_up, reason = ranked[0].next_hop, "gateway_switched"
        elif current is None:
            new_up = ranked[0].next_hop
            reason = "initial" if old_up is None else "upstream_lost"
        elif ranked[0].next_hop != old_up:
            if old_up in self._demoted:
                reason = "send_failed"
            else:
                reason = strategy.upstream_switch_reason(current, ranked[0])
            if reason:
                new_up = ranked[0].next_hop
        if new_up != old_up:
            if new_up is None:
                events.append(
                    rec.event(
                        "upstream_lost",
                        previous=format_mac(old_up),
                        reason="no_live_candidate",
                    )
                )
            else:
                chosen = by_hop[new_up]
                events.append(
                    rec.event(
                        "upstream_selected" if old_up is None else "upstream_switched",
                        upstream=format_mac(new_up),
                        previous=None if old_up is None else format_mac(old_up),
                        gateway=format_mac(new_gateway),
                        reason=reason,
                        hops=chosen.hops,
                        score=chosen.score,
                    )
                )
        self._upstream = new_up
        if new_up is None:
            self._candidates = []
        else:
            rest = [c for c in ranked if c.next_hop != new_up]
            self._candidates = [by_hop[new_up], *rest][: self.cached_candidates]

    def _update_routes(self, targets, events: list[Action]) -> None:
        logs = None
        if self._logs_dirty or self._all_routes_dirty:
            logs_by_source = self._logs_by_source
            logs = [
                log
                for source in self._sources
                for log in logs_by_source.get(source, ())
            ]
        events.extend(
            self._table.update(
                self.strategy,
                targets,
                self._demoted,
                logs,
                everything=self._all_routes_dirty,
            )
        )
        self._logs_dirty = self._all_routes_dirty = False

    def _source_logs(self, state: _Source, now: float) -> list[ReplyLog]:
        """The reply logs of one RSU that routes are built from: its last
        ``neighbour_timeout`` + 1 heartbeats while it is heard (section 8),
        oldest first."""
        if not self._source_live(state, now):
            return []
        ordered = state.sorted_seqs()
        timeout = self.neighbour_timeout
        newest = ordered[-1][0]
        # Seqs are distinct: those within ``timeout`` of the newest are
        # among the last timeout + 1.
        return [
            heard.replies
            for seq, heard in ordered[-(timeout + 1) :]
            if newest - seq <= timeout
        ]

    def _live_reply_logs(self, now: float) -> list[ReplyLog]:
        """Every live reply log, in the sources' order (what a full rebuild
        reads)."""
        logs = []
        for state in self._sources.values():
            logs.extend(self._source_logs(state, now))
        return logs

    # -- queries --------------------------------------------------------

    def memory(self) -> dict[str, int]:
        """Sizes of the bounded tables (for tests and status)."""
        seqs = [len(s.seqs) for s in self._sources.values()]
        heards = [h for s in self._sources.values() for h in s.seqs.values()]
        return {
            "sources": len(self._sources),
            "heartbeats_per_source": max(seqs, default=0),
            "neighbours": len(self._neighbours),
            "neighbours_per_source": max(
                (len(s.last_seq_from) for s in self._sources.values()), default=0
            ),
            "arrivals_per_heartbeat": max((len(h.arrivals) for h in heards), default=0),
            "observations_per_heartbeat": max(
                (len(h.replies) for h in heards), default=0
            ),
            "routes": len(self._table.next_hop),
            "candidates": len(self._candidates),
            "demoted": len(self._demoted),
        }

    def status(self, now: float) -> dict:
        sources = {}
        for source, state in sorted(self._sources.items()):
            sources[format_mac(source)] = {
                "period_s": state.period,
                "newest_seq": max(state.seqs) if state.seqs else None,
                "live_neighbours": sorted(
                    format_mac(n) for n in self._live_neighbours(state, now)
                ),
                "last_heard_s_ago": round(now - state.last_at, 3),
            }
        return {
            "role": self.role,
            "mac": format_mac(self.mac),
            "strategy": getattr(self.strategy, "name", repr(self.strategy)),
            "gateway": None if self._gateway is None else format_mac(self._gateway),
            "upstream": None if self._upstream is None else format_mac(self._upstream),
            "candidates": [c.to_status() for c in self._candidates],
            "routes": routes_status(self._table.best),
            "sources": sources,
            "neighbours": {
                format_mac(n): round(now - at, 3)
                for n, at in sorted(self._neighbours.items())
            },
            "memory": self.memory(),
            "counters": dict(self.counters),
            "drops": dict(self.drops),
        }
