"""The OBU's routing core, sans I/O (docs/protocol.md §3-§6).

The node hands every heartbeat and heartbeat reply addressed to it to
``on_message(msg, now)``, calls ``tick(now)`` at ``next_deadline()`` (the
time the core next has something to do), and reports failed sends with
``on_send_failed``. The core returns frames to send and decisions
(``RouteEvent``) as ``vanet.routing.actions``; the ``strategy`` only orders
the candidates the core builds.

Frames go out the moment their cause arrives; ranking waits for the next
tick where it can (docs/architecture.md, "When the OBU core decides"): a
heartbeat from a known RSU, a copy of one, and a reply are weighed there,
within ``DECIDE_WITHIN`` of a period; a neighbour or an RSU falling silent,
and an advertisement lapsing, are acted on at that instant.
"""

from __future__ import annotations

from zope.interface import implementer

from vanet.interfaces import IRoutingCore
from vanet.mac import format_mac
from vanet.routing.actions import Action
from vanet.routing.candidates import Candidate
from vanet.routing.events import EventRecorder
from vanet.routing.feasibility import Adverts
from vanet.routing.liveness import AFTER, Liveness, batch_due
from vanet.routing.relay import HeartbeatRelay
from vanet.routing.replies import ReplyRelay
from vanet.routing.routes import RouteTable, routes_status
from vanet.routing.selection import Choice, choose
from vanet.routing.sources import Source
from vanet.wire import U32_MAX


