"""The wire codec (docs/protocol.md §2).

- ``parse(buf)``: every message in one received buffer, as views; never raises.
- ``parse_one(buf)``: one message; raises ``WireError``.
- ``writer_for(kind, path)``: an ``IFrameWriter`` from the registry.
- ``vanet.wire.layouts``: each message's layout, declared once; the views,
  the writers' Structs and the legacy tree are derived from it.
- ``vanet.wire.writers``: the zero-copy writers; ``vanet.wire.legacy``: the
  object-tree ``Message`` path.
"""

from __future__ import annotations

from vanet.wire.layouts import ETHERTYPE, LAYOUTS, U32_MAX, serial_diff
from vanet.wire.registry import (
    LEGACY,
    WRITER_KINDS,
    ZERO_COPY,
    register_writer,
    registered,
    unregister_writer,
    writer_for,
)
from vanet.wire.views import (
    DownstreamView,
    HeartbeatReplyView,
    HeartbeatView,
    MessageView,
    SignedHeartbeatReplyView,
    SignedHeartbeatView,
    UpstreamView,
    WireError,
    parse,
)
from vanet.wire.views import parse_one as _parse_one


def parse_one(buf, offset: int = 0):
    """The message at ``offset`` of ``buf`` as a view; raise ``WireError``."""
    mv = buf if type(buf) is memoryview else memoryview(buf)
    return _parse_one(mv, offset)[0]


__all__ = [
    "ETHERTYPE",
    "LAYOUTS",
    "U32_MAX",
    "serial_diff",
    "WRITER_KINDS",
    "LEGACY",
    "ZERO_COPY",
    "DownstreamView",
    "HeartbeatReplyView",
    "HeartbeatView",
    "MessageView",
    "SignedHeartbeatReplyView",
    "SignedHeartbeatView",
    "UpstreamView",
    "WireError",
    "parse",
    "parse_one",
    "register_writer",
    "registered",
    "unregister_writer",
    "writer_for",
]
