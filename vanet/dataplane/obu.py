"""The OBU's data plane (docs/protocol.md §7, "OBU")."""

from __future__ import annotations

from collections import deque

from zope.interface import implementer

from vanet.dataplane._common import MIN_INNER_FRAME, DataPlaneBase
from vanet.dataplane.clients import EXPIRY_AFTER
from vanet.interfaces import IDataPlane
from vanet.mac import bad_address, is_group
from vanet.routing.actions import ForwardDownstream, ForwardUpstream, SendUpstream


@implementer(IDataPlane)
class ObuDataPlane(DataPlaneBase):
    """Tunnels TAP frames upstream, relays other vehicles' data, and delivers
    downstream data addressed to this vehicle.

    ``routing`` provides ``upstream`` (bytes or None: the current next hop
    toward the RSU), ``route_to(destination, now)`` (bytes or None: the
    next hop toward a vehicle) and ``on_upstream_loop(neighbour, now)``
    (our upstream sent us upstream data: rank it last; returns actions). A relaying OBU never opens payloads (docs/protocol.md §8).
    """

    #: TAP frames held while there is no upstream, and for how long (s):
    #: a vehicle that just started (or lost its way up) sends its first
    #: frames, an ARP request, say, before the next heartbeat gives it an
    #: upstream; held, they go out then instead of waiting for the host's
    #: retry a second later.
    HOLD_FRAMES = 32

    def __init__(self, mac: bytes, routing, codec, hold_s: float = 1.0) -> None:
        super().__init__(mac, routing, codec)
        self.hold_s = hold_s
        self._held: deque[tuple[float, bytes]] = deque()

    def on_tap_frame(self, frame, now: float) -> list:
        """A frame read from this vehicle's TAP: tunnel it upstream (or
        hold it until there is an upstream, ``on_upstream_ready``)."""
        self.counters["tap_frames"] += 1
        if len(frame) < MIN_INNER_FRAME:
            return self._drop("short_frame")
        return self._tunnel(frame, now)

    def _tunnel(self, frame, now: float) -> list:
        upstream = self.routing.upstream
        if upstream is None:
            held = self._held
            if len(held) >= self.HOLD_FRAMES:
                held.popleft()
                self._drop("no_upstream")
            held.append((now, bytes(frame)))  # the TAP's buffer is reused
            self.counters["held"] += 1
            return []
        self.counters["tunnelled"] += 1
        payload = self.codec.seal(frame)
        return [SendUpstream(self.mac, payload, upstream)]

    # -- the engine's fast paths ----------------------------------------
    # Each answers for the common case of one entry point without building
    # actions: what to send and where, counted exactly as the general
    # method counts it; ``None``, with nothing counted or changed, for any
    # other case, which the engine then hands to the general method
    # (bench_node_path.py: the action objects and their list cost about
    # as much as the decision).

    def tunnel_now(self, frame, now: float) -> tuple | None:
        """``(payload, upstream)`` when ``on_tap_frame`` would return just
        ``[SendUpstream(mac, payload, upstream)]``."""
        upstream = self.routing.upstream
        if upstream is None or len(frame) < MIN_INNER_FRAME:
            return None
        counters = self.counters
        counters["tap_frames"] += 1
        counters["tunnelled"] += 1
        return self.codec.seal(frame), upstream

    def relay_upstream(self, view, now: float) -> bytes | None:
        """The next hop when ``on_upstream`` would return just
        ``[ForwardUpstream(view, hop)]``."""
        origin = view.origin
        upstream = self.routing.upstream
        if (
            upstream is None
            or upstream == view.src
            or bad_address(origin)
            or origin == self.mac
        ):
            return None
        # As on_upstream: it keeps our route back to its origin live.
        self.routing.on_data_seen(bytes(origin), bytes(view.src), now)
        counters = self.counters
        counters["upstream_received"] += 1
        counters["upstream_forwarded"] += 1
        return upstream

    def relay_downstream(self, view, now: float) -> bytes | None:
        """The next hop when ``on_downstream`` would return just
        ``[ForwardDownstream(view, hop)]``."""
        destination = view.destination
        if destination == self.mac or destination[0] & 1:
            return None
        next_hop = self.routing.route_to(destination, now)
        if next_hop is None or next_hop == view.src:
            return None
        counters = self.counters
        counters["downstream_received"] += 1
        counters["downstream_forwarded"] += 1
        return next_hop

    def on_upstream_ready(self, now: float) -> list:
        """The routing core chose an upstream: send the frames held for
        want of one, those not older than ``hold_s``."""
        held = self._held
        actions: list = []
        while held and self.routing.upstream is not None:
            at, frame = held.popleft()
            if now - at > self.hold_s:
                self._drop("no_upstream")
                continue
            actions.extend(self._tunnel(frame, now))
        return actions

    def expire(self, now: float) -> None:
        """Drop held frames older than ``hold_s`` (an OBU learns no
        clients)."""
        held = self._held
        while held and now - held[0][0] > self.hold_s:
            held.popleft()
            self._drop("no_upstream")

    def next_deadline(self) -> float:
        """When ``expire`` next has a held frame to drop (``inf``: none
        held): a hair after the oldest one's ``hold_s``."""
        held = self._held
        return held[0][0] + self.hold_s + EXPIRY_AFTER if held else float("inf")

    def on_upstream(self, view, now: float) -> list:
        """An upstream message from a downstream neighbour: relay it
        unchanged but for dst (our upstream) and src (us)."""
        self.counters["upstream_received"] += 1
        if bad_address(view.origin):
            # The RSU would learn clients behind it: refused at the first hop.
            return self._drop("bad_origin")
        if bytes(view.origin) == self.mac:
            # Our own traffic came back: the upstream chain is a loop.
            return self._drop("loop")
        # It keeps our route back to its origin live (docs/protocol.md §4.5).
        self.routing.on_data_seen(bytes(view.origin), bytes(view.src), now)
        upstream = self.routing.upstream
        if upstream is None:
            return self._drop("no_upstream")
        actions: list = []
        if upstream == view.src:
            # The sender is our way up and we are its: a loop. Sending it
            # back would only bounce the message between us; the routing
            # core ranks that neighbour last and the frame goes on through
            # the next candidate, if there is one.
            actions = self.routing.on_upstream_loop(view.src, now)
            upstream = self.routing.upstream
            if upstream is None or upstream == view.src:
                return [*actions, *self._drop("loop")]
        self.counters["upstream_forwarded"] += 1
        actions.append(ForwardUpstream(view, upstream))
        return actions

    def on_downstream(self, view, now: float) -> list:
        """A downstream message: ours (or broadcast, from older
        implementations) goes to the TAP; anything else is relayed toward its
        ``destination``."""
        self.counters["downstream_received"] += 1
        destination = bytes(view.destination)
        if destination == self.mac or is_group(destination):
            frame = self._open(view.payload)
            if frame is None:
                return []
            return [self._deliver(frame)]
        next_hop = self.routing.route_to(destination, now)
        if next_hop is None:
            return self._drop("no_route")
        if next_hop == view.src:
            return self._drop("loop")
        self.counters["downstream_forwarded"] += 1
        return [ForwardDownstream(view, next_hop)]

    def status(self, now: float) -> dict[str, dict]:
        """An OBU keeps no client table."""
        return {}
