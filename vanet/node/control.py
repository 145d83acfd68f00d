"""The control endpoint: ``GET /status`` (JSON) and ``GET /metrics``
(Prometheus text) over HTTP, on a Twisted endpoint string."""

from __future__ import annotations

import json
from collections.abc import Callable

from twisted.web import pages, resource, server

from vanet.node.metrics import CONTENT_TYPE, render_node

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
    def getChild(self, path, request):
        if path == b"":
            return _Leaf(lambda: _json({"endpoints": ["/status", "/metrics"]}))
        return pages.notFound(
            "No such resource", "Unknown path; try /status or /metrics."
        )


def control_site(status: Callable[[], dict]) -> server.Site:
    """A web site answering ``/status`` and ``/metrics`` from ``status()``."""
    root = _Root()
    root.putChild(b"status", _Leaf(lambda: _json(status())))
    root.putChild(
        b"metrics",
        _Leaf(lambda: (CONTENT_TYPE.encode(), render_node(status()).encode())),
    )
    site = server.Site(root)
    site.displayTracebacks = False
    return site
