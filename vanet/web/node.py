"""A node's own page on its control endpoint (``[control] listen``): the
simulator's node panel (``static/panel.js``) filled from the node's status
and pushed live, read-only.

``/`` gives the page to a browser, ``/ui/...`` its files and ``/events``
the node's ``/status`` every ``PUSH_INTERVAL_S`` seconds while a page is
open, and at once when the node's upstream or gateway changes.
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence

from twisted.internet.interfaces import IReactorTime
from twisted.web import resource

from vanet.web.assets import Asset, Assets
from vanet.web.stream import UPSTREAM_EVENTS, EventStream

#: seconds between two statuses pushed to the open pages
PUSH_INTERVAL_S = 1.0


def add_node_page(
    root: resource.Resource,
    status: Callable[[], dict],
    clock: IReactorTime | None = None,
    route_listeners: MutableSequence[Callable[[str, dict], None]] | None = None,
) -> Asset:
    """Put ``/ui`` and ``/events`` under ``root``; return the page, for the
    root to answer ``/`` with when a browser asks. With ``route_listeners``
    (the node engine's) the page is told of an upstream change at once."""
    if clock is None:
        from twisted.internet import reactor as clock
    stream = EventStream(status, clock, PUSH_INTERVAL_S)
    root.putChild(b"ui", Assets())
    root.putChild(b"events", stream)
    if route_listeners is not None:

        def heard(event: str, fields: dict) -> None:
            if event in UPSTREAM_EVENTS:
                stream.push_soon()

        route_listeners.append(heard)
    return Asset("node.html")
