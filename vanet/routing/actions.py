"""Actions returned by the sans-I/O cores (routing and data plane).

A core takes ``(message, now)`` and returns a list of these; the node (under
twistd, a test clock, or the simulator) carries them out. Nothing here does
I/O. There is one class per thing a core asks for, with named fields; the
node engine dispatches on the class (``vanet.node.engine``).

Frames to send derive from ``Transmit``. None carries the sending node's
own MAC: the engine writes it as ``src`` (and as ``sender`` of a reply it
originates). Hop counts are explicit: the heartbeat writers put ``hops`` on
the wire exactly as given (docs/protocol.md §2). Fields named ``heartbeat``,
``reply`` and ``message`` hold views into the received buffer: carry the
action out before that buffer is reused.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from vanet.mac import BROADCAST


@attrs.frozen(slots=True)
class Transmit:
    """A frame to send. ``kind`` names the writer-registry kind it is
    written with; ``next_hop`` is the frame's ``dst`` (broadcast for
    heartbeats): a failed send is reported to the routing core with it."""

    kind: ClassVar[str] = ""
    next_hop: ClassVar[bytes] = BROADCAST


# -- control (docs/protocol.md §3) ------------------------------------------


@attrs.frozen(slots=True)
class SendHeartbeat(Transmit):
    """An RSU's own heartbeat, broadcast (``source`` is the RSU, ``hops`` 1)."""

    kind: ClassVar[str] = "heartbeat"
    duration_ms: int
    seq: int
    hops: int
    source: bytes


@attrs.frozen(slots=True)
class RelayHeartbeat(Transmit):
    """Rebroadcast a received ``heartbeat`` with ``hops`` (one more than the
    distance this node advertises: docs/protocol.md §4.8) and ``src`` =
    this node."""

    kind: ClassVar[str] = "heartbeat_forward"
    heartbeat: Any  # HeartbeatView
    hops: int


@attrs.frozen(slots=True)
class SendReply(Transmit):
    """Answer a received ``heartbeat`` to the neighbour it came from
    (``next_hop``), with ``sender`` = this node; hops copied."""

    kind: ClassVar[str] = "heartbeat_reply"
    heartbeat: Any  # HeartbeatView
    next_hop: bytes


@attrs.frozen(slots=True)
class ForwardReply(Transmit):
    """Pass a received ``reply`` on toward its RSU (``next_hop``), unchanged
    but for ``dst`` and ``src``."""

    kind: ClassVar[str] = "heartbeat_reply"
    reply: Any  # HeartbeatReplyView
    next_hop: bytes


# -- data (docs/protocol.md §7) ---------------------------------------------


@attrs.frozen(slots=True)
class SendUpstream(Transmit):
    """Tunnel ``payload`` (a TAP frame, sealed) toward the gateway RSU."""

    kind: ClassVar[str] = "upstream"
    origin: bytes
    payload: Any  # bytes or memoryview
    next_hop: bytes


@attrs.frozen(slots=True)
class ForwardUpstream(Transmit):
    """Relay a received upstream ``message`` toward the gateway RSU."""

    kind: ClassVar[str] = "upstream_forward"
    message: Any  # UpstreamView
    next_hop: bytes


@attrs.frozen(slots=True)
class SendDownstream(Transmit):
    """Carry ``payload`` down to the vehicle ``destination``."""

    kind: ClassVar[str] = "downstream"
    origin: bytes
    destination: bytes
    payload: Any  # bytes or memoryview
    next_hop: bytes


@attrs.frozen(slots=True)
class ForwardDownstream(Transmit):
    """Relay a received downstream ``message`` toward its destination."""

    kind: ClassVar[str] = "downstream_forward"
    message: Any  # DownstreamView
    next_hop: bytes


# -- local ------------------------------------------------------------------


@attrs.frozen(slots=True)
class DeliverToTap:
    """Write this inner Ethernet frame (plaintext) into the node's TAP."""

    frame: Any  # bytes or memoryview


@attrs.frozen(slots=True)
class RouteEvent:
    """A decision worth logging; the core has counted it, the node logs it.

    ``event`` is one of ``route_discovered``, ``route_changed``,
    ``route_lost``, ``upstream_selected``, ``upstream_switched``,
    ``upstream_lost``, ``gateway_selected``, ``gateway_switched``,
    ``gateway_lost``, ``loop_detected``, ``source_restarted``; ``fields``
    carries structured details (MACs as ``aa:bb:..`` strings, latencies in
    ms, ``reason``).
    """

    event: str
    fields: dict = attrs.field(factory=dict)


Action = (
    SendHeartbeat
    | RelayHeartbeat
    | SendReply
    | ForwardReply
    | SendUpstream
    | ForwardUpstream
    | SendDownstream
    | ForwardDownstream
    | DeliverToTap
    | RouteEvent
)

#: every frame-sending action class
TRANSMITS = (
    SendHeartbeat,
    RelayHeartbeat,
    SendReply,
    ForwardReply,
    SendUpstream,
    ForwardUpstream,
    SendDownstream,
    ForwardDownstream,
)
