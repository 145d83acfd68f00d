"""The OBU's heartbeat relay (docs/protocol.md §3): answer and rebroadcast
each new heartbeat, note copies over other paths, and keep each RSU's
history (``vanet.routing.sources``).

A mixin of ``ObuRoutingCore``; it reads the core's bounds (``max_hops``,
``relay_scope``, ``hello_history``, ``max_*``) and keeps ``_sources``,
``_neighbours``, ``_deferred`` and the dirty set the selection re-ranks.
"""

from __future__ import annotations

from vanet.mac import format_mac
from vanet.routing.actions import Action, RelayHeartbeat, SendReply
from vanet.routing.sources import Heard, Source
from vanet.wire import U32_MAX


class HeartbeatRelay:
    """Heartbeats in, replies and rebroadcasts out."""

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
            # docs/protocol.md §3: the RSU restarted; forget what we held for it.
            events.append(
                rec.event(
                    "source_restarted",
                    source=format_mac(source),
                    seq=seq,
                    oldest_held=min(state.seqs) if state.seqs else None,
                )
            )
            old = self._sources.pop(source)
            state = self._new_source(source)
            # The last selection's record stays until it is re-ranked.
            state.carry_record(old)
        elif state is None:
            state = self._new_source(source)
        self._heard_from(state, source, neighbour, seq, now)

        self._counters["heartbeat_new"] += 1
        heard = Heard(hb.duration_ms, now, neighbour, hb.hops)
        self._learn_period(state, seq, hb.duration_ms)
        state.add_seq(seq, heard, self.hello_history)
        state.add_arrival(seq, neighbour, hb.hops, now)
        # Answer the neighbour it came from, with sender = us,
        actions: list[Action] = [SendReply(hb, neighbour)]
        if self.max_hops and hb.hops >= self.max_hops:
            # A local flooding bound (like batman-adv's TTL): the heartbeat
            # has come max_hops hops; nodes farther out do not hear it.
            self._counters["heartbeat_not_relayed_max_hops"] += 1
        elif not self._in_scope(state, hb.hops):
            self._counters["heartbeat_not_relayed_scope"] += 1
        else:
            # and rebroadcast it (dst broadcast, src = us, one hop more).
            actions.insert(0, RelayHeartbeat(hb, hb.hops + 1))
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

    def _is_restart(self, state: Source, seq: int, duration_ms: int) -> bool:
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

    def _learn_period(self, state: Source, seq: int, duration_ms: int) -> None:
        lower = [s for s in state.seqs if s < seq]
        if not lower:
            return
        prev = max(lower)
        elapsed = duration_ms - state.seqs[prev].duration_ms
        if elapsed > 0:
            state.period = elapsed / (seq - prev) / 1000.0

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