@implementer(IRoutingCore)
class ObuRoutingCore(HeartbeatRelay, ReplyRelay, Liveness):
    """Heartbeat relay, reply relay and upstream selection of one OBU.

    What it does lives in one module each: ``vanet.routing.relay``
    (heartbeats), ``vanet.routing.replies`` (replies and routes toward
    vehicles), ``vanet.routing.selection`` (gateway and upstream, a pure
    function), ``vanet.routing.liveness``; per-RSU state in
    ``vanet.routing.sources``. This class holds the state and decides
    when to re-rank.

    - ``hello_history``: heartbeats remembered per RSU (docs/protocol.md §3).
    - ``cached_candidates``: the N best upstream next hops kept for
      failover (§4).
    - ``neighbour_timeout``: a neighbour that delivered none of the last
      ``neighbour_timeout`` heartbeats of an RSU (by seq, or by time using
      the period learnt from ``duration``) stops being a candidate toward
      it (§5).
    - ``gateway_switch_threshold``: relative improvement another RSU needs
      before the OBU moves to it ("late switch", §6); 0.1 by default.
    - ``default_period``: heartbeat period (s) assumed until learnt.
    - ``max_sources``, ``max_neighbours``, ``max_observations``: bounds on
      RSUs, neighbours (overall and per RSU) and observations per heartbeat.
    - ``name``: the node's name (the engine labels route-event log lines
      with it).
    - ``max_hops``: do not rebroadcast heartbeats that have already come
      this many hops (0: no limit, the protocol's default). It bounds each
      RSU's flood, and the replies that come back from it, in large
      networks.
    - ``link_quality``: the node's ``ILinkQuality`` (its radio's RSSI per
      neighbour), put on the upstream candidates; ``None`` where no radio
      reports one (real nodes today): their ``rssi_dbm`` is ``None``.
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
        link_quality=None,
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
        self.link_quality = link_quality
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
        # One Source per RSU, in the order first heard; those forgotten
        # since the last selection wait in _retired for it (their record
        # still counts until then).
        self._sources: dict[bytes, Source] = {}
        self._retired: dict[bytes, Source] = {}
        self._neighbours: dict[bytes, float] = {}  # one-hop neighbour -> last heard
        self._demoted: dict[bytes, float] = {}  # next hop -> when a send failed
        self._demote_reason = "send_failed"  # or "loop": why, for the log
        self._choice = Choice()  # gateway, upstream, failover candidates
        self.name = name
        self._recorder = EventRecorder()
        self._counters = self._recorder.counters  # (hot path: no property)
        # Incremental state (see _refresh): the sources whose candidates
        # must be rebuilt, and the earliest time a liveness check may
        # change something.
        self._dirty_sources: set[bytes] = set()
        # Heartbeat copies not yet noted: (source, its state, seq, neighbour,
        # hops, arrival time); see _on_heartbeat.
        self._deferred: list[tuple] = []
        self._forget_at = float("inf")  # next memory housekeeping (tick)
        # When the work waiting for a tick (deferred copies, dirty RSUs,
        # routes to re-rank) is done (``batch_due``).
        self._due_at = float("inf")
        # Targets whose routes replies changed since the last route update.
        self._pending_targets: set[bytes] = set()
        self._logs_dirty = False  # some source's live logs changed
        self._all_routes_dirty = False
        self._recheck_at = float("inf")
        self._table = RouteTable(self._recorder, self.mac)
        # What our rebroadcasts advertised: our feasibility distance.
        self._adverts = Adverts()
        self._distance = float("inf")  # as the last refresh found it

    @property
    def _ranked_routes(self) -> dict[bytes, list[Candidate]]:
        return self._table.ranked

    def _everything_dirty(self) -> None:
        """Rebuild all candidates and routes at the next refresh (the
        demoted set changed, which reorders candidates anywhere)."""
        self._dirty_sources.update(self._sources)
        self._dirty_sources.update(self._retired)
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
        return self._choice.upstream

    @property
    def gateway(self) -> bytes | None:
        """The RSU this OBU sends upstream traffic to."""
        return self._choice.gateway

    @property
    def upstream_candidates(self) -> list[bytes]:
        """The cached next hops toward the gateway, primary first."""
        return [c.next_hop for c in self._choice.candidates]

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
            actions = self._on_heartbeat(msg, now)
        elif kind == "heartbeat_reply":
            actions = self._on_reply(msg, now)
        else:
            return []  # data messages belong to the data plane
        if self._due_at == INFINITE and (
            self._deferred
            or self._dirty_sources
            or self._pending_targets
            or self._logs_dirty
            or self._all_routes_dirty
        ):
            self._due_at = batch_due(now, self.default_period)
        return actions

    def heartbeat(self, now: float) -> list[Action]:
        """An OBU originates no heartbeats (docs/protocol.md §3)."""
        return []

    def tick(self, now: float) -> list[Action]:
        """Note deferred heartbeat copies, expire silent neighbours and RSUs;
        fail over if needed. Called early, it does the waiting work early
        (and finds the rest not due)."""
        self._apply_deferred()
        if now >= self._forget_at:
            self._forget_dead_sources(now)
            self._forget_at = self._next_forget(now)
        elif self._forget_at == INFINITE:
            self._forget_at = self._next_forget(now)
        self._due_at = INFINITE
        return self._refresh(now, routes=True)

    def next_deadline(self) -> float:
        """When ``tick`` next has something to do, on the clock ``now`` is
        read from (``inf``: nothing until an input): the waiting work's
        due time, the first instant a neighbour or an RSU falls silent or a
        next hop's advertisement lapses (``_recheck_at``), the first
        instant ours does (the feasibility distance rises, docs/protocol.md
        §4.8), and memory housekeeping."""
        at = self._due_at
        if self._recheck_at < at:
            at = self._recheck_at
        if self._forget_at < at:
            at = self._forget_at
        lapse = self._adverts.next_change
        return lapse if lapse < at else at

    def on_send_failed(self, next_hop: bytes, now: float) -> list[Action]:
        """A send toward ``next_hop`` failed: rank it last (so the next
        candidate is promoted at once) until it delivers a fresh heartbeat."""
        self._counters["send_failed"] += 1
        return self._demote(bytes(next_hop), now, "send_failed", [])

    def on_upstream_loop(self, neighbour: bytes, now: float) -> list[Action]:
        """Our upstream ``neighbour`` sent us upstream data: it routes
        through us, so the two of us form a loop (docs/protocol.md §5.5).
        Rank it last, as after a failed send, so another candidate (if
        any) is promoted at once and the frame can go on through it."""
        neighbour = bytes(neighbour)
        event = self._recorder.event("loop_detected", via=format_mac(neighbour))
        return self._demote(neighbour, now, "loop", [event])

    def _demote(
        self, next_hop: bytes, now: float, reason: str, actions: list[Action]
    ) -> list[Action]:
        self._apply_deferred()
        self._demoted[next_hop] = now
        self._demote_reason = reason
        self._everything_dirty()
        actions.extend(self._refresh(now, failed=next_hop, routes=True))
        return actions

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
        distance = self._adverts.distance(now)
        if distance != self._distance:
            # Our feasibility distance moved. Risen (an advertisement
            # stopped counting): RSUs with live next hops that were not
            # feasible may gain some. Fallen (a rebroadcast): RSUs with
            # feasible next hops may lose them.
            rose = distance > self._distance
            self._dirty_sources.update(
                source
                for source, state in self._sources.items()
                if (state.live != state.feasible if rose else state.feasible)
            )
            self._distance = distance
        if self._dirty_sources:
            self._select_upstream(now, events)
            self._recheck_at = min(
                (
                    min(s.expiry, s.lapse)
                    for s in self._sources.values()
                    if s.expiry is not None
                ),
                default=float("inf"),
            )
        if routes and (
            self._pending_targets or self._logs_dirty or self._all_routes_dirty
        ):
            targets, self._pending_targets = self._pending_targets, set()
            self._update_routes(targets, events)
        return events

    def _select_upstream(self, now: float, events: list[Action]) -> None:
        """Re-rank the dirty RSUs, then choose (``selection.choose``)."""
        strategy = self.strategy
        sources = self._sources
        demoted = self._demoted
        distance = self._distance
        for source in self._dirty_sources:
            state = sources.get(source)
            if state is None:
                retired = self._retired.pop(source, None)
                if retired is not None and retired.logs:
                    self._logs_dirty = True
                continue
            live = state.live = frozenset(self._live_neighbours(state, now))
            logs = self._source_logs(state, now)
            state.expiry = self._expiry(state, live, logs)
            if logs != (state.logs or []):
                self._logs_dirty = True
            state.logs = logs
            cands = state.candidates(source, live, self.link_quality)
            state.fewest_hops = min((c.hops for c in cands), default=None)
            cands = self._feasible(state, cands, distance, now)
            if cands:
                cands.sort(key=strategy.upstream_key)
                if demoted:
                    cands.sort(key=lambda c: c.next_hop in demoted)  # stable
                state.ranked = cands
            else:
                state.ranked = None
        self._dirty_sources.clear()
        self._nearest_hops = min(
            (s.fewest_hops for s in sources.values() if s.fewest_hops is not None),
            default=float("inf"),
        )
        self._choice, chosen = choose(
            {s: st.ranked for s, st in sources.items() if st.ranked is not None},
            self._choice,
            strategy,
            threshold=self.gateway_switch_threshold,
            demoted=demoted,
            demoted_reason=self._demote_reason,
            infeasible={
                s: st.live - st.feasible
                for s, st in sources.items()
                if st.live and st.live != st.feasible
            },
            keep=self.cached_candidates,
        )
        counters = self._counters
        for event in chosen:
            counters[event.event] += 1
        events.extend(chosen)

    def _feasible(
        self,
        state: Source,
        cands: list[Candidate],
        distance: float,
        now: float,
    ) -> list[Candidate]:
        """The feasible ones of ``cands`` (docs/protocol.md §4.8): next hops
        that advertised a distance below ours (``distance``) within the
        last ``neighbour_timeout`` periods. Notes when the first of them
        may lapse (``state.lapse``)."""
        window = self._deadline(state)
        since = now - window
        kept = []
        lapse = float("inf")
        for c in cands:
            at = state.advertised_since(c.next_hop, distance, since)
            if at is None:
                continue
            kept.append(c)
            if at + window < lapse:
                lapse = at + window
        state.feasible = frozenset(c.next_hop for c in kept)
        # A hair after the window: what advertised at its start still
        # counts at that instant (``advertised_since``).
        lapse += AFTER
        state.lapse = lapse
        return kept

    def _offered(self, hops: int) -> int:
        """The distance we advertise for a heartbeat heard at ``hops`` hops:
        no less than our upstream's (docs/protocol.md §4.8). Our upstream
        traffic goes where our upstream sends it, whichever RSU's heartbeat
        a neighbour heard through us; and a nearer RSU heard while the late
        switch keeps us with our gateway then does not lower our
        feasibility distance below the route we use."""
        chosen = self._choice.candidates
        if chosen and chosen[0].hops > hops:
            return chosen[0].hops
        return hops

    def _advertise(self, state: Source, hops: int, now: float) -> bool:
        """We rebroadcast a heartbeat of ``state``'s RSU heard at ``hops``
        hops: note what we advertised (docs/protocol.md §4.8). Whether our
        feasibility distance fell, so that a next hop we use may no longer
        be feasible: the caller re-ranks at once, before anyone can act on
        the rebroadcast."""
        fell = hops < self._adverts.distance(now)
        # It counts half a period longer than a neighbour may rely on it:
        # the time it takes to reach them, and their next tick.
        until = now + self._deadline(state) + self._period_of(state) / 2
        self._adverts.add(hops, until)
        return fell

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
            "candidates": len(self._choice.candidates),
            "demoted": len(self._demoted),
        }

    def status(self, now: float) -> dict:
        sources = {}
        for source, state in sorted(self._sources.items()):
            sources[format_mac(source)] = {
                "period_s": state.period,
                "newest_seq": state.newest() & U32_MAX if state.seqs else None,
                "live_neighbours": sorted(
                    format_mac(n) for n in self._live_neighbours(state, now)
                ),
                "last_heard_s_ago": round(now - state.last_at, 3),
            }
        gateway, upstream = self._choice.gateway, self._choice.upstream
        return {
            "role": self.role,
            "mac": format_mac(self.mac),
            "strategy": getattr(self.strategy, "name", repr(self.strategy)),
            "gateway": None if gateway is None else format_mac(gateway),
            "upstream": None if upstream is None else format_mac(upstream),
            "candidates": [c.to_status() for c in self._choice.candidates],
            "feasibility_distance": _finite(self._adverts.distance(now)),
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


INFINITE = float("inf")


def _finite(value: float) -> int | None:
    return None if value == float("inf") else int(value)
