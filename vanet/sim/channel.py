"""The simulator's radio channel: per directed link latency, jitter and loss.

``ChannelMedium`` implements ``IMedium``. A frame a port transmits is offered
to every directed link leaving that port's node; on each link it is
(docs/protocol.md §2, issue 5):

1. filtered unless its ``dst`` is broadcast/multicast or the receiver's MAC;
2. lost with probability ``loss`` (one draw from the seeded RNG);
3. delayed by ``latency_ms`` plus a uniform jitter in ``±jitter_ms``, clamped
   at 0, and never earlier than the previous frame on the same link (FIFO).

Deliveries are taken in (due time, insertion counter) order, and a single
reactor timer is armed for the earliest. That keeps per-frame cost at one
tuple and one heap push, whatever the reactor's own timer structure costs
(``task.Clock`` re-sorts its whole list on every ``callLater``). The heap
holds only the frames due in the current 0.1 ms slot (or before): later
ones wait unsorted in a list per slot, heapified when their slot comes. A
pop from one heap of every frame in flight (thousands in a large
simulation) was a twentieth of its run.

A unicast frame goes straight to the links whose receiver has its ``dst``
(a per-sender index by MAC) instead of visiting every link leaving the
sender. Frames are not counted link by link as offered: each sender counts
what it sent, each link remembers that count when its receiver attached,
and a link's ``frames_sent``/``bytes_sent`` and ``frames_filtered`` are
derived when asked for.

``ChannelPort`` is the fused link the in-process simulator uses
(``ChannelMedium.open_port``, ``IDirectMedium``): its ``write`` runs the
channel model for the frame at once (no lookup of the sender by name),
and a frame due at it goes straight to its protocol's frame handler
(``IFrameSink``), counted on the port as ``MemoryPort.receive`` counts,
instead of through ``receive`` and ``datagramReceived``. The channel
model, its random draws and their order are the same for every port.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from heapq import heapify as _heapify
from heapq import heappop as _heappop
from heapq import heappush as _heappush
from typing import Any

import attrs
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer, implementer_only

from vanet.interfaces import IDirectMedium, IFrameSink, ILinkPort, IMedium
from vanet.mac import format_mac
from vanet.transport.counters import LinkCounters
from vanet.transport.memory import MemoryPort

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
    receiver (when attached) and its counters.

    Every frame its sender transmits while a receiver is attached is
    offered to the link (``frames_sent``/``bytes_sent``); those are derived
    from the sender's totals (``offered``) rather than counted per link.
    Only the frames the link did not filter are counted (``considered``);
    ``frames_filtered`` is the difference."""

    __slots__ = (
        "src",
        "dst",
        "params",
        "latency_s",
        "jitter_s",
        # random.uniform(-jitter_s, jitter_s) is low + span * random():
        # kept so the hot path draws the same numbers without the call.
        "jitter_low",
        "jitter_span",
        "loss",
        "fading",
        "receiver",
        "last_due",
        "in_flight",
        "sender",
        "dst_counters",
        "considered",
        # The sender's totals (frames, bytes) when the receiver attached,
        # and what earlier attached spells were offered.
        "offered_base",
        "offered_before",
        # RelayChannel: this link's own FIFO of (due, frame) and its timer
        "queue",
        "timer",
        # RelayChannel.relay_path: no latency, jitter, loss or fading (a
        # frame is due the moment it is sent), and the receiver's
        # (tx_slot, commit) when it lends its transmit slot
        "ideal",
        "lend",
        *LINK_COUNTERS,
    )

    def __init__(
        self,
        src: str,
        dst: str,
        params: ChannelParams,
        sender: _Sender,
        dst_counters: _NodeCounters,
    ) -> None:
        self.src = src
        self.dst = dst
        self.sender = sender
        self.dst_counters = dst_counters
        self.receiver: Any = None
        # Per-frame fading (vanet.sim.radio.NakagamiFading): replaces the
        # fixed ``loss`` draw when set.
        self.fading: Any = None
        self.last_due = float("-inf")
        self.in_flight = 0
        self.considered = 0
        self.offered_base = (0, 0)
        self.offered_before = (0, 0)
        self.queue: deque[tuple[float, bytes]] = deque()
        self.timer: IDelayedCall | None = None
        self.lend: tuple[Any, Any] | None = None
        for name in LINK_COUNTERS:
            setattr(self, name, 0)
        self.set_params(params)

    def set_params(self, params: ChannelParams) -> None:
        self.params = params
        self.latency_s = params.latency_ms / 1000.0
        self.jitter_s = jitter = params.jitter_ms / 1000.0
        # Exactly what random.uniform(-jitter, jitter) computes around its
        # draw, so a seed gives the same delays on every path.
        self.jitter_low = -jitter
        self.jitter_span = jitter - -jitter
        self.loss = params.loss
        self._set_ideal()

    def set_fading(self, fading: Any) -> None:
        self.fading = fading
        self._set_ideal()

    def _set_ideal(self) -> None:
        # draw() then takes no random number and returns max(now, last_due)
        self.ideal = not (
            self.latency_s or self.jitter_s or self.loss or self.fading is not None
        )

    def draw(self, now: float, rng: random.Random) -> float | None:
        """A frame offered to (and not filtered by) this link: ``None`` if
        it is lost (counted), else when it is due, FIFO behind the last."""
        self.considered += 1
        fading = self.fading
        if fading is not None:
            lost = fading.lost(now, rng)  # per-frame fading replaces loss
        else:
            loss = self.loss
            lost = loss and rng.random() < loss
        if lost:
            self.frames_lost += 1
            self.dst_counters.frames_lost += 1
            return None
        due = now + self.latency_s
        if self.jitter_s:
            due += self.jitter_low + self.jitter_span * rng.random()
            if due < now:
                due = now
        if due < self.last_due:
            due = self.last_due  # FIFO: never overtake the previous frame
        self.last_due = due
        return due

    def set_receiver(self, receiver: Any) -> None:
        """Attach (a port) or detach (``None``) the receiving end."""
        if self.receiver is not None:
            self.offered_before = self.offered()
        self.receiver = receiver
        self.lend = None
        if receiver is not None:
            sender = self.sender
            self.offered_base = (sender.frames_sent, sender.bytes_sent)
            tx_slot = getattr(receiver, "tx_slot", None)
            if tx_slot is not None:
                self.lend = (tx_slot, receiver.commit)

    def offered(self) -> tuple[int, int]:
        """Frames (and bytes) its sender sent while a receiver was attached."""
        frames, size = self.offered_before
        if self.receiver is not None:
            sender = self.sender
            frames += sender.frames_sent - self.offered_base[0]
            size += sender.bytes_sent - self.offered_base[1]
        return frames, size

    def filtered(self) -> int:
        """Frames offered but addressed to another receiver."""
        return self.offered()[0] - self.considered

    def stats(self) -> dict[str, int]:
        stats = {name: getattr(self, name) for name in LINK_COUNTERS}
        stats["frames_sent"], stats["bytes_sent"] = self.offered()
        stats["frames_filtered"] = self.filtered()
        stats["frames_in_flight"] = self.in_flight
        return stats


