"""A node's own page on its control endpoint (``[control] listen``): the
simulator's node panel (``static/panel.js``) filled from the node's status
and pushed live, read-only.

``/`` gives the page to a browser, ``/ui/...`` its files and ``/events``
the node's ``/status`` every ``PUSH_INTERVAL_S`` seconds while a page is
open.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IReactorTime
from twisted.web import resource

from vanet.web.assets import Asset, Assets
from vanet.web.stream import EventStream

#: seconds between two statuses pushed to the open pages
PUSH_INTERVAL_S = 1.0


def add_node_page(
    root: resource.Resource,
    status: Callable[[], dict],
    clock: IReactorTime | None = None,
) -> Asset:
    """Put ``/ui`` and ``/events`` under ``root``; return the page, for the
    root to answer ``/`` with when a browser asks."""
    if clock is None:
        from twisted.internet import reactor as clock
    root.putChild(b"ui", Assets())
    root.putChild(b"events", EventStream(status, clock, PUSH_INTERVAL_S))
    return Asset("node.html")
