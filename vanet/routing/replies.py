"""The OBU's reply relay and its routes toward vehicles (docs/protocol.md
§3 and §4): each reply to a heartbeat goes on toward its RSU, and what it
says (the sender, through which neighbour, how many hops, how long) is
logged per heartbeat; the route table is ranked from the live logs.

A mixin of ``ObuRoutingCore``; it keeps ``_table`` and
``_pending_targets`` and reads each RSU's ``Source``.
"""

from __future__ import annotations

from vanet.mac import MAC_LEN, bad_address, format_mac
from vanet.routing.actions import Action, ForwardReply
from vanet.routing.routes import CHANGED, KEPT, REFUSED, ReplyLog
from vanet.routing.sources import Source

_ZERO = bytes(MAC_LEN)

#: What a reply says of the neighbour that delivered it: one hop, unmeasured.
ONE_HOP = (1, None)


class ReplyRelay:
    """Replies in, replies out, routes toward the vehicles behind."""

    def _on_reply(self, reply, now: float) -> list[Action]:
        rec = self._recorder
        via, sender = reply.src, reply.sender
        if via == self.mac or sender == self.mac:
            rec.drop("own_frame")
            return []
        # docs/protocol.md §3.6: checked before anything is noted.
        if reply.hops < 1:
            rec.drop("bad_hops")
            return []
        source = reply.source
        # bad_address on all three at once, the reason only when one is.
        if (source[0] | sender[0] | via[0]) & 1 or _ZERO in (source, sender, via):
            if bad_address(source):
                rec.drop("bad_source")
                return []
            if bad_address(sender) or bad_address(via):
                rec.drop("bad_sender")
                return []
        state = self._sources.get(source)
        heard = None if state is None else state.seqs.get(state.unwrap(reply.seq))
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
                    source=format_mac(source),
                    seq=reply.seq,
                    sender=format_mac(sender),
                    via=format_mac(via),
                )
            ]
        # _note_neighbour, inline for a neighbour already held (every
        # reply passes here: docs/protocol.md §3).
        neighbours = self._neighbours
        if via in neighbours:
            neighbours[via] = now
        else:
            self._note_neighbour(via, now)
        # Hops relative to us: the sender's distance minus ours.
        hops = reply.hops - heard.hops
        if hops < 1:
            hops = 1
        latency_ms = (now - heard.at) * 1000
        if latency_ms <= 0.0:
            latency_ms = 0.0  # (as max(0.0, x) gave: never -0.0)
        log = heard.replies
        bound = self.max_observations
        stored = log.record(sender, via, (hops, latency_ms), bound)
        refused = stored == REFUSED
        # Targets whose held observations changed (at most sender and via).
        first = sender if stored >= CHANGED else None
        second = None
        if via != sender:
            # The delivering neighbour itself is one hop away; mostly noted
            # already for this heartbeat (then ``record`` would keep it).
            vias = log.by_target.get(via)
            if vias is None or vias.get(via) != ONE_HOP:
                stored = log.record(via, via, ONE_HOP, bound)
                if stored >= CHANGED:
                    second = via
                elif stored == REFUSED:
                    refused = True
        if refused:
            rec.drop("observation_bound")
        counters = self._counters
        counters["reply_received"] += 1
        if via != toward_source:
            # Forward unchanged but for dst = P, src = us.
            actions: list[Action] = [ForwardReply(reply, toward_source)]
            counters["reply_forwarded"] += 1
        else:
            actions = []
            counters["reply_not_bounced"] += 1
        # Only routes toward what this log gained can change (and none if
        # the log does not count, or not yet: a log entering the live window
        # brings all its targets). Held routes are re-ranked at the next
        # tick; a vehicle without one gets it now, window move and all, so
        # the first frames toward it do not wait a quarter period.
        if first is not None or second is not None:
            live = log.live
            next_hop = self._table.next_hop
            unrouted = False
            if first is not None:
                if live:
                    self._pending_targets.add(first)
                unrouted = first not in next_hop
            if second is not None:
                if live:
                    self._pending_targets.add(second)
                unrouted = unrouted or second not in next_hop
            if unrouted:
                actions.extend(self._refresh(now, routes=True))
        return actions

    def on_data_seen(self, origin: bytes, via: bytes, now: float) -> None:
        """Upstream data from vehicle ``origin`` came from neighbour ``via``
        to be relayed (docs/protocol.md §4.5): as at the RSU, a live route
        to ``origin`` through ``via`` stays live, as if ``via`` had brought
        a reply to the newest heartbeat of our gateway, at the route's hop
        count and unmeasured. Without it the RSU, which data keeps, would
        send a vehicle's downstream frames to a relay whose own route to
        it ran out (at 30% loss a reply from 2 hops out gets through one
        period in four). Data never makes a route here."""
        rows = self._table.rows.get(origin)
        if rows is None:
            return
        state = self._sources.get(self._choice.gateway)
        if state is None or not state.seqs:
            return
        log = state.sorted_seqs()[-1][1].replies
        vias = log.by_target.get(origin)
        if vias is not None and via in vias:
            return  # noted this period already (a reply, or earlier data)
        for hop, summary in rows:
            if hop == via:
                stored = log.record(
                    origin, via, (summary.hops, None), self.max_observations
                )
                if stored > KEPT and log.live:
                    self._pending_targets.add(origin)
                return

    def _update_routes(self, targets, events: list[Action]) -> None:
        logs = None
        if self._logs_dirty or self._all_routes_dirty:
            logs = [log for state in self._sources.values() for log in state.logs or ()]
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

    def _source_logs(self, state: Source, now: float) -> list[ReplyLog]:
        """The reply logs of one RSU that routes are built from: its last
        ``neighbour_timeout`` + 1 heartbeats while it is heard (docs/protocol.md §5),
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