class _NodeCounters:
    __slots__ = NODE_COUNTERS

    def __init__(self) -> None:
        for name in NODE_COUNTERS:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in NODE_COUNTERS}


class _Sender:
    """What ``transmit`` needs of one sending node, found with one lookup."""

    __slots__ = ("counters", "links", "by_mac", "frames_sent", "bytes_sent")

    def __init__(self, counters: _NodeCounters) -> None:
        self.counters = counters
        # Links leaving the node, in configuration order (the order of RNG
        # draws, so a seed reproduces a run).
        self.links: list[_Link] = []
        # Receiver MAC -> the links (in that order) whose receiver has it.
        self.by_mac: dict[bytes, list[_Link]] = {}
        # Frames long enough to be addressed (offered to every link).
        self.frames_sent = 0
        self.bytes_sent = 0

    def index(self) -> None:
        by_mac: dict[bytes, list[_Link]] = {}
        for link in self.links:
            if link.receiver is not None:
                by_mac.setdefault(bytes(link.receiver.mac), []).append(link)
        self.by_mac = by_mac


def _deliver(receiver: Any, link: _Link, frame) -> None:
    """Hand a due frame to the link's receiver, counted (``None``: it
    detached while the frame was in flight, a drop)."""
    if receiver is None:
        link.frames_dropped += 1
        link.dst_counters.frames_dropped += 1
        return
    size = len(frame)
    link.frames_delivered += 1
    link.bytes_delivered += size
    counters = link.dst_counters
    counters.frames_in += 1
    counters.bytes_in += size
    try:
        receiver.receive(frame)
    except Exception:
        log.failure("port {port} failed to receive a frame", port=link.dst)


