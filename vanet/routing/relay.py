"""The OBU's heartbeat relay (docs/protocol.md §3): answer and rebroadcast
each new heartbeat, note copies over other paths, and keep each RSU's
history (``vanet.routing.sources``).

A mixin of ``ObuRoutingCore``; it reads the core's bounds (``max_hops``,
``relay_scope``, ``hello_history``, ``max_*``) and keeps ``_sources``,
``_neighbours``, ``_deferred`` and the dirty set the selection re-ranks.
"""

from __future__ import annotations

from vanet.mac import bad_address, format_mac
from vanet.routing.actions import Action, RelayHeartbeat, SendHeartbeat, SendReply
from vanet.routing.checks import PERIOD_HIGH, PERIOD_LOW, plausible_step
from vanet.routing.sources import Heard, Source
from vanet.wire import U32_MAX, serial_diff


class HeartbeatRelay:
    """Heartbeats in, replies and rebroadcasts out."""

    def _on_heartbeat(self, hb, now: float) -> list[Action]:
        rec = self._recorder
        neighbour, source, wire_seq = hb.src, hb.source, hb.seq
        if neighbour == self.mac or source == self.mac:
            rec.drop("own_frame")  # our own rebroadcast, heard back
            return []
        hops = hb.hops
        if hops >= U32_MAX:
            # The hop count cannot grow further on the wire (u32): a frame
            # that claims this is broken or looping; relaying it would wrap.
            rec.drop("hop_limit")
            return []
        # docs/protocol.md §3.6: checked before anything is noted.
        if hops < 1:
            rec.drop("bad_hops")  # an RSU's own heartbeat carries 1
            return []
        if bad_address(source) or bad_address(neighbour):
            rec.drop("bad_source")
            return []
        state = self._sources.get(source)
        duration_ms = hb.duration_ms
        seq = wire_seq if state is None else state.unwrap(wire_seq)
        held = None if state is None else state.seqs.get(seq)
        if held is not None and held.duration_ms == duration_ms:
            self._note_neighbour(neighbour, now)
            # Already seen over another path. The copy only adds an arrival
            # (a candidate's latency sample), which is noted at the next
            # decision point (the next new heartbeat, a tick or a failed
            # send) instead of re-ranking now: every heartbeat comes over
            # each neighbour, so this is most of them, and acting on a copy
            # a quarter period later changes no failover time.
            self._counters["heartbeat_duplicate"] += 1
            deferred = self._deferred
            deferred.append((source, state, seq, neighbour, hops, now))
            if len(deferred) >= self.max_neighbours * self.max_sources:
                return self._refresh(now) if self._apply_deferred() else []
            return []
        events: list[Action] = []
        confirmed = None
        if state is not None and state.seqs:
            misfit = self._misfit(state, seq, duration_ms)
            if misfit is not None:
                if not self._confirms(state, wire_seq, duration_ms):
                    # Not believed (yet): held aside, unanswered, unrelayed.
                    state.pending = (wire_seq, duration_ms, hops)
                    rec.drop(misfit)
                    return []
                # A second heartbeat agrees with the one held aside: the RSU
                # restarted (or its seq really jumped); forget what we held.
                events.append(
                    rec.event(
                        "source_restarted",
                        source=format_mac(source),
                        seq=wire_seq,
                        oldest_held=state.sorted_seqs()[0][0] & U32_MAX,
                    )
                )
                confirmed = state.pending
                old = self._sources.pop(source)
                state = None
        self._note_neighbour(neighbour, now)
        if self._deferred:
            self._apply_deferred()  # first: they came before this one
        if state is None:
            fresh = source not in self._sources
            state = self._new_source(source) if fresh else self._sources[source]
            if events:
                # The last selection's record stays until it is re-ranked.
                state.carry_record(old)
            seq = state.unwrap(wire_seq)
        self._heard_from(state, source, neighbour, seq, now)

        self._counters["heartbeat_new"] += 1
        heard = Heard(duration_ms, now, neighbour, hops)
        self._learn_period(state, seq, duration_ms)
        state.add_seq(seq, heard, self.hello_history)
        state.add_arrival(seq, neighbour, hops, now)
        # Answer the neighbour it came from, with sender = us,
        actions: list[Action] = [SendReply(hb, neighbour)]
        if self.max_hops and hops >= self.max_hops:
            # A local flooding bound (like batman-adv's TTL): the heartbeat
            # has come max_hops hops; nodes farther out do not hear it.
            self._counters["heartbeat_not_relayed_max_hops"] += 1
        elif not self._in_scope(state, hops):
            self._counters["heartbeat_not_relayed_scope"] += 1
        else:
            # and rebroadcast it (dst broadcast, src = us, one hop more
            # than the distance we offer: docs/protocol.md §4.8).
            offered = self._offered(hops)
            actions.insert(0, RelayHeartbeat(hb, offered + 1))
            fell = self._advertise(state, offered, now)
            if confirmed is not None:
                # The heartbeat held aside goes on first, as we would have
                # relayed it: nodes beyond us then see the same two and
                # believe the restart now, not one period per hop later.
                p_seq, p_duration, p_hops = confirmed
                offered = self._offered(p_hops)
                actions.insert(0, SendHeartbeat(p_duration, p_seq, offered + 1, source))
                fell = self._advertise(state, offered, now) or fell
            if fell and self._choice.upstream is not None:
                # Our feasibility distance fell with this rebroadcast: a
                # next hop we use may have stopped being feasible, and must
                # be dropped now, not at the next tick (docs/protocol.md
                # §4.8; _refresh sees the change).
                actions.extend(events)
                actions.extend(self._refresh(now))
                return actions
        actions.extend(events)
        if self._choice.upstream is None or state.ranked is None:
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
        self, state: Source, source: bytes, neighbour: bytes, seq: int, at: float
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

    def _in_scope(self, state: Source, hops: int) -> bool:
        """Whether a heartbeat of ``state``'s RSU that came ``hops`` hops is
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
        known = state.fewest_hops
        if known is not None and known < hops:
            hops = known
        return hops <= self._nearest_hops + scope

    def _misfit(self, state: Source, seq: int, duration_ms: int) -> str | None:
        """Why a heartbeat (``seq`` unwrapped) does not fit what is held for
        its RSU, or ``None`` when it does (docs/protocol.md §3.4, §3.6).
        The held history is never changed by one that does not fit."""
        ordered = state.sorted_seqs()
        newest, newest_heard = ordered[-1]
        if seq > newest:
            # The common case, a newer seq: checked against the newest only.
            if seq - newest > 2 * self.hello_history:
                return "seq_jump"
            if plausible_step(
                seq - newest,
                duration_ms - newest_heard.duration_ms,
                self._period_of(state),
            ):
                return None
            return "bad_duration"
        window = 2 * self.hello_history
        if newest - seq > window:
            return "seq_jump"
        if seq in state.seqs:
            return "bad_duration"  # a held seq with another duration
        if seq < ordered[0][0]:
            return "old_seq"  # older than the history: a straggler or a restart
        period = self._period_of(state)
        lower = higher = None
        for s, heard in ordered:
            if s < seq:
                lower = (s, heard)
            else:
                higher = (s, heard)
                break
        if lower is not None and not plausible_step(
            seq - lower[0], duration_ms - lower[1].duration_ms, period
        ):
            return "bad_duration"
        if higher is not None and not plausible_step(
            higher[0] - seq, higher[1].duration_ms - duration_ms, period
        ):
            return "bad_duration"
        return None

    def _confirms(self, state: Source, wire_seq: int, duration_ms: int) -> bool:
        """Whether a heartbeat that does not fit the history follows the one
        held aside (``pending``) as a real RSU's next ones would: a newer
        seq within the window, ``duration`` advanced plausibly."""
        pending = state.pending
        if pending is None:
            return False
        steps = serial_diff(wire_seq, pending[0])
        return 0 < steps <= 2 * self.hello_history and plausible_step(
            steps, duration_ms - pending[1], self._period_of(state)
        )

    def _period_of(self, state: Source) -> float:
        return state.period if state.period is not None else self.default_period

    def _learn_period(self, state: Source, seq: int, duration_ms: int) -> None:
        """The RSU's period from ``duration`` over the seq step to the
        nearest lower held seq, clamped to ``PERIOD_LOW``..``PERIOD_HIGH``
        times ``default_period`` (docs/protocol.md §5.1)."""
        prev = None
        for s, heard in state.sorted_seqs():
            if s >= seq:
                break
            prev = (s, heard)
        if prev is None:
            return
        elapsed = duration_ms - prev[1].duration_ms
        if elapsed > 0:
            period = elapsed / (seq - prev[0]) / 1000.0
            low = PERIOD_LOW * self.default_period
            high = PERIOD_HIGH * self.default_period
            if not low <= period <= high:
                period = min(max(period, low), high)
                self._counters["period_clamped"] += 1
            state.period = period

    def _new_source(self, source: bytes) -> Source:
        if len(self._sources) >= self.max_sources:
            # Evict the RSU heard from least recently.
            oldest = min(self._sources, key=lambda s: self._sources[s].last_at)
            self._retire(oldest)
            self._recorder.drop("source_bound")
        state = self._sources[source] = Source()
        retired = self._retired.pop(source, None)
        if retired is not None:
            # Forgotten, and heard again before it was re-ranked.
            state.carry_record(retired)
        return state

    def _retire(self, source: bytes) -> None:
        """Forget an RSU's history; its selection record stays (in
        ``_retired``) until the next selection, which drops it."""
        self._retired[source] = self._sources.pop(source)
        self._dirty_sources.add(source)

    def _note_source_neighbour(
        self, state: Source, neighbour: bytes, seq: int, now: float
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
