"""The node engine: one routing core, one data plane, one link port and one
TAP, and the loop that carries out the actions the cores return.

A frame's way through a node (docs/architecture.md): the link protocol hands
the received frame to ``frame_received``; ``wire.parse`` gives views over the
buffer; each message addressed to us goes to the routing core (control) or
the data plane (data) with ``now``; the returned actions
(``vanet.routing.actions``) are carried out through one table by class:
frames are written through the writer registry into one reused buffer,
with this node's MAC as ``src``, and handed to the port; inner frames go
to the TAP; route events are logged (the cores themselves never log).
Data frames a data plane can answer for without actions (an OBU relaying
or tunnelling, an RSU delivering to its TAP) take fast paths that write
and send at once, into the port's transmit slot where it lends one:
the same frames and counts as the actions would give.
The engine itself is I/O-free apart from those two objects, so it runs the
same under twistd, a ``task.Clock`` and the simulator.

Housekeeping runs when it is due, not on a fixed beat: the cores and the
data plane say when they next have something to do (``next_deadline``),
and the engine keeps one timer armed at the earliest of those, moved
earlier after an input that brings a deadline forward (docs/architecture.md,
"When the OBU core decides").
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable

import attrs
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from vanet.auth import AuthGate
from vanet.interfaces import IDataPlane, IRoutingCore
from vanet.mac import BROADCAST, format_mac
from vanet.node.periodic import Periodic
from vanet.routing.actions import (
    DeliverToTap,
    ForwardDownstream,
    ForwardReply,
    ForwardUpstream,
    RelayHeartbeat,
    RouteEvent,
    SendDownstream,
    SendHeartbeat,
    SendReply,
    SendUpstream,
    Transmit,
)
from vanet.transport.counters import DROP_REASONS
from vanet.wire import LAYOUTS, parse, writer_for
from vanet.wire.layouts import UPSTREAM

#: the control messages, plain and signed: with authentication all pass the gate
CONTROL_KINDS = (
    "heartbeat",
    "heartbeat_reply",
    "signed_heartbeat",
    "signed_heartbeat_reply",
)

_UP_LEN = UPSTREAM.size  # an upstream frame without its payload

INFINITE = float("inf")
#: how soon a deadline still due after the tick at it is tried again: a
#: guard against a core that never makes progress (none should need it)
SPIN_GUARD_PERIODS = 1 / 64

#: how many of its latest route events a node's status shows
#: (``recent_events``): enough to see a failover, bounded however busy.
RECENT_EVENTS = 32


#: writes an action's frame at offset 0 of a buffer: ``(buf, src, action) -> n``
FrameWriter = Callable[[bytearray, bytes, Transmit], int]


def frame_writers(
    path: str = "zero-copy", gate: AuthGate | None = None
) -> dict[type, FrameWriter]:
    """How each frame-sending action is written, by action class, through
    the writer registry's ``path``; ``src`` is the sending node's MAC.
    With a ``gate`` (``[security] authenticate = yes``) heartbeats and
    replies go in their signed forms (docs/protocol.md §2.7); a writer
    returns 0 for a frame the node cannot sign (the gate counted it)."""
    heartbeat = writer_for("heartbeat", path).write
    heartbeat_forward = writer_for("heartbeat_forward", path).write
    reply = writer_for("heartbeat_reply", path).write
    upstream = writer_for("upstream", path).write
    upstream_forward = writer_for("upstream_forward", path).write
    downstream = writer_for("downstream", path).write
    downstream_forward = writer_for("downstream_forward", path).write

    def send_heartbeat(buf, src, a: SendHeartbeat) -> int:
        return heartbeat(buf, src, a.duration_ms, a.seq, a.hops, a.source)

    def relay_heartbeat(buf, src, a: RelayHeartbeat) -> int:
        return heartbeat_forward(buf, a.heartbeat, src, a.hops)

    def send_reply(buf, src, a: SendReply) -> int:
        return reply(buf, a.heartbeat, src, src, a.next_hop)

    def forward_reply(buf, src, a: ForwardReply) -> int:
        return reply(buf, a.reply, a.reply.sender, src, a.next_hop)

    def send_upstream(buf, src, a: SendUpstream) -> int:
        return upstream(buf, a.origin, a.payload, src, a.next_hop)

    def forward_upstream(buf, src, a: ForwardUpstream) -> int:
        return upstream_forward(buf, a.message, src, a.next_hop)

    def send_downstream(buf, src, a: SendDownstream) -> int:
        return downstream(buf, a.origin, a.destination, a.payload, src, a.next_hop)

    def forward_downstream(buf, src, a: ForwardDownstream) -> int:
        return downstream_forward(buf, a.message, src, a.next_hop)

    if gate is not None:
        send_heartbeat, relay_heartbeat, send_reply, forward_reply = _signed_writers(
            path, gate
        )
    return {
        SendHeartbeat: send_heartbeat,
        RelayHeartbeat: relay_heartbeat,
        SendReply: send_reply,
        ForwardReply: forward_reply,
        SendUpstream: send_upstream,
        ForwardUpstream: forward_upstream,
        SendDownstream: send_downstream,
        ForwardDownstream: forward_downstream,
    }


def _signed_writers(path: str, gate: AuthGate) -> tuple[FrameWriter, ...]:
    """The control frames' writers of an authenticating node: the actions
    are the cores' usual ones, over verified signed views."""
    signed = writer_for("signed_heartbeat", path).write
    signed_forward = writer_for("signed_heartbeat_forward", path).write
    signed_reply = writer_for("signed_heartbeat_reply", path).write
    signed_reply_forward = writer_for("signed_heartbeat_reply_forward", path).write
    heartbeat_fields, relay_hash = gate.heartbeat_fields, gate.relay_hash
    reply_signature = gate.reply_signature

    def send_heartbeat(buf, src, a: SendHeartbeat) -> int:
        fields = heartbeat_fields(a.source, a.seq, a.duration_ms, a.hops)
        if fields is None:
            return 0
        return signed(buf, src, a.duration_ms, a.seq, a.hops, a.source, *fields)

    def relay_heartbeat(buf, src, a: RelayHeartbeat) -> int:
        hop_hash = relay_hash(a.heartbeat, a.hops)
        if hop_hash is None:
            return 0
        return signed_forward(buf, a.heartbeat, src, a.hops, hop_hash)

    def send_reply(buf, src, a: SendReply) -> int:
        hb = a.heartbeat
        return signed_reply(
            buf, hb, src, hb.hop_hash, reply_signature(hb), src, a.next_hop
        )

    def forward_reply(buf, src, a: ForwardReply) -> int:
        # The sender signed it: it goes on as received but for dst and src.
        return signed_reply_forward(buf, a.reply, src, a.next_hop)

    return send_heartbeat, relay_heartbeat, send_reply, forward_reply