@implementer(IDirectMedium)
class ChannelMedium:
    """Connects ports by configured directed links; see the module docstring.

    Ports are objects with ``.name`` (the node name links refer to),
    ``.mac`` (6 bytes) and ``.receive(frame)``, or the ``ChannelPort``s
    ``open_port`` makes. A pair of nodes without a configured link cannot
    hear each other. Links may be configured before or after their ports
    attach.
    """

    #: Frames in flight are kept by slot, int(due * slots_per_s): at 0.1 ms
    #: a slot holds a few dozen of them in a large simulation (links of a
    #: few ms). Any value gives the same deliveries in the same order.
    slots_per_s = 10_000.0

    def __init__(
        self,
        clock: IReactorTime,
        seed: int | None = None,
        links: dict[tuple[str, str], ChannelParams] | None = None,
    ) -> None:
        self._clock = clock
        self.seed = seed
        self._rng = random.Random(seed)
        self._random = self._rng.random
        self._seconds = clock.seconds
        self._ports: dict[str, Any] = {}
        # node name -> (ChannelPort: its frame handler and its counters, the
        # medium counting for it; else the port, whose receive() is looked
        # up per frame, and None)
        self._sinks: dict[str, tuple[Any, LinkCounters | None]] = {}
        self._links: dict[tuple[str, str], _Link] = {}
        self._nodes: dict[str, _NodeCounters] = {}
        self._senders: dict[str, _Sender] = {}
        # node name -> configured links toward it (to attach its port, and
        # to sum what they filtered)
        self._incoming: dict[str, list[_Link]] = {}
        # Frames in flight, (due, counter, link, frame): those in slots up
        # to _heap_slot in _heap, later ones in _later by slot, whose slot
        # numbers are in the heap _later_slots.
        self._heap: list[tuple[float, int, _Link, bytes]] = []
        self._heap_slot: float = float("-inf")
        self._later: dict[int, list[tuple[float, int, _Link, bytes]]] = {}
        self._later_slots: list[int] = []
        self._counter = itertools.count()
        self._timer: IDelayedCall | None = None
        self._delivering = False
        for (a, b), params in (links or {}).items():
            self.set_link(a, b, params)

    def _node(self, name: str) -> _NodeCounters:
        counters = self._nodes.get(name)
        if counters is None:
            counters = self._nodes[name] = _NodeCounters()
        return counters

    def _sender(self, name: str) -> _Sender:
        sender = self._senders.get(name)
        if sender is None:
            sender = self._senders[name] = _Sender(self._node(name))
        return sender

    # -- configuration -----------------------------------------------------

    def set_link(self, a: str, b: str, params: ChannelParams) -> None:
        """Configure (or replace) the directed link a -> b."""
        if a == b:
            raise ValueError(f"a link needs two different nodes, got {a!r} twice")
        link = self._links.get((a, b))
        if link is None:
            sender = self._sender(a)
            link = _Link(a, b, params, sender, self._node(b))
            self._links[(a, b)] = link
            sender.links.append(link)
            self._incoming.setdefault(b, []).append(link)
            receiver = self._ports.get(b)
            if receiver is not None:
                link.set_receiver(receiver)
                sender.index()
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
            # What it filtered stays counted for the receiving node.
            link.dst_counters.frames_filtered += link.filtered()
            sender = link.sender
            sender.links.remove(link)
            sender.index()
            self._incoming[b].remove(link)

    def set_fading(self, a: str, b: str, fading: Any) -> None:
        """Per-frame loss on the configured link a -> b: ``fading.lost(now,
        rng)`` decides each frame instead of the ``loss`` draw (``None``:
        back to ``loss``). ``KeyError`` if a -> b is not configured."""
        self._links[(a, b)].set_fading(fading)

    def params(self, a: str, b: str) -> ChannelParams | None:
        link = self._links.get((a, b))
        return link.params if link is not None else None

    # -- IMedium -----------------------------------------------------------

    def attach(self, port: Any) -> None:
        name = port.name
        if name in self._ports and self._ports[name] is not port:
            raise ValueError(f"a port named {name!r} is already attached")
        self._ports[name] = port
        if isinstance(port, ChannelPort) and port.medium is self:
            self._sinks[name] = (port.sink, port.counters)
        else:
            self._sinks[name] = (port, None)
        self._node(name)
        self._set_receiver(name, port)

    def detach(self, port: Any) -> None:
        name = port.name
        if self._ports.get(name) is not port:
            return
        del self._ports[name]
        del self._sinks[name]
        self._set_receiver(name, None)

    def open_port(self, name: str, mac: bytes) -> ChannelPort:
        """The fused link's port for node ``name`` (``IDirectMedium``)."""
        return ChannelPort(self, name, mac)

    def _set_receiver(self, name: str, port: Any) -> None:
        senders = set()
        for link in self._incoming.get(name, ()):
            if link.receiver is not port:
                link.set_receiver(port)
                senders.add(link.sender)
        for sender in senders:
            sender.index()

    def _offer(self, sender: Any, frame) -> list[_Link] | None:
        """Count a frame ``sender`` sent and return the links that hear it
        (``dst`` filter: a group address reaches every link, a unicast one
        the links whose receiver has it), or ``None``."""
        size = len(frame)
        state = self._senders.get(sender.name)
        if state is None:
            state = self._sender(sender.name)
        counters = state.counters
        counters.frames_out += 1
        counters.bytes_out += size
        if size < 6:
            return None
        # Offered to every link with a receiver (see _Link.offered).
        state.frames_sent += 1
        state.bytes_sent += size
        if frame[0] & 1:
            return state.links  # group address: every neighbour hears it
        return state.by_mac.get(bytes(frame[:6]))  # None: filtered by every link

    def transmit(self, sender: Any, frame: bytes) -> None:
        if type(frame) is not bytes:
            # the sender may reuse its buffer before we deliver
            frame = bytes(frame)
        state = self._senders.get(sender.name)
        if state is None:
            state = self._sender(sender.name)
        self._send(state, frame)

    def _send(self, state: _Sender, frame: bytes) -> None:
        """What ``transmit`` does once it has the sender's state: count,
        filter (``_offer``), draw (``_Link.draw``) and schedule, inlined
        because it runs once a frame and once a link (the simulator's
        ``ChannelPort`` calls it directly). The draws are ``draw``'s, in
        the same order."""
        size = len(frame)
        counters = state.counters
        counters.frames_out += 1
        counters.bytes_out += size
        if size < 6:
            return
        # Offered to every link with a receiver (see _Link.offered).
        state.frames_sent += 1
        state.bytes_sent += size
        # group address: every neighbour hears it; unicast: the links whose
        # receiver has it (None: filtered by every link)
        links = state.links if frame[0] & 1 else state.by_mac.get(frame[:6])
        if not links:
            return
        random = self._random
        now = self._seconds()
        delivering = self._delivering
        earliest = None if delivering else self._head()
        heap = self._heap
        heap_slot = self._heap_slot
        slots_per_s = self.slots_per_s
        later = self._later
        order = self._counter
        for link in links:
            if link.receiver is None:
                continue  # nobody there to hear it
            link.considered += 1
            fading = link.fading
            if fading is None:
                loss = link.loss
                lost = loss and random() < loss
            else:
                lost = fading.lost(now, self._rng)  # replaces the loss draw
            if lost:
                link.frames_lost += 1
                link.dst_counters.frames_lost += 1
                continue
            due = now + link.latency_s
            if link.jitter_s:
                due += link.jitter_low + link.jitter_span * random()
                if due < now:
                    due = now
            if due < link.last_due:
                due = link.last_due  # FIFO: never overtake the previous frame
            link.last_due = due
            link.in_flight += 1
            entry = (due, next(order), link, frame)
            slot = int(due * slots_per_s)
            if slot <= heap_slot:
                _heappush(heap, entry)
            else:
                waiting = later.get(slot)
                if waiting is None:
                    later[slot] = [entry]
                    _heappush(self._later_slots, slot)
                else:
                    waiting.append(entry)
        if not delivering and self._head() != earliest:
            self._arm(now)

    # -- delivery ----------------------------------------------------------

    def _head(self) -> float | None:
        """When the earliest frame in flight is due (``None``: none is); the
        next slot's frames move to the heap if it is empty."""
        heap = self._heap
        if not heap:
            if not self._later_slots:
                return None
            heap = self._next_slot()
        return heap[0][0]

    def _next_slot(self) -> list:
        """The heap is empty: make the earliest waiting slot's frames the
        heap. Every frame still waiting is in a later slot, so it is due
        after all of them (a slot number never decreases with time)."""
        slot = _heappop(self._later_slots)
        heap = self._heap = self._later.pop(slot)
        _heapify(heap)
        self._heap_slot = slot
        return heap

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
        sinks = self._sinks
        clock = self._clock
        self._delivering = True
        try:
            # Frames sent with zero delay by a receiver are due now too and
            # go out in this same loop, in order. The clock is read again
            # only when the next frame looks not yet due.
            due_by = clock.seconds() + _EPSILON_S
            # On a virtual clock, go on to the next frame while nothing else
            # is due before it, instead of scheduling a call per frame.
            run_ahead = getattr(clock, "run_ahead", None)
            later_slots = self._later_slots
            while True:
                if not heap:
                    if not later_slots:
                        break
                    heap = self._next_slot()
                if heap[0][0] > due_by:
                    due_by = clock.seconds() + _EPSILON_S
                    if heap[0][0] > due_by:
                        if run_ahead is None or not run_ahead(heap[0][0]):
                            break
                        due_by = clock.seconds() + _EPSILON_S
                _, _, link, frame = _heappop(heap)
                link.in_flight -= 1
                # _deliver and the port's receive, inlined (once a frame)
                sink = sinks.get(link.dst)
                if sink is None:  # detached while the frame was in flight
                    link.frames_dropped += 1
                    link.dst_counters.frames_dropped += 1
                    continue
                size = len(frame)
                link.frames_delivered += 1
                link.bytes_delivered += size
                counters = link.dst_counters
                counters.frames_in += 1
                counters.bytes_in += size
                target, port_counters = sink
                if port_counters is None:
                    try:
                        target.receive(frame)  # a port attached by attach()
                    except Exception:
                        log.failure(
                            "port {port} failed to receive a frame", port=link.dst
                        )
                    continue
                port_counters.received += 1
                port_counters.received_bytes += size
                try:
                    target(frame)  # a ChannelPort's protocol's handler
                except Exception:
                    # A receiver's bug must not unwind into the channel.
                    port_counters.handler_errors += 1
                    log.failure("{port}: frame handler raised", port=link.dst)
        finally:
            self._delivering = False
            if self._head() is not None:
                self._arm(clock.seconds())

    # -- introspection -----------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Frames scheduled and not yet delivered."""
        return len(self._heap) + sum(map(len, self._later.values()))

    def ports(self) -> dict[str, Any]:
        return dict(self._ports)

    def links(self) -> Iterator[tuple[str, str, ChannelParams]]:
        for (a, b), link in self._links.items():
            yield a, b, link.params

    def link_stats(self, a: str, b: str) -> dict[str, int]:
        """Counters of a -> b; ``KeyError`` if it is not configured."""
        return self._links[(a, b)].stats()

    def node_stats(self, name: str) -> dict[str, int]:
        """Counters of one node as seen by the channel (zeros if unknown)."""
        counters = self._nodes.get(name)
        stats = counters.as_dict() if counters else _NodeCounters().as_dict()
        # frames_filtered holds removed links'; add the configured ones'.
        stats["frames_filtered"] += sum(
            link.filtered() for link in self._incoming.get(name, ())
        )
        return stats

    def channel_table(self) -> list[dict[str, Any]]:
        """Every configured link with its parameters and counters, as the
        HTTP API's ``GET /channels`` shows it."""
        table = []
        for (a, b), link in self._links.items():
            entry: dict[str, Any] = {"from": a, "to": b, **link.params.as_dict()}
            receiver = link.receiver
            entry["to_mac"] = format_mac(receiver.mac) if receiver else None
            entry.update(link.stats())
            table.append(entry)
        return table


