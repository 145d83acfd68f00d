"""The simulator's radio channel: per directed link latency, jitter and loss.

``ChannelMedium`` implements ``IMedium``. A frame a port transmits is offered
to every directed link leaving that port's node; on each link it is
(PROTOCOL.md section 2, issue 5):

1. filtered unless its ``dst`` is broadcast/multicast or the receiver's MAC;
2. lost with probability ``loss`` (one draw from the seeded RNG);
3. delayed by ``latency_ms`` plus a uniform jitter in ``±jitter_ms``, clamped
   at 0, and never earlier than the previous frame on the same link (FIFO).

Deliveries sit in one heap for the whole medium, ordered by (due time,
insertion counter), and a single reactor timer is armed for the earliest.
That keeps per-frame cost at one tuple and one heap push, whatever the
reactor's own timer structure costs (``task.Clock`` re-sorts its whole list
on every ``callLater``).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from typing import Any

import attrs
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from vanet.interfaces import IMedium
from vanet.mac import format_mac

log = Logger()

# A timer may fire a hair before the float it was asked for (reset() and
# real clocks): treat anything due within this many seconds as due now.
_EPSILON_S = 1e-9


def _non_negative_number(name: str):
    def convert(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"{name} must be a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if not math.isfinite(number) or number < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        return number

    return convert


def _check_loss(instance: Any, attribute: Any, value: float) -> None:
    if value > 1:
        raise ValueError(f"loss must be between 0 and 1, got {value!r}")


@attrs.frozen(slots=True)
class ChannelParams:
    """Quality of one directed link. Numbers may be given as numeric strings
    (the older simulator's API sent them that way); all are checked here."""

    latency_ms: float = attrs.field(
        default=0.0, converter=_non_negative_number("latency_ms")
    )
    jitter_ms: float = attrs.field(
        default=0.0, converter=_non_negative_number("jitter_ms")
    )
    loss: float = attrs.field(
        default=0.0, converter=_non_negative_number("loss"), validator=_check_loss
    )

    def evolve(self, **changes: Any) -> ChannelParams:
        """A copy with some fields changed; unknown names raise ``ValueError``."""
        unknown = set(changes) - {"latency_ms", "jitter_ms", "loss"}
        if unknown:
            raise ValueError(
                f"unknown channel parameter(s) {', '.join(sorted(unknown))}; "
                "allowed: latency_ms, jitter_ms, loss"
            )
        return attrs.evolve(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return {
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "loss": self.loss,
        }


LINK_COUNTERS = (
    "frames_sent",
    "bytes_sent",
    "frames_delivered",
    "bytes_delivered",
    "frames_lost",
    "frames_filtered",
    "frames_dropped",  # receiver detached while the frame was in flight
)

NODE_COUNTERS = (
    "frames_out",
    "bytes_out",
    "frames_in",
    "bytes_in",
    "frames_lost",  # inbound frames the channel lost
    "frames_filtered",  # inbound frames addressed to someone else
    "frames_dropped",
)


class _Link:
    """One directed link's parameters (in seconds, for the hot path), its
    receiver (when attached) and its counters."""

    __slots__ = (
        "src",
        "dst",
        "params",
        "latency_s",
        "jitter_s",
        "loss",
        "receiver",
        "last_due",
        "in_flight",
        *LINK_COUNTERS,
    )

    def __init__(self, src: str, dst: str, params: ChannelParams) -> None:
        self.src = src
        self.dst = dst
        self.receiver: Any = None
        self.last_due = float("-inf")
        self.in_flight = 0
        for name in LINK_COUNTERS:
            setattr(self, name, 0)
        self.set_params(params)

    def set_params(self, params: ChannelParams) -> None:
        self.params = params
        self.latency_s = params.latency_ms / 1000.0
        self.jitter_s = params.jitter_ms / 1000.0
        self.loss = params.loss


class _NodeCounters:
    __slots__ = NODE_COUNTERS

    def __init__(self) -> None:
        for name in NODE_COUNTERS:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in NODE_COUNTERS}


@implementer(IMedium)
class ChannelMedium:
    """Connects ports by configured directed links; see the module docstring.

    Ports are objects with ``.name`` (the node name links refer to),
    ``.mac`` (6 bytes) and ``.receive(frame)``. A pair of nodes without a
    configured link cannot hear each other. Links may be configured before
    or after their ports attach.
    """

    def __init__(
        self,
        clock: IReactorTime,
        seed: int | None = None,
        links: dict[tuple[str, str], ChannelParams] | None = None,
    ) -> None:
        self._clock = clock
        self.seed = seed
        self._rng = random.Random(seed)
        self._ports: dict[str, Any] = {}
        self._links: dict[tuple[str, str], _Link] = {}
        # node name -> links leaving it, in configuration order (the order
        # of RNG draws, so a seed reproduces a run)
        self._outgoing: dict[str, list[_Link]] = {}
        self._nodes: dict[str, _NodeCounters] = {}
        self._heap: list[tuple[float, int, _Link, bytes]] = []
        self._counter = itertools.count()
        self._timer: IDelayedCall | None = None
        self._delivering = False
        for (a, b), params in (links or {}).items():
            self.set_link(a, b, params)

    # -- configuration -----------------------------------------------------

    def set_link(self, a: str, b: str, params: ChannelParams) -> None:
        """Configure (or replace) the directed link a -> b."""
        if a == b:
            raise ValueError(f"a link needs two different nodes, got {a!r} twice")
        link = self._links.get((a, b))
        if link is None:
            link = _Link(a, b, params)
            link.receiver = self._ports.get(b)
            self._links[(a, b)] = link
            self._outgoing.setdefault(a, []).append(link)
        else:
            link.set_params(params)

    def set_params(self, a: str, b: str, **changes: Any) -> ChannelParams:
        """Change some parameters of a -> b at run time and return the new
        set. An unconfigured link starts from zero latency, jitter and loss.
        Frames already in flight keep the delay they were given."""
        link = self._links.get((a, b))
        base = link.params if link is not None else ChannelParams()
        params = base.evolve(**changes)
        self.set_link(a, b, params)
        return params

    def remove_link(self, a: str, b: str) -> None:
        """Cut a -> b; frames in flight on it are still delivered."""
        link = self._links.pop((a, b), None)
        if link is not None:
            self._outgoing[a].remove(link)

    def params(self, a: str, b: str) -> ChannelParams | None:
        link = self._links.get((a, b))
        return link.params if link is not None else None

    # -- IMedium -----------------------------------------------------------

    def attach(self, port: Any) -> None:
        name = port.name
        if name in self._ports and self._ports[name] is not port:
            raise ValueError(f"a port named {name!r} is already attached")
        self._ports[name] = port
        self._nodes.setdefault(name, _NodeCounters())
        for link in self._links.values():
            if link.dst == name:
                link.receiver = port

    def detach(self, port: Any) -> None:
        name = port.name
        if self._ports.get(name) is not port:
            return
        del self._ports[name]
        for link in self._links.values():
            if link.dst == name:
                link.receiver = None

    def transmit(self, sender: Any, frame: bytes) -> None:
        if type(frame) is not bytes:
            # the sender may reuse its buffer before we deliver
            frame = bytes(frame)
        size = len(frame)
        nodes = self._nodes
        counters = nodes.get(sender.name)
        if counters is None:
            counters = nodes[sender.name] = _NodeCounters()
        counters.frames_out += 1
        counters.bytes_out += size
        links = self._outgoing.get(sender.name)
        if not links or size < 6:
            return
        dst_mac = frame[:6]
        group = frame[0] & 1
        rng = self._rng
        now = self._clock.seconds()
        heap = self._heap
        earliest = heap[0][0] if heap else None
        for link in links:
            receiver = link.receiver
            if receiver is None:
                continue  # nobody there to hear it
            link.frames_sent += 1
            link.bytes_sent += size
            if not group and receiver.mac != dst_mac:
                link.frames_filtered += 1
                nodes[link.dst].frames_filtered += 1
                continue
            loss = link.loss
            if loss and rng.random() < loss:
                link.frames_lost += 1
                nodes[link.dst].frames_lost += 1
                continue
            due = now + link.latency_s
            jitter = link.jitter_s
            if jitter:
                due += rng.uniform(-jitter, jitter)
                if due < now:
                    due = now
            if due < link.last_due:
                due = link.last_due  # FIFO: never overtake the previous frame
            link.last_due = due
            link.in_flight += 1
            heapq.heappush(heap, (due, next(self._counter), link, frame))
        if not self._delivering and heap and heap[0][0] != earliest:
            self._arm(now)

    # -- delivery ----------------------------------------------------------

    def _arm(self, now: float) -> None:
        delay = max(0.0, self._heap[0][0] - now)
        timer = self._timer
        if timer is not None and timer.active():
            timer.reset(delay)
        else:
            self._timer = self._clock.callLater(delay, self._deliver_due)

    def _deliver_due(self) -> None:
        self._timer = None
        heap = self._heap
        nodes = self._nodes
        pop = heapq.heappop
        self._delivering = True
        try:
            # Frames sent with zero delay by a receiver are due now too and
            # go out in this same loop, in order.
            while heap:
                now = self._clock.seconds()
                if heap[0][0] > now + _EPSILON_S:
                    break
                _, _, link, frame = pop(heap)
                link.in_flight -= 1
                receiver = self._ports.get(link.dst)
                if receiver is None:
                    link.frames_dropped += 1
                    nodes[link.dst].frames_dropped += 1
                    continue
                size = len(frame)
                link.frames_delivered += 1
                link.bytes_delivered += size
                counters = nodes[link.dst]
                counters.frames_in += 1
                counters.bytes_in += size
                try:
                    receiver.receive(frame)
                except Exception:
                    log.failure("port {port} failed to receive a frame", port=link.dst)
        finally:
            self._delivering = False
            if heap:
                self._arm(self._clock.seconds())

    # -- introspection -----------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Frames scheduled and not yet delivered."""
        return len(self._heap)

    def ports(self) -> dict[str, Any]:
        return dict(self._ports)

    def links(self) -> Iterator[tuple[str, str, ChannelParams]]:
        for (a, b), link in self._links.items():
            yield a, b, link.params

    def link_stats(self, a: str, b: str) -> dict[str, int]:
        """Counters of a -> b; ``KeyError`` if it is not configured."""
        link = self._links[(a, b)]
        stats = {name: getattr(link, name) for name in LINK_COUNTERS}
        stats["frames_in_flight"] = link.in_flight
        return stats

    def node_stats(self, name: str) -> dict[str, int]:
        """Counters of one node as seen by the channel (zeros if unknown)."""
        counters = self._nodes.get(name)
        return counters.as_dict() if counters else _NodeCounters().as_dict()

    def channel_table(self) -> list[dict[str, Any]]:
        """Every configured link with its parameters and counters, as the
        HTTP API's ``GET /channels`` shows it."""
        table = []
        for (a, b), link in self._links.items():
            entry: dict[str, Any] = {"from": a, "to": b, **link.params.as_dict()}
            receiver = link.receiver
            entry["to_mac"] = format_mac(receiver.mac) if receiver else None
            entry.update(self.link_stats(a, b))
            table.append(entry)
        return table
