"""The RSU's routing core, sans I/O (docs/protocol.md §3 and §4).

Every ``hello_period`` the node calls ``heartbeat(now)`` and sends what it
returns; every received heartbeat reply goes to ``on_message``, and
``tick(now)`` runs at ``next_deadline()``. The core learns from the
replies through which neighbour each vehicle is reached.
"""

from __future__ import annotations

from zope.interface import implementer

from vanet.interfaces import IRoutingCore
from vanet.mac import bad_address, format_mac
from vanet.routing.actions import Action, SendHeartbeat
from vanet.routing.events import EventRecorder
from vanet.routing.liveness import batch_due
from vanet.routing.routes import KEPT, REFUSED, ReplyLog, RouteTable, routes_status
from vanet.wire import U32_MAX, serial_diff

INFINITE = float("inf")


class _Sent:
    """One heartbeat this RSU sent, and the replies it brought back."""

    __slots__ = ("duration_ms", "replies")

    def __init__(self, duration_ms: int) -> None:
        self.duration_ms = duration_ms
        self.replies = ReplyLog()


@implementer(IRoutingCore)
class RsuRoutingCore:
    """Heartbeat origin and reply collector of one RSU.

    - ``hello_history``: heartbeats remembered (replies to older ones are
      ignored, docs/protocol.md §3).
    - ``neighbour_timeout``: a route stays live while it was confirmed by a
      reply to one of the last ``neighbour_timeout + 1`` heartbeats (the
      newest has had no time to be answered yet).
    - ``max_observations``: reply observations kept per heartbeat.
    - ``name``: the node's name in the route-event log lines (default:
      its MAC).
    - ``first_seq``: the seq of the first heartbeat (0, docs/protocol.md
      §3.1; an authenticating RSU starts at its clock, ``vanet.auth``).
    - ``data_routes``: upstream data gives a vehicle without a route a
      first one (docs/protocol.md §4.5); off while authenticating.
    - ``period``: the heartbeat period (s); routes replies changed are
      re-ranked within ``DECIDE_WITHIN`` of it.
    """

    role = "rsu"
    # An RSU is where upstream traffic ends: it has neither.
    upstream = None
    gateway = None

    def __init__(
        self,
        mac: bytes,
        strategy,
        *,
        hello_history: int = 10,
        started: float,
        neighbour_timeout: int = 2,
        max_observations: int = 256,
        name: str | None = None,
        first_seq: int = 0,
        data_routes: bool = False,
        period: float = 1.0,
    ) -> None:
        if hello_history < 1:
            raise ValueError("hello_history must be at least 1")
        if neighbour_timeout < 1:
            raise ValueError("neighbour_timeout must be at least 1")
        if not 0 <= first_seq <= U32_MAX:
            raise ValueError("first_seq must be a u32")
        if period <= 0:
            raise ValueError("period must be positive (seconds)")
        self.mac = bytes(mac)
        self.strategy = strategy
        self.hello_history = hello_history
        self.started = started
        self.neighbour_timeout = neighbour_timeout
        self.max_observations = max_observations
        self.data_routes = data_routes
        # Moves whenever a route appears, changes or goes: the data plane
        # then looks again at the frames it holds for want of one.
        self.routes_version = 0
        self.period = period
        self._next_seq = first_seq
        self._last_seq: int | None = None
        self._sent: dict[int, _Sent] = {}  # in sending order
        self._demoted: dict[bytes, int] = {}  # next hop -> last seq at failure
        self.name = name
        self._recorder = EventRecorder()
        # Routes are kept incrementally: a reply marks its sender for the
        # next tick, a heartbeat re-ranks the targets of the logs entering
        # or leaving the window.
        self._table = RouteTable(self._recorder, self.mac)
        self._pending: set[bytes] = set()  # vehicles to re-rank at the tick
        self._due_at = INFINITE  # when the tick must re-rank them

    @property
    def _ranked(self):
        return self._table.ranked

    @property
    def _best(self):
        return self._table.best

    @property
    def counters(self):
        return self._recorder.counters

    @property
    def drops(self):
        return self._recorder.drops

    # -- inputs ---------------------------------------------------------

    def heartbeat(self, now: float) -> list[Action]:
        """The next heartbeat to broadcast (docs/protocol.md §3), and the
        routes that expired with it."""
        seq = self._next_seq
        self._next_seq = (seq + 1) & U32_MAX
        duration_ms = max(0, round((now - self.started) * 1000))
        self._sent[seq] = _Sent(duration_ms)
        while len(self._sent) > self.hello_history:
            del self._sent[next(iter(self._sent))]
        self._last_seq = seq
        self.counters["heartbeat_sent"] += 1
        # An RSU's own heartbeat carries hops = 1 (docs/protocol.md §2).
        actions: list[Action] = [SendHeartbeat(duration_ms, seq, 1, self.mac)]
        actions.extend(self._refresh(window_moved=True))
        return actions

    def on_message(self, msg, now: float) -> list[Action]:
        kind = msg.kind
        if kind == "heartbeat_reply":
            return self._on_reply(msg, now)
        if kind == "heartbeat":
            # Our own heartbeat relayed back, or another RSU's: nothing to do.
            self.counters["heartbeat_ignored"] += 1
        return []

    def tick(self, now: float) -> list[Action]:
        """Re-rank the routes toward the vehicles replies changed since the
        last tick (a busy RSU hears several replies per vehicle a period;
        the routes serve only downstream data)."""
        if not self._pending:
            return []
        return self._refresh()

    def next_deadline(self) -> float:
        """When ``tick`` next has something to do (``inf``: nothing until
        an input): routes are re-ranked within ``DECIDE_WITHIN`` of a
        period after the first reply that changed one. Nothing else here
        expires with time: routes leave the window with a heartbeat."""
        return self._due_at if self._pending else INFINITE

    def _wait(self, vehicle: bytes, now: float) -> None:
        """Re-rank the routes toward ``vehicle`` at the next tick."""
        if not self._pending:
            self._due_at = batch_due(now, self.period)
        self._pending.add(vehicle)

    def on_send_failed(self, next_hop: bytes, now: float) -> list[Action]:
        """Sending to ``next_hop`` failed: rank it last until it brings a
        reply to a newer heartbeat."""
        self._demoted[bytes(next_hop)] = (
            -1 if self._last_seq is None else self._last_seq
        )
        self.counters["send_failed"] += 1
        return self._refresh(everything=True)

    def on_data_seen(self, origin: bytes, via: bytes, now: float) -> list[Action]:
        """Upstream data from vehicle ``origin`` came through neighbour
        ``via`` (docs/protocol.md §4.5). It counts as if ``via`` had brought
        a reply to the newest heartbeat, at the route's hop count and
        unmeasured, when ``via`` is a next hop of a live route to
        ``origin`` that replies taught: the route stays live. With
        ``data_routes`` (not while authenticating: data is not signed), a
        vehicle without any route gets a first one through ``via``, at 1
        hop if ``via`` is the vehicle itself, else at 2 (the fewest a
        relayed frame can have come), until replies teach better. Data
        never adds a next hop to a held route nor changes its hops. The
        route events of a first route, if any."""
        last = self._last_seq
        if last is None:
            return []
        log = self._sent[last].replies
        vias = log.by_target.get(origin)
        if vias is not None and via in vias:
            return []  # noted this period already (a reply, or earlier data)
        rows = self._table.rows.get(origin)
        if rows:
            summary = next((s for hop, s in rows if hop == via), None)
            if summary is None:
                return []
            hops = summary.hops
        elif self.data_routes and origin != self.mac:
            hops = 1 if via == origin else 2
        else:
            return []
        stored = log.record(origin, via, (hops, None), self.max_observations)
        if stored > KEPT and log.live:
            self._wait(origin, now)
            if not rows:
                # The first downstream frames must not wait for the tick.
                self.counters["route_from_data"] += 1
                return self._refresh()
        return []

    def _on_reply(self, reply, now: float) -> list[Action]:
        rec = self._recorder
        if reply.src == self.mac or reply.sender == self.mac:
            rec.drop("own_frame")
            return []
        # docs/protocol.md §3.6: checked before anything is noted.
        if bad_address(reply.source):
            rec.drop("bad_source")
            return []
        if bad_address(reply.sender) or bad_address(reply.src):
            rec.drop("bad_sender")
            return []
        if reply.source != self.mac:
            rec.drop("reply_for_other_source")
            return []
        sent = self._sent.get(reply.seq)
        if sent is None:
            rec.drop("forgotten_seq")
            return []
        if sent.duration_ms != reply.duration_ms:
            rec.drop("stale_reply")  # from before a restart of ours
            return []
        via = reply.src
        if not self._hops_checked(reply, sent.replies):
            rec.drop("bad_hops")
            return []
        latency_ms = max(0.0, (now - self.started) * 1000 - sent.duration_ms)
        sender = reply.sender
        log = sent.replies
        value = (reply.hops, latency_ms)
        stored = log.record(sender, via, value, self.max_observations)
        if stored == REFUSED:
            rec.drop("observation_bound")
            return []
        self.counters["reply_received"] += 1
        demoted = self._demoted
        if demoted:
            failed_at = demoted.get(via)
            if failed_at is not None and self._newer(reply.seq, failed_at):
                del demoted[via]
                return self._refresh(everything=True)
        if stored != KEPT and log.live:
            # A route is built from what changed: re-ranked at the next
            # tick, or now for a vehicle without one (its first downstream
            # frames must not wait a quarter period).
            self._wait(sender, now)
            if sender not in self._table.next_hop:
                return self._refresh()
        return []

    # -- state ----------------------------------------------------------

    @staticmethod
    def _hops_checked(reply, log: ReplyLog) -> bool:
        """Whether the reply's hop count agrees with what this RSU can check
        (docs/protocol.md §3.6): a reply its sender delivered itself comes
        from a neighbour, 1 hop away; one relayed by a neighbour M comes
        from at least one hop beyond M, as M's own reply to the same
        heartbeat (if held) placed it."""
        hops, via = reply.hops, reply.src
        if via == reply.sender:
            return hops == 1
        if hops < 2:
            return False
        own = log.by_target.get(via)
        if own is None:
            return True
        # Only M's own replies place it (they are measured); what data
        # noted (§4.5) is unmeasured and says nothing about M's distance.
        return hops > min((h for h, ms in own.values() if ms is not None), default=0)

    def _newer(self, seq: int, than: int) -> bool:
        return than < 0 or serial_diff(seq, than) > 0

    def _live_reply_sets(self) -> list[ReplyLog]:
        last = self._last_seq
        if last is None:
            return []
        return [
            sent.replies
            for seq, sent in self._sent.items()
            if ((last - seq) & U32_MAX) <= self.neighbour_timeout
        ]

    def _refresh(
        self, window_moved: bool = False, everything: bool = False
    ) -> list[Action]:
        """Re-rank the routes toward the vehicles replies touched since the
        last time; with ``window_moved`` also those whose observations
        entered or left the live window; with ``everything`` all of them
        (the demoted set changed)."""
        targets, self._pending = self._pending, set()
        events = self._table.update(
            self.strategy,
            targets,
            self._demoted,
            self._live_reply_sets() if window_moved or everything else None,
            everything=everything,
        )
        if events:
            self.routes_version += 1
        if self._demoted:
            # Nothing routes through a demoted hop any more: forget it.
            in_use = {via for rows in self._table.rows.values() for via, _ in rows}
            for mac in [m for m in self._demoted if m not in in_use]:
                del self._demoted[mac]
        return events

    # -- queries --------------------------------------------------------

    def route_to(self, vehicle: bytes, now: float) -> bytes | None:
        """Next hop toward ``vehicle``, or ``None`` without a live route."""
        return self._table.next_hop.get(vehicle)

    def vehicles(self, now: float) -> list[bytes]:
        """Vehicles with a live route, in MAC order."""
        return sorted(self._table.next_hop)

    def memory(self) -> dict[str, int]:
        """Sizes of the bounded tables (for tests and status)."""
        return {
            "heartbeats": len(self._sent),
            "observations_per_heartbeat": max(
                (len(s.replies) for s in self._sent.values()), default=0
            ),
            "routes": len(self._table.next_hop),
            "demoted": len(self._demoted),
        }

    def status(self, now: float) -> dict:
        return {
            "role": self.role,
            "mac": format_mac(self.mac),
            "strategy": getattr(self.strategy, "name", repr(self.strategy)),
            "next_seq": self._next_seq,
            "uptime_s": round(now - self.started, 3),
            "routes": routes_status(self._best),
            "candidates": {
                format_mac(t): [c.to_status() for c in cands]
                for t, cands in sorted(self._ranked.items())
            },
            "vehicles": [format_mac(v) for v in self.vehicles(now)],
            "memory": self.memory(),
            "counters": dict(self.counters),
            "drops": dict(self.drops),
        }