class NodeEngine:
    """Carries a node's frames between its link port, its cores and its TAP."""

    log = Logger()

    def __init__(
        self,
        *,
        name: str,
        role: str,
        mac: bytes,
        routing: IRoutingCore,
        dataplane: IDataPlane,
        clock: IReactorTime,
        hello_period_s: float,
        strategy_name: str = "",
        writer_path: str = "zero-copy",
        gate: AuthGate | None = None,
    ) -> None:
        self.name = name
        self.role = role
        self.mac = mac
        self.routing = routing
        self.dataplane = dataplane
        self.clock = clock
        self.hello_period_s = hello_period_s
        self.strategy_name = strategy_name
        self.gate = gate
        self.port = None
        self.tap = None
        # Route events are logged here, where a core's decisions meet the
        # world, under the core's namespace and the node's name.
        self._route_log = Logger(namespace=f"vanet.routing.{role}")
        self._log_name = name if name else format_mac(mac)
        self._buf = bytearray(2048)
        # One view over the buffer for the node's life: each frame sent is a
        # slice of it, not a new view to create and release (see _sender).
        self._view = memoryview(self._buf)
        # Per-frame counts are plain ints (cheaper than Counter entries);
        # status() builds the dict.
        self.frames_in = self.bytes_in = 0
        self.frames_out = self.bytes_out = 0
        self.not_for_us = self.own_echo = 0
        self.tap_in = self.tap_out = 0
        self.resent = 0  # data frames sent again after a failed send
        self.drops = Counter()  # link-level drops by reason
        # Names of the route events seen; their counts live in the routing
        # core's counters (one count, shown once under "events").
        self._event_names: set[str] = set()
        # The latest route events, (time, name, fields), newest last.
        self._recent_events: deque[tuple[float, str, dict]] = deque(
            maxlen=RECENT_EVENTS
        )
        # Called with (event, fields) for every route event, after it is
        # logged: how a node's page learns of a change at once.
        self.route_listeners: list[Callable[[str, dict], None]] = []
        self._loops: list[Periodic] = []
        # The one housekeeping timer, and the time it is armed for (inf:
        # none). Inputs re-arm it only when they bring the deadline earlier;
        # a timer that fires early finds little to do and re-arms.
        self._timer = None
        self._armed_at = INFINITE
        self._ticked_at = -INFINITE  # when tick last ran
        self._running = False
        self._handlers = {
            "heartbeat": routing.on_message,
            "heartbeat_reply": routing.on_message,
            "upstream": dataplane.on_upstream,
            "downstream": dataplane.on_downstream,
        }
        # The data plane's fast paths, where it has them: an OBU's relayed
        # data frame is written straight from the received view, an RSU's
        # for its TAP delivered, with no action objects (vanet.dataplane.obu,
        # "fast paths"; RsuDataPlane.upstream_or_frame).
        for kind, action in (
            ("upstream", ForwardUpstream),
            ("downstream", ForwardDownstream),
        ):
            fast = getattr(dataplane, f"relay_{kind}", None)
            if fast is not None:
                self._handlers[kind] = self._relay(
                    fast,
                    self._handlers[kind],
                    action,
                    writer_for(f"{kind}_forward", writer_path).write,
                )
        to_tap = getattr(dataplane, "upstream_or_frame", None)
        if to_tap is not None:
            self._handlers["upstream"] = self._to_tap(to_tap)
        self._tunnel_now = getattr(dataplane, "tunnel_now", None)
        # A port with a transmit ring lends its next slot: the fast paths
        # write a frame there in place, its one copy (vanet.transport.ring).
        # Looked up when the port changes; the zero-copy writers only.
        self._slots = writer_path == "zero-copy"
        self._slot_port = self._tx_slot = self._tx_commit = None
        self._write_upstream = writer_for("upstream", writer_path).write
        if gate is not None:
            # Authenticating: every control message passes the gate, which
            # lets through the signed ones that verify (as the views the
            # core knows) and drops the rest, plain ones included.
            self._handlers.update(dict.fromkeys(CONTROL_KINDS, self._gated(gate)))
        # Every other kind the codec parses (without a gate, the signed
        # control messages, docs/protocol.md §2.7) is dropped under its own
        # reason: never an exception per hostile frame.
        for kind in LAYOUTS:
            self._handlers.setdefault(kind, self._unhandled(kind))
        # The one table the actions are carried out through, by class. The
        # writers are looked up once: the registry decides the path.
        self._actions: dict[type, Callable] = {
            cls: self._sender(write)
            for cls, write in frame_writers(writer_path, gate).items()
        }
        self._actions[DeliverToTap] = self._deliver
        self._actions[RouteEvent] = self._route_event
        # Where a data frame goes after its first next hop failed.
        self._reroute: dict[type, Callable] = {
            SendUpstream: self._toward_gateway,
            ForwardUpstream: self._toward_gateway,
            SendDownstream: self._toward_destination,
            ForwardDownstream: self._toward_message_destination,
        }

    # -- life cycle --------------------------------------------------------

    def attach(self, port, tap) -> None:
        """Give the engine its link port and TAP (either may be ``None``)."""
        self.port = port
        self.tap = tap

    def start(self) -> None:
        """Start the periodic work: heartbeats (RSU), and housekeeping at
        the cores' deadlines."""
        self._running = True
        self._core_deadline = self.routing.next_deadline
        self._plane_deadline = self.dataplane.next_deadline
        if self.role == "rsu":
            self._start_loop(self.send_heartbeat, self.hello_period_s)
        self._rearm()

    def stop(self) -> None:
        self._running = False
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops.clear()
        timer, self._timer = self._timer, None
        self._armed_at = INFINITE
        if timer is not None and timer.active():
            timer.cancel()

    def _rearm(self) -> None:
        """Arm the housekeeping timer at the earliest deadline, if that is
        earlier than the one armed (cheap: called after every input)."""
        if not self._running:
            return
        at = self._core_deadline()
        plane = self._plane_deadline()
        if plane < at:
            at = plane
        if at >= self._armed_at:
            return
        if at <= self._ticked_at:
            # Still due after a tick at that time: a core that cannot make
            # progress must not spin the clock; it is looked at again soon.
            at = self._ticked_at + self.hello_period_s * SPIN_GUARD_PERIODS
            if at >= self._armed_at:
                return
        timer = self._timer
        if timer is not None and timer.active():
            timer.cancel()
        self._armed_at = at
        delay = at - self.clock.seconds()
        self._timer = self.clock.callLater(delay if delay > 0 else 0.0, self._due)

    def _due(self) -> None:
        self._timer = None
        self._armed_at = INFINITE
        try:
            self.tick()
        except Exception:
            # As a periodic call would: logged, and housekeeping goes on.
            self.log.failure("{node}: housekeeping failed", node=self._log_name)
            now = self.clock.seconds()
            self._armed_at = now + self.hello_period_s  # retry, not spin
            self._timer = self.clock.callLater(self.hello_period_s, self._due)

    def _start_loop(self, function, interval: float, now: bool = True) -> None:
        loop = Periodic(self.clock, function, interval)
        loop.start(now=now)
        self._loops.append(loop)

    # -- inputs ------------------------------------------------------------

    @property
    def stats(self) -> Counter:
        """Frames and bytes in and out, as counted (non-zero entries)."""
        return Counter(
            {
                name: value
                for name, value in (
                    ("frames_in", self.frames_in),
                    ("bytes_in", self.bytes_in),
                    ("not_for_us", self.not_for_us),
                    ("own_echo", self.own_echo),
                    ("tap_in", self.tap_in),
                    ("frames_out", self.frames_out),
                    ("bytes_out", self.bytes_out),
                    ("tap_out", self.tap_out),
                    ("resent", self.resent),
                )
                if value
            }
        )

    def frame_received(self, frame) -> None:
        """One frame from the link: parse it and handle every message in it
        that is addressed to us (docs/protocol.md §2)."""
        self.frames_in += 1
        self.bytes_in += len(frame)
        messages = parse(frame)
        if not messages:
            self.drops["malformed"] += 1
            return
        now = self.clock.seconds()
        mac = self.mac
        handlers = self._handlers
        act = self._actions
        for msg in messages:
            dst = msg.dst
            if dst != mac and not dst[0] & 1:
                self.not_for_us += 1
                continue
            if msg.src == mac:
                self.own_echo += 1
                continue
            # execute() inlined: this runs once a frame.
            for action in handlers[msg.kind](msg, now):
                act[type(action)](action)
        # _rearm() inlined as far as its first test: after most frames the
        # armed timer is early enough already.
        if self._running:
            at = self._core_deadline()
            plane = self._plane_deadline()
            if (plane if plane < at else at) < self._armed_at:
                self._rearm()

    def _gated(self, gate: AuthGate) -> Callable:
        admit, on_message = gate.admit, self.routing.on_message

        def handle(msg, now: float):
            msg = admit(msg)
            return () if msg is None else on_message(msg, now)

        return handle

    def _unhandled(self, kind: str) -> Callable:
        reason = f"unhandled_{kind}"
        drops = self.drops

        def drop(msg, now: float) -> tuple:
            drops[reason] += 1
            return ()

        return drop

    def _relay(
        self,
        next_hop_of: Callable,
        general: Callable,
        action_class: type,
        write: Callable,
    ) -> Callable:
        """The handler of a data message the data plane may simply relay:
        ``next_hop_of(msg, now)`` gives the next hop (the frame is written
        from the view and sent) or ``None`` (``general(msg, now)`` decides,
        with actions). The same frame, counts and failure handling as
        through ``action_class``."""
        mac = self.mac

        def relay(msg, now: float):
            hop = next_hop_of(msg, now)
            if hop is None:
                return general(msg, now)
            if self.port is not self._slot_port:
                self._lend_slots()
            tx_slot = self._tx_slot
            if tx_slot is not None:
                slot = tx_slot()
                if slot is not None and len(msg.raw) <= len(slot):
                    # From the receive buffer to the transmit slot: one copy.
                    n = write(slot, msg, mac, hop)
                    self._tx_commit(n)
                    self.frames_out += 1
                    self.bytes_out += n
                    return ()
            try:
                n = write(self._buf, msg, mac, hop)
            except BufferError:
                n = self._write_fresh(write, msg, mac, hop)
            self._send_written(n, action_class, msg, hop)
            return ()

        return relay

    def _to_tap(self, decide: Callable) -> Callable:
        """The handler of a data message whose usual outcome is one inner
        frame for the TAP: ``decide(msg, now)`` returns that frame (written
        here, no action object) or the list of actions."""
        deliver = self._tap_write

        def handle(msg, now: float):
            result = decide(msg, now)
            if type(result) is list:
                return result
            deliver(result)
            return ()

        return handle

    def _lend_slots(self) -> None:
        port = self._slot_port = self.port
        tx_slot = getattr(port, "tx_slot", None) if self._slots else None
        self._tx_slot = tx_slot
        self._tx_commit = None if tx_slot is None else port.commit

    def _write_fresh(self, write: Callable, *args) -> int:
        """A frame larger than the buffer: the standing view pins its size,
        so the writer grows a fresh buffer instead (viewed once grown)."""
        buf = self._buf = bytearray(len(self._buf))
        n = write(buf, *args)
        self._view = memoryview(buf)
        return n

    def _send_written(self, n: int, action_class: type, *fields) -> None:
        """Hand the ``n`` bytes just written to the port; on a failed send,
        what a failed ``action_class(*fields)`` does."""
        port = self.port
        if port is None:
            self.drops["no_link"] += 1
            return
        try:
            port.write(self._view[:n])
        except OSError as error:
            self._send_failed(action_class(*fields), error, True)
            return
        self.frames_out += 1
        self.bytes_out += n

    def tap_frame(self, frame) -> None:
        """One frame read from the TAP."""
        self.tap_in += 1
        now = self.clock.seconds()
        tunnel_now = self._tunnel_now
        if tunnel_now is not None:
            sealed = tunnel_now(frame, now)
            if sealed is not None:
                # The fast path: straight into the send buffer.
                payload, hop = sealed
                mac = self.mac
                write = self._write_upstream
                if self.port is not self._slot_port:
                    self._lend_slots()
                tx_slot = self._tx_slot
                if tx_slot is not None:
                    slot = tx_slot()
                    if slot is not None and _UP_LEN + len(payload) <= len(slot):
                        n = write(slot, mac, payload, mac, hop)
                        self._tx_commit(n)
                        self.frames_out += 1
                        self.bytes_out += n
                        return
                try:
                    n = write(self._buf, mac, payload, mac, hop)
                except BufferError:
                    n = self._write_fresh(write, mac, payload, mac, hop)
                self._send_written(n, SendUpstream, mac, payload, hop)
                return
        self.execute(self.dataplane.on_tap_frame(frame, now))
        self._rearm()

    def send_heartbeat(self) -> None:
        self.execute(self.routing.heartbeat(self.clock.seconds()))
        self._rearm()

    def tick(self) -> None:
        """Housekeeping: the cores' ``tick`` and the data plane's
        ``expire``, then the timer armed for what comes due next. Running
        it before anything is due is harmless."""
        now = self._ticked_at = self.clock.seconds()
        self.execute(self.routing.tick(now))
        self.dataplane.expire(now)
        self._rearm()

    # -- outputs -----------------------------------------------------------

    def execute(self, actions: Iterable) -> None:
        """Carry out the cores' actions, in order."""
        act = self._actions
        for action in actions:
            handler = act.get(type(action))
            if handler is None:
                raise TypeError(f"unknown action {action!r}")
            handler(action)

    def _route_event(self, action: RouteEvent) -> None:
        # The core counted it; it is logged once, here.
        self._event_names.add(action.event)
        self._recent_events.append((self.clock.seconds(), action.event, action.fields))
        self._route_log.info(
            "{node} {route_event}: {route_fields}",
            node=self._log_name,
            route_event=action.event,
            route_fields=action.fields,
        )
        for listener in self.route_listeners:
            listener(action.event, action.fields)
        if action.event == "upstream_selected":
            # A way up where there was none: what the TAP sent meanwhile.
            self.execute(self.dataplane.on_upstream_ready(self.clock.seconds()))

    def _sender(self, write: FrameWriter) -> Callable:
        """The handler that sends one class of frames: its writer is bound
        in, so a frame costs one lookup in the action table and no more."""

        def send(action: Transmit, retry: bool = True) -> None:
            try:
                n = write(self._buf, self.mac, action)
            except BufferError:
                n = self._write_fresh(write, self.mac, action)
            if not n:
                return  # nothing this node may send (the gate counted why)
            port = self.port
            if port is None:
                self.drops["no_link"] += 1
                return
            try:
                # Ports send or copy the frame before returning (ILinkPort).
                port.write(self._view[:n])
            except OSError as error:
                self._send_failed(action, error, retry)
                return
            self.frames_out += 1
            self.bytes_out += n

        return send

    def _send_failed(self, action: Transmit, error: OSError, retry: bool) -> None:
        self.drops["send_failed"] += 1
        self.log.warn(
            "{node}: sending {kind} to {next_hop} failed: {error}",
            node=self.name,
            kind=action.kind,
            next_hop=format_mac(action.next_hop),
            error=error,
        )
        if action.next_hop != BROADCAST:
            now = self.clock.seconds()
            self.execute(self.routing.on_send_failed(action.next_hop, now))
            if retry:
                self._resend(action, now)

    def _resend(self, action: Transmit, now: float) -> None:
        """Send a data frame whose send failed once more, through the next
        hop the routing core chose after the failure (the frame that found
        the primary dead is not lost with it)."""
        reroute = self._reroute.get(type(action))
        if reroute is None:
            return  # control frames: the next heartbeat round repairs them
        next_hop = reroute(action, now)
        if next_hop is None or next_hop == action.next_hop:
            return
        self.resent += 1
        resent = attrs.evolve(action, next_hop=next_hop)
        self._actions[type(resent)](resent, retry=False)

    def _toward_gateway(self, action, now: float) -> bytes | None:
        return self.routing.upstream

    def _toward_destination(self, action: SendDownstream, now: float) -> bytes | None:
        return self.routing.route_to(action.destination, now)

    def _toward_message_destination(
        self, action: ForwardDownstream, now: float
    ) -> bytes | None:
        return self.routing.route_to(action.message.destination, now)

    def _deliver(self, action: DeliverToTap) -> None:
        self._tap_write(action.frame)

    def _tap_write(self, frame) -> None:
        tap = self.tap
        if tap is None:
            self.drops["no_tap"] += 1
            return
        try:
            tap.write(frame)
        except OSError as error:
            # e.g. EIO while the TAP is down: this frame is lost, the node runs on.
            self.drops["tap_write_failed"] += 1
            self.log.debug(
                "{node}: TAP write failed: {error}", node=self.name, error=error
            )
            return
        self.tap_out += 1

    # -- status ------------------------------------------------------------

    def status(self) -> dict:
        """Everything an operator asks about, JSON-serializable."""
        now = self.clock.seconds()
        routing = self.routing.status(now)
        drops = Counter(self.drops)
        components = [self.routing, self.dataplane]
        if self.gate is not None:
            components.append(self.gate)
        for component in components:
            drops.update(component.drops)
        counters = self.stats
        routing_counters = self.routing.counters
        # Route events are counted by the core; they show under "events"
        # only, the core's other counters under "counters".
        event_names = self._event_names
        events = {
            name: routing_counters[name]
            for name in sorted(event_names)
            if name in routing_counters
        }
        counters.update(
            {k: v for k, v in routing_counters.items() if k not in event_names}
        )
        counters.update(self.dataplane.counters)
        if self.gate is not None:
            counters.update(self.gate.counters)
        for prefix, device in (("link", self.port), ("tap", self.tap)):
            device_counters = getattr(device, "counters", None)
            if device_counters is not None:
                device_dict = device_counters.as_dict()
                counters.update({f"{prefix}_{k}": v for k, v in device_dict.items()})
                # Frames the device itself threw away are drops too: an
                # operator looks for lost frames under one key.
                drops.update(
                    {
                        f"{prefix}_{reason}": device_dict[reason]
                        # device counters that count lost frames
                        # (vanet.transport.counters), under ``drops``
                        # as link_<reason> / tap_<reason>
                        for reason in DROP_REASONS
                        if device_dict.get(reason)
                    }
                )
        return {
            "role": self.role,
            "name": self.name,
            "mac": format_mac(self.mac),
            "strategy": self.strategy_name,
            "authenticate": self.gate is not None,
            **routing,
            "clients": self.dataplane.status(now),
            "counters": dict(counters),
            "drops": dict(drops),
            "events": events,
            # Newest first, with the age rather than a clock reading: the
            # simulator's clock and a node's are not wall time.
            "recent_events": [
                {"event": name, "s_ago": round(now - at, 3), **fields}
                for at, name, fields in reversed(self._recent_events)
            ],
        }
