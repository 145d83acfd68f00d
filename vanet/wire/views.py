"""Parsed messages: read-only views over a received buffer.

``parse`` follows docs/protocol.md §2, "several messages in one buffer":
control messages have a fixed length, a data message takes the rest, and
parsing stops at the first bytes that do not form a message. Views keep
memoryviews into the caller's buffer (``raw``, ``payload``): no copies.
A view is valid only while that buffer is not reused.

The view classes and ``parse_one`` come from the declarations in
``vanet.wire.layouts``.
"""

from __future__ import annotations

import linecache
import struct

from vanet.wire import layouts
from vanet.wire.layouts import (
    DOWNSTREAM,
    HEADER_LEN,
    HEARTBEAT,
    HEARTBEAT_REPLY,
    PACKET_TYPES,
    SIGNED_HEARTBEAT,
    SIGNED_HEARTBEAT_REPLY,
    TAG_OFFSET,
    U128,
    UPSTREAM,
)


class WireError(ValueError):
    """Bytes that do not form a message."""


class MessageView:
    """Fields common to every message."""

    __slots__ = ("dst", "src", "raw")
    kind: str = ""
    layout: layouts.Layout

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in type(self).__fields__
            if name not in ("raw", "payload")
        )
        return f"<{type(self).__name__} {fields}>"


# Each view's slots are its layout's fields beyond the common ones.
_COMMON = frozenset(MessageView.__slots__)


def _view_class(name: str, layout: layouts.Layout) -> type[MessageView]:
    """The view class of ``layout``: its fields as slots, its kind."""
    return type(
        name,
        (MessageView,),
        {
            "__slots__": tuple(n for n in layout.view_fields if n not in _COMMON),
            "__module__": __name__,
            "__qualname__": name,
            "layout": layout,
            "kind": layout.kind,
            "__fields__": layout.view_fields,
        },
    )


HeartbeatView = _view_class("HeartbeatView", HEARTBEAT)
HeartbeatReplyView = _view_class("HeartbeatReplyView", HEARTBEAT_REPLY)
UpstreamView = _view_class("UpstreamView", UPSTREAM)
DownstreamView = _view_class("DownstreamView", DOWNSTREAM)
SignedHeartbeatView = _view_class("SignedHeartbeatView", SIGNED_HEARTBEAT)
SignedHeartbeatReplyView = _view_class(
    "SignedHeartbeatReplyView", SIGNED_HEARTBEAT_REPLY
)


#: the view class of each message kind
VIEWS = {
    cls.kind: cls
    for cls in (
        HeartbeatView,
        HeartbeatReplyView,
        UpstreamView,
        DownstreamView,
        SignedHeartbeatView,
        SignedHeartbeatReplyView,
    )
}

# Marker, type and subtype read as one u32: one unpack picks the message
# kind, where four single-byte reads and compares cost twice as much.
_unpack_tag = struct.Struct(f"!{TAG_OFFSET}xI").unpack_from


def _bad_tag(mv: memoryview, offset: int) -> WireError:
    """Say what is wrong with a header no message kind matched."""
    at = offset + TAG_OFFSET
    marker = int.from_bytes(mv[at : at + 2], "big")
    ptype, subtype = mv[at + 2], mv[at + 3]
    if marker != layouts.MARKER:
        return WireError(f"bad marker {marker:04x} at offset {at}")
    if ptype in PACKET_TYPES:
        return WireError(f"unknown {PACKET_TYPES[ptype]} subtype {subtype}")
    return WireError(f"unknown packet type {ptype}")


# parse_one is written out from the layouts at import time, the way attrs
# and dataclasses write __init__: setting a view's slots from an unpacked
# tuple is fastest as one unpacking assignment written out, and any loop
# over field names would cost more than the parse itself. Data messages
# come first: most received frames are data. The signed forms come last, so
# they cost the other kinds nothing (and a node that does not sign sees
# them rarely). The source is kept in linecache, so tracebacks and inspect
# show the generated lines.
_BRANCH_ORDER = (
    UPSTREAM,
    DOWNSTREAM,
    HEARTBEAT,
    HEARTBEAT_REPLY,
    SIGNED_HEARTBEAT,
    SIGNED_HEARTBEAT_REPLY,
)


