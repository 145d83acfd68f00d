"""The RSU's data plane (docs/protocol.md §7, "RSU").

The RSU bridges its TAP with the vehicles' TAPs like a learning switch:
it learns from each inner frame's source MAC where that client lives
(behind an OBU, or behind the RSU itself), and sends every copy for a vehicle
as a downstream message addressed to that vehicle (``destination``) through
the next hop toward it (``dst``): broadcast copies reach vehicles several
hops away (docs/protocol.md §7).
"""

from __future__ import annotations

from collections import deque

from zope.interface import implementer

from vanet.dataplane._common import MIN_INNER_FRAME, DataPlaneBase
from vanet.dataplane.clients import EXPIRY_AFTER, ClientTable
from vanet.interfaces import IDataPlane
from vanet.mac import bad_address, is_group
from vanet.routing.actions import DeliverToTap, SendDownstream


@implementer(IDataPlane)
class RsuDataPlane(DataPlaneBase):
    """``routing`` provides ``route_to(vehicle, now)`` (next hop or None),
    ``vehicles(now)`` (the vehicles it knows a route to) and
    ``on_data_seen(origin, via, now)`` (upstream data keeps a route live,
    or gives a first one: returns the route events)."""

    #: unicast frames held for want of a route (docs/protocol.md §7.3):
    #: at most this many, for at most ``hold_s``
    HOLD_FRAMES = 64

    def __init__(
        self,
        mac: bytes,
        routing,
        codec,
        client_capacity: int = 4096,
        client_ttl_s: float = 300.0,
        hold_s: float = 0.0,
    ) -> None:
        super().__init__(mac, routing, codec)
        self.clients = ClientTable(client_capacity, client_ttl_s)
        self.hold_s = hold_s
        # (held at, inner frame, origin, the vehicles that had a flooded
        # copy already, or None for a frame that went nowhere yet)
        self._held: deque[tuple[float, bytes, bytes, frozenset[bytes] | None]] = deque()
        self._held_seen = None  # routes_version when they were last looked at

    def on_upstream(self, view, now: float) -> list:
        """Traffic a vehicle tunnelled up: open it, learn, decide, and seal
        again for each recipient (docs/protocol.md §8)."""
        result = self._upstream(view, now)
        return result if type(result) is list else [DeliverToTap(result)]

    def _upstream(self, view, now: float):
        """``on_upstream`` for the engine's fast path: where the only thing
        to do is to deliver the inner frame to our TAP (a host behind the
        RSU, the usual case), that frame, counted as delivered, instead of
        ``[DeliverToTap(frame)]``; otherwise the list of actions."""
        counters = self.counters
        counters["upstream_received"] += 1
        origin = bytes(view.origin)
        if bad_address(origin):
            # The client table would learn clients behind it (checked
            # before opening: that would spend a nonce of the replay window).
            return self._drop("bad_origin")
        frame = self._open(view.payload)
        if frame is None:
            return []
        if origin == self.mac:
            return self._drop("loop")
        source = bytes(frame[6:12])
        if source[0] & 1:
            return self._drop("bad_source")
        news = self.clients.learn(source, origin, now)
        events = self.routing.on_data_seen(origin, bytes(view.src), now)
        if self._held:
            events = [*events, *self._release(now, news)]
        destination = bytes(frame[0:6])
        if destination[0] & 1:
            counters["broadcast"] += 1
            return [*events, self._deliver(frame), *self._copies(frame, origin, now)]
        behind = self.clients.lookup(destination, now)
        if behind is None:
            # Unknown unicast: flood it, as a learning bridge does.
            counters["flooded"] += 1
            return [
                *events,
                self._deliver(frame),
                *self._flood(frame, origin, now),
            ]
        if behind == self.mac:
            if events:
                return [*events, self._deliver(frame)]
            counters["delivered_to_tap"] += 1
            return frame
        if behind == origin:
            # It lives on the segment the frame came from: nothing to carry.
            return [*events, *self._drop("same_segment")]
        return [*events, *self._copy_to(behind, frame, origin, now)]

    #: the engine's fast path (it may be switched off: None)
    upstream_or_frame = _upstream

    def on_downstream(self, view, now: float) -> list:
        """An RSU is where downstream traffic starts; it never takes any."""
        return self._drop("unexpected_downstream")

    def on_tap_frame(self, frame, now: float) -> list:
        """A frame read from the RSU's own TAP: carry it to the vehicles."""
        self.counters["tap_frames"] += 1
        if len(frame) < MIN_INNER_FRAME:
            return self._drop("short_frame")
        source = bytes(frame[6:12])
        if is_group(source):
            return self._drop("bad_source")
        news = self.clients.learn(source, self.mac, now)
        released = self._release(now, news) if self._held else []
        destination = bytes(frame[0:6])
        if is_group(destination):
            self.counters["broadcast"] += 1
            return [*released, *self._copies(frame, self.mac, now)]
        behind = self.clients.lookup(destination, now)
        if behind is None:
            self.counters["flooded"] += 1
            return [*released, *self._flood(frame, self.mac, now)]
        if behind == self.mac:
            return [*released, *self._drop("same_segment")]
        return [*released, *self._copy_to(behind, frame, self.mac, now)]

    def _copies(self, frame, origin: bytes, now: float) -> list:
        """One copy to every known vehicle except ``origin``."""
        actions: list = []
        for vehicle in self.routing.vehicles(now):
            if vehicle != origin:
                actions += self._copy_to(vehicle, frame, origin, now)
        return actions

    def _flood(self, frame, origin: bytes, now: float) -> list:
        """Unknown unicast: a copy to every known vehicle but ``origin``,
        and the frame held, in case where its destination lives is learnt
        (with a route to it) within ``hold_s``."""
        copies = self._copies(frame, origin, now)
        if self.hold_s > 0:
            copied = frozenset(copy.destination for copy in copies)
            self._hold(frame, origin, copied, now)
        return copies

    def _hold(self, frame, origin: bytes, copied: frozenset | None, now: float) -> None:
        # docs/protocol.md §7.3: a unicast frame for a vehicle the RSU has
        # no route to yet waits for one, as an OBU's TAP frames wait for a
        # first upstream: under loss, a vehicle two hops out gets its first
        # route a few periods after it started sending.
        held = self._held
        if len(held) >= self.HOLD_FRAMES:
            self._expired(held.popleft())
        held.append((now, bytes(frame), origin, copied))  # the TAP reuses its buffer
        self.counters["held"] += 1

    def _release(self, now: float, news: bool = False) -> list:
        """Send the held frames whose destination now has a route; drop
        those held longer than ``hold_s``. Looked at only when a route or
        a client changed since the last time."""
        version = self.routing.routes_version
        if not news and version == self._held_seen:
            return []
        self._held_seen = version
        actions: list = []
        kept: deque = deque()
        lookup, route_to = self.clients.lookup, self.routing.route_to
        for entry in self._held:
            at, frame, origin, copied = entry
            if now - at > self.hold_s:
                self._expired(entry)
                continue
            behind = lookup(frame[0:6], now)
            if behind is None or route_to(behind, now) is None:
                kept.append(entry)
                continue
            if (copied is None or behind not in copied) and behind not in (
                origin,
                self.mac,
            ):
                self.counters["released"] += 1
                actions += self._copy_to(behind, frame, origin, now)
        self._held = kept
        return actions

    def _copy_to(self, vehicle: bytes, frame, origin: bytes, now: float) -> list:
        next_hop = self.routing.route_to(vehicle, now)
        if next_hop is None:
            if self.hold_s > 0:
                self._hold(frame, origin, None, now)
                return []
            return self._drop("no_route")
        self.counters["downstream_sent"] += 1
        # Sealed per copy: each gets its own nonce.
        payload = self.codec.seal(frame)
        return [SendDownstream(origin, vehicle, payload, next_hop)]

    def on_upstream_ready(self, now: float) -> list:
        """An RSU has no upstream: nothing is ever held for one."""
        return []

    def expire(self, now: float) -> None:
        """Forget clients not seen for ``client_ttl_s``, and held frames
        older than ``hold_s`` (housekeeping tick)."""
        self.clients.expire(now)
        held = self._held
        while held and now - held[0][0] > self.hold_s:
            self._expired(held.popleft())

    def _expired(self, entry) -> None:
        """A held frame whose time is up: a drop (``no_route``) if it went
        nowhere; a flooded one went out already, and is only counted."""
        if entry[3] is None:
            self._drop("no_route")
        else:
            self.counters["flood_hold_expired"] += 1

    def next_deadline(self) -> float:
        """When ``expire`` next has a client to forget or a held frame to
        drop (``inf``: neither held)."""
        at = self.clients.next_expiry()
        held = self._held
        if held:
            at = min(at, held[0][0] + self.hold_s + EXPIRY_AFTER)
        return at

    def status(self, now: float) -> dict[str, dict]:
        """The client table: ``{client MAC: {"behind": MAC, "age_s": s}}``."""
        return self.clients.status(now)
