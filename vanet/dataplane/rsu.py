"""The RSU's data plane (docs/protocol.md §7, "RSU").

The RSU bridges its TAP with the vehicles' TAPs like a learning switch:
it learns from each inner frame's source MAC where that client lives
(behind an OBU, or behind the RSU itself), and sends every copy for a vehicle
as a downstream message addressed to that vehicle (``destination``) through
the next hop toward it (``dst``): broadcast copies reach vehicles several
hops away (docs/protocol.md §7).
"""

from __future__ import annotations

from zope.interface import implementer

from vanet.dataplane._common import MIN_INNER_FRAME, DataPlaneBase
from vanet.dataplane.clients import ClientTable
from vanet.interfaces import IDataPlane
from vanet.mac import bad_address, is_group
from vanet.routing.actions import DeliverToTap, SendDownstream


@implementer(IDataPlane)
class RsuDataPlane(DataPlaneBase):
    """``routing`` provides ``route_to(vehicle, now)`` (next hop or None),
    ``vehicles(now)`` (the vehicles it knows a route to) and
    ``on_data_seen(origin, via, now)`` (upstream data keeps a route live)."""

    def __init__(
        self,
        mac: bytes,
        routing,
        codec,
        client_capacity: int = 4096,
        client_ttl_s: float = 300.0,
    ) -> None:
        super().__init__(mac, routing, codec)
        self.clients = ClientTable(client_capacity, client_ttl_s)

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
        self.clients.learn(source, origin, now)
        self.routing.on_data_seen(origin, bytes(view.src), now)
        destination = bytes(frame[0:6])
        if destination[0] & 1:
            counters["broadcast"] += 1
            return [self._deliver(frame), *self._copies(frame, origin, now)]
        behind = self.clients.lookup(destination, now)
        if behind is None:
            # Unknown unicast: flood it, as a learning bridge does.
            counters["flooded"] += 1
            return [self._deliver(frame), *self._copies(frame, origin, now)]
        if behind == self.mac:
            counters["delivered_to_tap"] += 1
            return frame
        if behind == origin:
            # It lives on the segment the frame came from: nothing to carry.
            return self._drop("same_segment")
        return self._copy_to(behind, frame, origin, now)

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
        self.clients.learn(source, self.mac, now)
        destination = bytes(frame[0:6])
        if is_group(destination):
            self.counters["broadcast"] += 1
            return self._copies(frame, self.mac, now)
        behind = self.clients.lookup(destination, now)
        if behind is None:
            self.counters["flooded"] += 1
            return self._copies(frame, self.mac, now)
        if behind == self.mac:
            return self._drop("same_segment")
        return self._copy_to(behind, frame, self.mac, now)

    def _copies(self, frame, origin: bytes, now: float) -> list:
        """One copy to every known vehicle except ``origin``."""
        actions: list = []
        for vehicle in self.routing.vehicles(now):
            if vehicle != origin:
                actions += self._copy_to(vehicle, frame, origin, now)
        return actions

    def _copy_to(self, vehicle: bytes, frame, origin: bytes, now: float) -> list:
        next_hop = self.routing.route_to(vehicle, now)
        if next_hop is None:
            return self._drop("no_route")
        self.counters["downstream_sent"] += 1
        # Sealed per copy: each gets its own nonce.
        payload = self.codec.seal(frame)
        return [SendDownstream(origin, vehicle, payload, next_hop)]

    def on_upstream_ready(self, now: float) -> list:
        """An RSU has no upstream: nothing is ever held for one."""
        return []

    def expire(self, now: float) -> None:
        """Forget clients not seen for ``client_ttl_s`` (housekeeping tick)."""
        self.clients.expire(now)

    def status(self, now: float) -> dict[str, dict]:
        """The client table: ``{client MAC: {"behind": MAC, "age_s": s}}``."""
        return self.clients.status(now)
