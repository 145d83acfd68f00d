"""The control endpoint: ``GET /status`` (JSON) and ``GET /metrics``
(Prometheus text) over HTTP, on a Twisted endpoint string; a browser asking
for ``/`` gets the node's live page (``vanet.web.node``)."""

from __future__ import annotations

import json
from collections.abc import Callable, MutableSequence

from twisted.web import pages, resource, server

from vanet.node.metrics import CONTENT_TYPE, render_node
from vanet.web.assets import wants_html
from vanet.web.node import add_node_page

DEFAULT_PORT = 7070
# Loopback only: the status API has no authentication.
DEFAULT_LISTEN = f"tcp:{DEFAULT_PORT}:interface=127.0.0.1"


class _Leaf(resource.Resource):
    isLeaf = True

    def __init__(self, render: Callable[[], tuple[bytes, bytes]]) -> None:
        super().__init__()
        self._render = render

    def render_GET(self, request) -> bytes:
        content_type, body = self._render()
        request.setHeader(b"content-type", content_type)
        return body

    def render_HEAD(self, request) -> bytes:
        return self.render_GET(request)


def _json(value) -> tuple[bytes, bytes]:
    return b"application/json", json.dumps(
        value, indent=1, sort_keys=True
    ).encode() + b"\n"


class _Root(resource.Resource):
    def __init__(self, status: Callable[[], dict], clock, route_listeners) -> None:
        super().__init__()
        self.page = add_node_page(self, status, clock, route_listeners)

    def getChild(self, path, request):
        if path == b"":
            if wants_html(request):
                return self.page
            return _Leaf(lambda: _json({"endpoints": ["/status", "/metrics"]}))
        return pages.notFound(
            "No such resource", "Unknown path; try /status or /metrics."
        )


def control_site(
    status: Callable[[], dict],
    clock=None,
    route_listeners: MutableSequence[Callable[[str, dict], None]] | None = None,
) -> server.Site:
    """A web site answering ``/status`` and ``/metrics`` from ``status()``,
    and the node's page (pushed every second of ``clock``, the reactor by
    default, and at once on an upstream change when given the engine's
    ``route_listeners``)."""
    root = _Root(status, clock, route_listeners)
    root.putChild(b"status", _Leaf(lambda: _json(status())))
    root.putChild(
        b"metrics",
        _Leaf(lambda: (CONTENT_TYPE.encode(), render_node(status()).encode())),
    )
    site = server.Site(root)
    site.displayTracebacks = False
    return site
