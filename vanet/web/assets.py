"""The web view's files, shipped in the package (``vanet/web/static``).

Only the files named in ``FILES`` are served, read once from the package:
no directory listing, no path from the request ever reaches the file
system. Every answer says what it is and forbids what the pages do not
need (scripts, styles and connections from elsewhere, framing).
"""

from __future__ import annotations

from importlib import resources

from twisted.web import pages, resource
from twisted.web.iweb import IRequest

#: file name -> content type; nothing else is served
FILES = {
    "sim.html": b"text/html; charset=utf-8",
    "node.html": b"text/html; charset=utf-8",
    "view.css": b"text/css; charset=utf-8",
    "graph.css": b"text/css; charset=utf-8",
    "util.js": b"text/javascript; charset=utf-8",
    "panel.js": b"text/javascript; charset=utf-8",
    "sim.js": b"text/javascript; charset=utf-8",
    "node.js": b"text/javascript; charset=utf-8",
}

#: what the pages may load: their own files and answers, nothing else
CONTENT_SECURITY_POLICY = (
    b"default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    b"base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)


# Read once, at import: a node imports this before it drops root
# (``--uid``), and the files may not be readable by the user it becomes.
_BODIES = {
    name: (resources.files("vanet.web") / "static" / name).read_bytes()
    for name in FILES
}


def read_asset(name: str) -> bytes:
    """One shipped file's bytes (``KeyError`` for a name not in ``FILES``)."""
    return _BODIES[name]


def secure_headers(request: IRequest, content_type: bytes) -> None:
    request.setHeader(b"content-type", content_type)
    request.setHeader(b"content-security-policy", CONTENT_SECURITY_POLICY)
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"referrer-policy", b"no-referrer")


def wants_html(request: IRequest) -> bool:
    """A browser asks for a page; ``curl`` and scripts (``*/*``) get JSON."""
    accept = request.getHeader(b"accept") or b""
    return b"text/html" in accept


class Asset(resource.Resource):
    """One shipped file."""

    isLeaf = True

    def __init__(self, name: str) -> None:
        super().__init__()
        self.content_type = FILES[name]
        self.body = read_asset(name)

    def render_GET(self, request: IRequest) -> bytes:
        secure_headers(request, self.content_type)
        request.setHeader(b"cache-control", b"no-cache")
        return self.body

    def render_HEAD(self, request: IRequest) -> bytes:
        return self.render_GET(request)


class Assets(resource.Resource):
    """``/ui/NAME`` for each name in ``FILES``; 404 for anything else."""

    def __init__(self) -> None:
        super().__init__()
        self._files = {name.encode(): Asset(name) for name in FILES}

    def getChild(self, path: bytes, request: IRequest) -> resource.IResource:
        asset = self._files.get(path)
        if asset is None or request.postpath:
            return pages.notFound("No such file", "The web view has no such file.")
        return asset
