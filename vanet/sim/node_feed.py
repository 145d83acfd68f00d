"""The netns simulator's view of its nodes' status: each node's ``/events``
stream (``vanet.web.stream``), read as the node pushes it.

A node pushes its ``/status`` once a second and at once (at most one per
50 ms) when its upstream or gateway changes. Reading that one held-open
stream costs the simulator a ``json.loads`` of about 2 kB a push; polling
``/status`` over HTTP cost it about 0.9 ms a request (Twisted's HTTP
client) and the node 0.45 ms, four times a second per node, in the process
that relays every frame: the seed recipe's ping tail (benchmarks/README.md,
"The recipe's ping tail").

A stream that cannot be opened (the node is not up yet, or restarting) or
that ends is opened again ``RETRY_S`` later while the feed runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.web.client import readBody
from twisted.web.iweb import IAgent

log = Logger()

#: seconds before a stream that failed or ended is opened again
RETRY_S = 0.25
#: a message longer than this (no blank line within it) ends the stream
MAX_MESSAGE = 1 << 20


class _EventReader(protocol.Protocol):
    """Splits a ``text/event-stream`` body into messages and hands each
    ``snapshot``'s data, decoded, to ``seen``."""

    def __init__(self, seen: Callable[[dict], None], ended: Callable[[], None]):
        self._seen = seen
        self._ended = ended
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        buffer = self._buffer + data
        *messages, self._buffer = buffer.split(b"\n\n")
        for message in messages:
            self._message(message)
        if len(self._buffer) > MAX_MESSAGE:
            log.warn("a node's event stream sent an overlong message; reopening")
            self._buffer = b""
            self.transport.stopProducing()

    def _message(self, message: bytes) -> None:
        event, data = b"message", None
        for line in message.split(b"\n"):
            if line.startswith(b"event:"):
                event = line[6:].strip()
            elif line.startswith(b"data:"):
                data = line[5:].strip()
        if event != b"snapshot" or data is None:
            return  # retry: hints, comments
        try:
            status = json.loads(data)
        except ValueError:
            log.warn("a node's event stream sent undecodable data; ignored")
            return
        if isinstance(status, dict):
            self._seen(status)

    def connectionLost(self, reason=None) -> None:
        self._ended()


def route_changes(old: dict | None, new: dict) -> list[tuple[str, dict]]:
    """The route events (``vanet.web.stream.UPSTREAM_EVENTS``' names) that
    take a vehicle from status ``old`` to ``new``: its upstream or gateway
    selected, switched or lost, with ``from`` and ``to``."""
    events = []
    for what in ("upstream", "gateway"):
        before = (old or {}).get(what)
        after = new.get(what)
        if before == after:
            continue
        if before is None:
            change = "selected"
        elif after is None:
            change = "lost"
        else:
            change = "switched"
        events.append((f"{what}_{change}", {"from": before, "to": after}))
    return events


class NodeStatusFeed:
    """Keeps ``statuses[name]`` as each node last pushed it, and tells
    ``on_change(name, event, fields)`` of each upstream or gateway change
    between two pushes (``route_changes``)."""

    def __init__(
        self,
        agent: IAgent,
        clock: IReactorTime,
        on_change: Callable[[str, str, dict], None] | None = None,
    ) -> None:
        self._agent = agent
        self._clock = clock
        self._on_change = on_change
        self.statuses: dict[str, dict] = {}
        self.running = False
        self._retries: dict[str, IDelayedCall] = {}
        self._pending: dict[str, Deferred] = {}  # requests not answered yet
        self._readers: dict[str, _EventReader] = {}

    def start(self, names: Iterable[str]) -> None:
        self.running = True
        for name in names:
            self._open(name)

    def stop(self) -> None:
        """Close every stream and stop reopening them."""
        self.running = False
        for call in self._retries.values():
            if call.active():
                call.cancel()
        self._retries.clear()
        for request in list(self._pending.values()):
            request.cancel()  # its errback finds the feed stopped
        for reader in list(self._readers.values()):
            if reader.transport is not None:
                reader.transport.stopProducing()
        self._readers.clear()

    def _open(self, name: str) -> None:
        self._retries.pop(name, None)
        if not self.running:
            return
        d = self._pending[name] = self._agent.request(
            b"GET", f"http://{name}/events".encode()
        )
        d.addCallbacks(
            self._opened, self._failed, callbackArgs=(name,), errbackArgs=(name,)
        )

    def _failed(self, _failure, name: str) -> None:
        del self._pending[name]
        self._retry(name)  # not up yet, or restarting

    def _opened(self, response, name: str) -> None:
        del self._pending[name]
        if response.code != 200:
            # e.g. 503, too many pages open: read it out, try again later
            readBody(response).addBoth(lambda _: self._retry(name))
            return

        def seen(status: dict) -> None:
            old = self.statuses.get(name)
            self.statuses[name] = status
            if self._on_change is not None:  # an RSU's has neither field
                for event, fields in route_changes(old, status):
                    self._on_change(name, event, fields)

        def ended() -> None:
            if self._readers.get(name) is reader:
                del self._readers[name]
            self._retry(name)

        reader = _EventReader(seen, ended)
        self._readers[name] = reader
        response.deliverBody(reader)

    def _retry(self, name: str) -> None:
        if self.running and name not in self._retries:
            self._retries[name] = self._clock.callLater(RETRY_S, self._open, name)