@implementer(ILinkPort)
class ChannelPort(MemoryPort):
    """The fused link: an ``ILinkPort`` that is one end of a
    ``ChannelMedium`` (``ChannelMedium.open_port``).

    A ``MemoryPort`` on the same medium, counters included, with two
    layers fewer each way: ``write`` runs the channel model with the
    sender's state found once, when the port was made; a due frame goes
    to its protocol's ``IFrameSink.frame_sink()`` handler (a protocol
    without one gets ``datagramReceived(frame, None)``). It is attached
    while it listens, so every frame delivered to it is ``received``.
    """

    _what = "channel port"

    def __init__(self, medium: ChannelMedium, name: str, mac: bytes) -> None:
        super().__init__(name, mac, medium)
        self.sink: Any = None  # the protocol's frame handler while listening
        self._state = medium._sender(name)
        self._send = medium._send

    def _connected(self, protocol) -> None:
        # The medium takes the handler when the port attaches, next.
        if IFrameSink.providedBy(protocol):
            self.sink = protocol.frame_sink()
        else:
            received = protocol.datagramReceived

            def sink(frame: bytes) -> None:
                received(frame, None)

            self.sink = sink

    def write(self, frame) -> None:
        """Transmit one frame into the medium."""
        # One copy, and none for bytes: the caller may reuse its buffer.
        data = frame if type(frame) is bytes else bytes(frame)
        counters = self.counters
        counters.sent += 1
        counters.sent_bytes += len(data)
        self._send(self._state, data)

    def stopListening(self) -> None:
        """Detach from the medium and stop the protocol."""
        super().stopListening()
        self.sink = None


