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
    ``datagramReceived(frame, addr)`` and knows nothing of routing.
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


class IRoutingStrategy(Interface):
    """Chooses among route candidates; the routing cores keep all the state.

    Strategies are found with Twisted's plugin system: a module in
    ``vanet/plugins/`` holding an object that provides ``IPlugin`` and this
    interface. A node picks one by ``name`` (``[routing] strategy = ...``).

    Every method receives ``vanet.routing.candidates.Candidate`` values
    (``target``, ``next_hop``, ``hops``, ``min_ms``, ``avg_ms``, ``samples``,
    ``measured``, ``score``), built from live observations only, never
    including the node itself. Methods must be pure: same input, same
    answer, no state kept between calls (one instance serves every core).
    """

    name = Attribute("str: the name a configuration selects it by, e.g. 'latency'")
    description = Attribute("str: one line for listings and error messages")

    def rank_upstream(candidates):
        """Return the next hops toward one RSU, best first (a new list)."""

    def upstream_switch_reason(current, best):
        """Hysteresis: ``current`` is the live upstream's candidate, ``best``
        the first of ``rank_upstream``. Return a short reason string (e.g.
        ``'fewer_hops'``) to switch to ``best``, or ``None`` to keep
        ``current``."""

    def rank_gateways(candidates):
        """Each candidate is the best next hop toward one RSU (``target``);
        return them best gateway first."""

    def gateway_switch_reason(current, best, threshold):
        """Return a reason to move from the current gateway RSU to another
        one, or ``None`` to stay; ``threshold`` is the configured relative
        improvement required (e.g. 0.1 for 10%)."""

    def rank_routes(candidates):
        """Return the next hops toward one downstream vehicle, best first."""
