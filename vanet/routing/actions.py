"""Actions returned by the sans-I/O cores (routing and data plane).

A core takes ``(message, now)`` and returns a list of these; the node (under
twistd, a test clock, or the simulator) carries them out. Nothing here does
I/O.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(slots=True)
class Transmit:
    """Write a frame with the registry writer ``kind`` and send it.

    The node calls ``writer_for(kind).write(buf, *args)`` and hands the
    frame to its link port. ``next_hop`` is the frame's ``dst`` (broadcast for
    heartbeats); a send failure is reported back to the routing core with it.
    ``args`` may hold memoryviews into the received buffer: carry the action
    out before that buffer is reused.
    """

    kind: str
    args: tuple
    next_hop: bytes


@attrs.frozen(slots=True)
class DeliverToTap:
    """Write this inner Ethernet frame (plaintext) into the node's TAP."""

    frame: Any  # bytes or memoryview


@attrs.frozen(slots=True)
class RouteEvent:
    """A decision worth logging and counting.

    ``event`` is one of ``route_discovered``, ``route_changed``,
    ``route_lost``, ``upstream_selected``, ``upstream_switched``,
    ``upstream_lost``, ``gateway_selected``, ``gateway_switched``,
    ``gateway_lost``, ``loop_detected``, ``source_restarted``, or a
    strategy's own; ``fields`` carries structured details (MACs as
    ``aa:bb:..`` strings, latencies in ms, ``reason``).
    """

    event: str
    fields: dict = attrs.field(factory=dict)


Action = Transmit | DeliverToTap | RouteEvent