@implementer_only(IMedium)
class RelayChannel(ChannelMedium):
    """The channel model for a relay between real ports (netns mode): the
    same links, filter, seeded loss, jitter and FIFO, scheduled per link.

    Each link keeps its own FIFO of frames in flight and one reactor timer
    for the frame at its head, instead of a heap entry per frame. A frame
    due at once (no latency, jitter or loss, nothing queued before it on
    the link) is handed to the receiver inside ``transmit``, with no copy
    and no timer: a receiver must not call ``transmit`` from ``receive``
    (a real port only writes to its device), and ``frame`` needs to be
    valid only during ``transmit`` (a ring's slot is).

    ``relay_path(port)`` is ``transmit`` for one sender's frames, with a
    fast path for the frame a relay carries most (``relay_path``).
    """

    def relay_path(self, sender: Any) -> Callable[..., None]:
        """``transmit(sender, frame)`` as ``relay(frame, addr=None)``, for the
        port that reads ``sender``'s frames (a protocol's
        ``datagramReceived``; ``addr`` is ignored).

        A unicast frame whose ``dst`` one link hears, when that link has no
        latency, jitter, loss or fading and nothing queued, and its
        receiver lends a transmit slot (``tx_slot``/``commit``, as a
        ``PacketPort`` on rings does) that is free and large enough, is
        copied straight into that slot: the same counters as ``transmit``
        (``_offer``, ``_Link.draw``, ``_deliver``), no random draw (the
        general path takes none for such a link either) and the same
        FIFO mark. Anything else goes to ``transmit``, before anything
        was counted (docs/protocol.md §2: the channel's dst filter).
        """
        state = self._sender(sender.name)
        counters = state.counters
        seconds = self._clock.seconds
        transmit = self.transmit

        def relay(frame, addr: Any = None) -> None:
            size = len(frame)
            if size >= 6 and not frame[0] & 1:
                links = state.by_mac.get(bytes(frame[:6]))
                if links is not None and len(links) == 1:
                    link = links[0]
                    lend = link.lend
                    if link.ideal and lend is not None and not link.queue:
                        now = seconds()
                        if link.last_due <= now:
                            slot = lend[0]()
                            if slot is not None and size <= len(slot):
                                counters.frames_out += 1
                                counters.bytes_out += size
                                state.frames_sent += 1
                                state.bytes_sent += size
                                link.considered += 1
                                # draw()'s FIFO mark: a clock stepping back
                                # still cannot let a later frame overtake
                                link.last_due = now
                                link.frames_delivered += 1
                                link.bytes_delivered += size
                                dst = link.dst_counters
                                dst.frames_in += 1
                                dst.bytes_in += size
                                slot[:size] = frame
                                lend[1](size)
                                return
            transmit(sender, frame)

        return relay

    def transmit(self, sender: Any, frame) -> None:
        links = self._offer(sender, frame)
        if not links:
            return
        rng = self._rng
        clock = self._clock
        now = clock.seconds()
        ports = self._ports
        kept = None
        for link in links:
            if link.receiver is None:
                continue  # nobody there to hear it
            due = link.draw(now, rng)
            if due is None:
                continue
            queue = link.queue
            if due <= now and not queue:
                _deliver(ports.get(link.dst), link, frame)
                continue
            if kept is None:
                kept = frame if type(frame) is bytes else bytes(frame)
            link.in_flight += 1
            queue.append((due, kept))
            if len(queue) == 1:
                link.timer = clock.callLater(due - now, self._deliver_link, link)

    def _deliver_link(self, link: _Link) -> None:
        """The head of ``link``'s FIFO is due: deliver every frame that is,
        then wait for the next."""
        link.timer = None
        queue = link.queue
        clock = self._clock
        due_by = clock.seconds() + _EPSILON_S
        ports = self._ports
        while queue and queue[0][0] <= due_by:
            _, frame = queue.popleft()
            link.in_flight -= 1
            _deliver(ports.get(link.dst), link, frame)
        if queue:
            delay = max(0.0, queue[0][0] - clock.seconds())
            link.timer = clock.callLater(delay, self._deliver_link, link)

    @property
    def in_flight(self) -> int:
        return sum(len(link.queue) for link in self._links.values())

    def open_port(self, name: str, mac: bytes) -> ChannelPort:
        """Not here: the relay's ports are real ones, attached."""
        raise NotImplementedError("RelayChannel schedules attached real ports only")

    def stop(self) -> None:
        """Cancel every link's timer; frames in flight are dropped."""
        for link in self._links.values():
            timer, link.timer = link.timer, None
            if timer is not None and timer.active():
                timer.cancel()
            link.queue.clear()
            link.in_flight = 0
