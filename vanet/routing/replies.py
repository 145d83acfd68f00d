"""The OBU's reply relay and its routes toward vehicles (docs/protocol.md
§3 and §4): each reply to a heartbeat goes on toward its RSU, and what it
says (the sender, through which neighbour, how many hops, how long) is
logged per heartbeat; the route table is ranked from the live logs.

A mixin of ``ObuRoutingCore``; it keeps ``_table`` and
``_pending_targets`` and reads each RSU's ``Source``.
"""

from __future__ import annotations

from vanet.mac import bad_address, format_mac
from vanet.routing.actions import Action, ForwardReply
from vanet.routing.routes import CHANGED, KEPT, REFUSED, ReplyLog
from vanet.routing.sources import Source


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
        if bad_address(reply.source):
            rec.drop("bad_source")
            return []
        if bad_address(sender) or bad_address(via):
            rec.drop("bad_sender")
            return []
        state = self._sources.get(reply.source)
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
