"""The project's extension points, as zope.interface interfaces.

Each docstring is the contract. Implementations declare themselves with
``@implementer``; tests check them with ``zope.interface.verify``.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IFrameWriter(Interface):
    """Writes one complete frame of one message kind into a reused buffer.

    Registered per message kind and path ("zero-copy", "legacy", ...) in
    ``vanet.wire.registry``; nodes obtain writers only through
    ``vanet.wire.writer_for``.
    """

    kind = Attribute("str: message kind, e.g. 'heartbeat_reply'")
    path = Attribute("str: serialization path, e.g. 'zero-copy' or 'legacy'")

    def write(buf, *args):
        """Write the frame at offset 0 of the bytearray ``buf`` (growing it
        only when too small) and return the frame length in bytes."""


class IPayloadCodec(Interface):
    """Turns inner Ethernet frames into data-message payloads and back.

    The identity codec passes frames through; the AES-256-GCM codec
    (docs/protocol.md §8) seals and opens them.
    """

    overhead = Attribute("int: bytes a sealed payload adds to the frame")

    def seal(frame):
        """Return the payload (bytes) carrying ``frame``."""

    def open(payload):
        """Return the inner frame, or ``None`` if the payload is not
        authentic (the caller drops and counts it)."""


class ILinkPort(Interface):
    """A link transport bound to one medium: packet, udp or memory.

    It delivers every received frame to its protocol's
    ``datagramReceived(frame, addr)`` and knows nothing of routing. The
    frame may be a read-only ``memoryview`` into a receive ring, valid only
    during that call: a protocol that keeps it copies it first.
    """

    mac = Attribute("bytes: the 6-byte link address frames are sent from")

    def write(frame):
        """Send one whole frame. Raise ``OSError`` if the medium refused it."""

    def stopListening():
        """Stop receiving and release the medium; may return a Deferred."""


class ITapDevice(Interface):
    """A TAP device (real or in-memory) whose frames a node carries."""

    name = Attribute("str: device name")
    mac = Attribute("bytes: the device's own MAC")

    def startReading(deliver):
        """Call ``deliver(frame)`` for every frame read from the device."""

    def write(frame):
        """Write one Ethernet frame into the device (to the host)."""

    def close():
        """Stop reading and release the device."""


class IMedium(Interface):
    """What in-memory link ports transmit into: a hub, or the simulator's
    channel model, which decides who hears a frame, when, and if at all."""

    def attach(port):
        """Connect a port; from now on it may receive frames."""

    def detach(port):
        """Disconnect a port."""

    def transmit(sender, frame):
        """``sender`` (an attached port) sent ``frame`` (bytes). Deliver it to
        receivers by calling their ``receive(frame)``, now or later."""


class IDirectMedium(IMedium):
    """A medium that opens its own ports: the in-process simulator's fused
    link (``vanet.sim.channel.ChannelPort``). A frame such a port writes
    goes into the medium's scheduling with no lookup by name, and a frame
    due at it goes straight to its protocol's ``IFrameSink`` handler, not
    through ``receive`` and ``datagramReceived``. Same semantics as a port
    attached with ``attach``, which stays for other ports."""

    def open_port(name, mac):
        """Return an ``ILinkPort`` for node ``name`` with link address
        ``mac`` (6 bytes), attached to this medium while it listens."""


class IFrameSink(Interface):
    """A link protocol an in-process medium may hand frames to by a plain
    call (``IDirectMedium``'s ports look for it)."""

    def frame_sink():
        """Return ``handle(frame)``, which does what
        ``datagramReceived(frame, None)`` does (the frame is bytes)."""


class IRoutingStrategy(Interface):
    """Orders route candidates; the routing cores keep all the state.

    Strategies are found with Twisted's plugin system: a module in
    ``vanet/plugins/`` holding an object that provides ``IPlugin`` and this
    interface. A node picks one by ``name`` (``[routing] strategy = ...``).

    Every method receives ``vanet.routing.candidates.Candidate`` values
    (``target``, ``next_hop``, ``hops``, ``min_ms``, ``avg_ms``, ``samples``,
    ``measured``, ``score``, and the link's quality: ``loss`` and
    ``rssi_dbm``), built from live observations only, never including the
    node itself. ``rssi_dbm`` comes from the node's ``ILinkQuality`` and is
    ``None`` where no radio reports it (real nodes today): a strategy that
    uses it must rank such candidates some other way. Methods must be pure: same input, same
    answer, no state kept between calls (one instance serves every core).

    A ranking is ``sorted(candidates, key=...)`` with one of the three keys
    (lowest first; ties keep the core's order): the cores sort with the
    keys themselves, so a strategy's own order costs what the shipped ones
    cost. ``vanet.routing.strategies.BaseStrategy`` supplies defaults.
    """

    name = Attribute("str: the name a configuration selects it by, e.g. 'latency'")
    description = Attribute("str: one line for listings and error messages")

    def upstream_key(candidate):
        """Sort key of a next hop toward one RSU (docs/protocol.md §4):
        the lowest is the upstream the OBU prefers."""

    def upstream_switch_reason(current, best):
        """Hysteresis: ``current`` is the live upstream's candidate, ``best``
        the first by ``upstream_key``. Return a short reason string (e.g.
        ``'fewer_hops'``) to switch to ``best``, or ``None`` to keep
        ``current``."""

    def gateway_key(candidate):
        """Sort key of an RSU, given as its best next hop (``target`` is the
        RSU): the lowest is the gateway the OBU prefers (docs/protocol.md §6)."""

    def gateway_switch_reason(current, best, threshold):
        """Return a reason to move from the current gateway RSU to another
        one, or ``None`` to stay; ``threshold`` is the configured relative
        improvement required (e.g. 0.1 for 10%)."""

    def route_key(candidate):
        """Sort key of a next hop toward one downstream vehicle: the lowest
        is the route used (docs/protocol.md §4)."""


class ILinkQuality(Interface):
    """What a node's radio reports of its links, which the routing core
    puts on its candidates (``Candidate.rssi_dbm``).

    The simulator's radio from positions provides one per node
    (``vanet.sim.mobility.driver``); real nodes have none today, and
    their candidates carry ``rssi_dbm = None``. The core asks it whenever
    it re-ranks, so an answer must be cheap (a table lookup).
    """

    def rssi_dbm(neighbour):
        """The received signal strength (dBm) of the link from the
        neighbour with MAC ``neighbour`` (bytes), or ``None`` if unknown."""


class IRoutingCore(Interface):
    """A node's routing core (docs/protocol.md §3-§6), sans I/O.

    The node engine hands it every control message addressed to the node,
    calls ``heartbeat`` every heartbeat period (RSU) and ``tick`` at
    ``next_deadline()``, and reports failed sends. Each of these returns a list
    of ``vanet.routing.actions`` (frames to send, ``RouteEvent`` decisions
    the engine logs), which the caller carries out in order. The data plane
    asks it where to send (``upstream``, ``route_to``, ``vehicles``).
    ``now`` is the node's clock in seconds. Importing it loads no Twisted.
    """

    role = Attribute("str: 'obu' or 'rsu'")
    mac = Attribute("bytes: the node's 6-byte link address")
    strategy = Attribute("IRoutingStrategy: what ranks the candidates")
    counters = Attribute(
        "Counter: events counted by name (route events included: the engine"
        " shows those under 'events')"
    )
    drops = Attribute("Counter: control messages dropped, by reason")
    upstream = Attribute(
        "bytes or None: the next hop toward the gateway RSU (None at an RSU)"
    )
    gateway = Attribute("bytes or None: the RSU upstream data goes to (None at an RSU)")

    def on_message(msg, now):
        """A parsed heartbeat or heartbeat reply view addressed to this
        node (or broadcast); return actions. Other kinds return ``[]``."""

    def heartbeat(now):
        """The RSU's next heartbeat and what expired with it; an OBU
        originates none and returns ``[]``."""

    def tick(now):
        """Housekeeping: liveness, failover, pending re-rankings; return
        actions. Calling it before its deadline is harmless and cheap."""

    def next_deadline():
        """The time (on the clock ``now`` is read from) at which ``tick``
        next has something to do, or ``inf`` while only an input can give
        it some. Any input or ``tick`` may move it: the caller asks again
        after each (h11-style: the core keeps no timer)."""

    def on_send_failed(next_hop, now):
        """A unicast send to ``next_hop`` failed: rank it last until it is
        heard again; return actions (e.g. a switch of upstream)."""

    def route_to(target, now):
        """The next hop toward the vehicle ``target``, or ``None``."""

    def vehicles(now):
        """The vehicles with a live route, in MAC order."""

    def memory():
        """Sizes of the bounded tables, ``{name: int}``."""

    def status(now):
        """Everything an operator asks about, JSON-serializable (its keys
        are read by the simulator, ``vanetctl`` and the metrics)."""


class IDataPlane(Interface):
    """A node's data plane (docs/protocol.md §7), sans I/O.

    It takes a frame read from the TAP or a parsed data message with
    ``now`` and returns ``vanet.routing.actions`` (frames to send,
    ``DeliverToTap``). It asks the routing core where to send, and never
    raises on bad input: it is dropped and counted in ``drops``.
    """

    mac = Attribute("bytes: the node's 6-byte link address")
    counters = Attribute("Counter: frames handled, by what happened")
    drops = Attribute("Counter: frames dropped, by reason")

    def on_tap_frame(frame, now):
        """An Ethernet frame read from the node's TAP; return actions."""

    def on_upstream(view, now):
        """An upstream data message addressed to this node; return actions."""

    def on_downstream(view, now):
        """A downstream data message addressed to this node; return actions."""

    def on_upstream_ready(now):
        """The routing core chose an upstream where it had none: return
        the actions for what was held for want of one."""

    def expire(now):
        """Housekeeping: forget what has aged out (e.g. learnt clients)."""

    def next_deadline():
        """When ``expire`` next has something to forget (``inf``: nothing
        held), on the clock ``now`` is read from; asked again after each
        input."""

    def status(now):
        """The learnt client table, ``{client MAC: {"behind", "age_s"}}``
        (empty for an OBU), JSON-serializable."""


class IMobilityModel(Interface):
    """Where the simulator's nodes are, and how they move (sans-I/O).

    The simulator steps it on its own clock (``vanet.sim.mobility.driver``)
    and derives the radio links from ``positions()``: the built-in highway
    (``vanet.sim.mobility.highway``), fixed positions, or a road simulator.
    """

    name = Attribute("str: the model's name, as [mobility] model says it")

    def step(dt):
        """Advance by ``dt`` seconds (> 0)."""

    def positions():
        """``{node name: vanet.sim.mobility.position.Position}`` of every node
        placed now; a node without one (a vehicle off the road) is absent."""

    def set_position(name, x, y):
        """Move node ``name`` to (x, y) metres. ``KeyError`` for an unknown
        node, ``ValueError`` (saying why) for one the model moves itself."""

    def describe():
        """The model and its parameters, JSON-ready (``model``: its name)."""

    def road():
        """The road it knows, which does not change during a run: a
        ``vanet.sim.mobility.road.Road`` (lanes' centre lines as polylines
        in metres, on the positions' plane); no polylines without one."""

    def close():
        """The run is over: release what the model holds (SUMO)."""