def _branch(layout: layouts.Layout) -> list[str]:
    """The statements that parse one message of ``layout``, indented for
    an ``if tag == ...:`` branch."""
    kind, size = layout.kind, layout.size
    view_class = VIEWS[kind].__name__
    needs = (
        f"needs {size - HEADER_LEN} bytes ({', '.join(layout.fields)}) after the header"
    )
    truncated = f"truncated {kind.replace('_', ' ')}: {needs}"
    targets, joins = ["view.dst", "view.src"], []
    for field in layout.body:
        if field.format == U128:
            hi, lo = f"{field.name}_hi", f"{field.name}_lo"
            targets += [hi, lo]
            joins.append(f"view.{field.name} = ({hi} << 64) | {lo}")
        else:
            targets.append(f"view.{field.name}")
    if layout.payload:
        lines = [
            f"if offset + {size} > end:",
            f"    raise WireError({truncated!r})",
        ]
    else:
        lines = [
            f"stop = offset + {size}",
            "if stop > end:",
            f"    raise WireError({truncated!r})",
        ]
    lines += [
        f"view = {view_class}()",
        f"({', '.join(targets)}) = _unpack_{kind}(mv, offset)",
        *joins,
    ]
    if layout.payload:
        lines += [f"view.payload = mv[offset + {size} : end]", "stop = end"]
    return ["    " + line for line in lines]


def _parse_one_source() -> str:
    lines = [
        "def parse_one(mv: memoryview, offset: int = 0) -> tuple[MessageView, int]:",
        '    """Parse the message starting at ``offset``; return it and the offset',
        '    just after it. Raise ``WireError`` if the bytes there are no message."""',
        "    end = len(mv)",
        f"    if end - offset < {HEADER_LEN}:",
        "        raise WireError(",
        "            f'{end - offset} bytes at offset {offset}: shorter than the "
        f"{HEADER_LEN}-byte header'",
        "        )",
        "    (tag,) = _unpack_tag(mv, offset)",
    ]
    keyword = "if"
    for layout in _BRANCH_ORDER:
        lines.append(f"    {keyword} tag == {layout.tag:#010x}:  # {layout.kind}")
        lines += ["    " + line for line in _branch(layout)]
        keyword = "elif"
    lines += [
        "    else:",
        "        raise _bad_tag(mv, offset)",
        "    # A lone message (the usual case) is the whole buffer: no slice needed.",
        "    view.raw = mv[offset:stop] if offset or stop != end else mv",
        "    return view, stop",
    ]
    return "\n".join(lines) + "\n"


PARSE_ONE_SOURCE = _parse_one_source()
_FILENAME = "<vanet.wire.views: parse_one generated from vanet.wire.layouts>"
_namespace = {
    "WireError": WireError,
    "MessageView": MessageView,
    "_unpack_tag": _unpack_tag,
    "_bad_tag": _bad_tag,
    **{cls.__name__: cls for cls in VIEWS.values()},
    **{f"_unpack_{kind}": cls.layout.unpack.unpack_from for kind, cls in VIEWS.items()},
}
exec(compile(PARSE_ONE_SOURCE, _FILENAME, "exec"), _namespace)
linecache.cache[_FILENAME] = (
    len(PARSE_ONE_SOURCE),
    None,
    PARSE_ONE_SOURCE.splitlines(True),
    _FILENAME,
)
parse_one = _namespace["parse_one"]
parse_one.__module__ = __name__


def parse(buf: bytes | bytearray | memoryview) -> list[MessageView]:
    """All messages in one received buffer, in order. Never raises on bad
    input: parsing stops at the first bytes that form no message."""
    mv = buf if type(buf) is memoryview else memoryview(buf)
    messages = []
    offset = 0
    end = len(mv)
    try:
        while offset < end:
            view, offset = parse_one(mv, offset)
            messages.append(view)
    except WireError:
        pass
    except (TypeError, ValueError, IndexError):
        # e.g. a multi-dimensional or non-byte memoryview: not a frame.
        pass
    return messages
