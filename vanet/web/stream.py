"""Server-Sent Events from Twisted: one snapshot pushed to every open page.

A page opens ``EventSource("events")`` and gets the current snapshot at
once, then a new one every ``interval_s`` while anybody listens, and one
as soon as possible after ``push_soon()`` (a route changed: the page shows
it at once, not at the next periodic push), at most one per
``min_gap_s``, so a storm of changes cannot flood the pages. The snapshot
is built and encoded once per push, however many pages are open, and
nothing runs while none is. The number of listeners is bounded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web import resource, server
from twisted.web.iweb import IRequest

log = Logger()

#: open event streams at most (each is a TCP connection held open)
MAX_LISTENERS = 16
#: how long a browser waits before reconnecting after the stream ends (ms)
RETRY_MS = 2000
#: at least this long between two pushes asked for by ``push_soon`` (s)
MIN_GAP_S = 0.05
#: route events that change what the pages draw (a vehicle's upstream
#: arrow, its gateway): a snapshot goes out at once after one
UPSTREAM_EVENTS = frozenset(
    {
        "upstream_selected",
        "upstream_switched",
        "upstream_lost",
        "gateway_selected",
        "gateway_switched",
        "gateway_lost",
    }
)


def sse_message(event: str, data: Any) -> bytes:
    """One SSE message; ``json.dumps`` escapes newlines, so the data is one
    ``data:`` line."""
    return f"event: {event}\ndata: {json.dumps(data, sort_keys=True)}\n\n".encode()


class EventStream(resource.Resource):
    """``GET``: ``text/event-stream`` of ``snapshot()`` as ``event:
    snapshot`` messages, every ``interval_s`` seconds of ``clock``."""

    isLeaf = True

    def __init__(
        self,
        snapshot: Callable[[], Any],
        clock: IReactorTime,
        interval_s: float = 0.5,
        max_listeners: int = MAX_LISTENERS,
        min_gap_s: float = MIN_GAP_S,
    ) -> None:
        super().__init__()
        self._snapshot = snapshot
        self._clock = clock
        self.interval_s = interval_s
        self.max_listeners = max_listeners
        self.min_gap_s = min_gap_s
        self.listeners: list[IRequest] = []
        self._loop: LoopingCall | None = None
        self._soon = None  # the push push_soon() scheduled, if pending
        self._pushed_at = float("-inf")  # when the last push went out
        self.pushes = 0  # snapshots pushed (to all pages at once)

    def render_GET(self, request: IRequest) -> bytes | int:
        if len(self.listeners) >= self.max_listeners:
            request.setResponseCode(503)
            request.setHeader(b"content-type", b"application/json")
            request.setHeader(b"retry-after", b"10")
            return (
                json.dumps(
                    {"error": f"too many open pages (at most {self.max_listeners})"}
                ).encode()
                + b"\n"
            )
        message = self._message()
        if message is None:
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"application/json")
            return b'{"error": "internal error; see the log"}\n'
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        request.write(f"retry: {RETRY_MS}\n\n".encode() + message)
        self.listeners.append(request)
        request.notifyFinish().addBoth(self._gone, request)
        if self._loop is None:
            self._loop = LoopingCall(self._push)
            self._loop.clock = self._clock
            self._loop.start(self.interval_s, now=False)
        return server.NOT_DONE_YET

    def _message(self) -> bytes | None:
        try:
            return sse_message("snapshot", self._snapshot())
        except Exception:
            log.failure("building the web view's snapshot failed")
            return None

    def push_soon(self) -> None:
        """Push a snapshot as soon as the gap since the last allows (never
        from inside the caller: a route event comes mid-way through a
        node's work, the snapshot reads every node)."""
        if not self.listeners or self._soon is not None:
            return  # nobody to tell, or a push is on its way
        wait = self._pushed_at + self.min_gap_s - self._clock.seconds()
        self._soon = self._clock.callLater(max(0.0, wait), self._push_now)

    def _push_now(self) -> None:
        self._soon = None
        self._push()

    def _push(self) -> None:
        self._pushed_at = self._clock.seconds()
        message = self._message()
        if message is None:
            return
        self.pushes += 1
        for request in list(self.listeners):
            request.write(message)

    def _gone(self, _result: object, request: IRequest) -> None:
        if request in self.listeners:
            self.listeners.remove(request)
        if not self.listeners and self._loop is not None:
            if self._loop.running:
                self._loop.stop()
            self._loop = None
        if not self.listeners and self._soon is not None:
            if self._soon.active():
                self._soon.cancel()
            self._soon = None

    def close(self) -> None:
        """End every stream (the pages see the server go)."""
        for request in list(self.listeners):
            request.finish()
