"""The engine's data fast paths (an OBU relaying upstream and downstream
data, and tunnelling TAP frames) against the general path through the
data plane's actions: the same frames out, to the same next hops, in the
same order, with the same counters and drops, whatever the mix of frames
and whether sends fail.

Two engines with the same routing state each get the same inputs; one has
the fast paths, the other a data plane whose fast paths are switched off.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from vanet.crypto import AesGcmCodec, IdentityCodec
from vanet.dataplane import ObuDataPlane, RsuDataPlane
from vanet.node.engine import NodeEngine
from vanet.wire import parse, writer_for

ME = bytes.fromhex("020000000021")
UP = bytes.fromhex("020000000001")  # our upstream
BACKUP = bytes.fromhex("020000000002")  # the upstream after UP failed
DOWN = bytes.fromhex("020000000031")  # a neighbour downstream
FAR = bytes.fromhex("020000000041")  # a vehicle behind DOWN
UNROUTED = bytes.fromhex("020000000051")
ZERO = bytes(6)
GROUP = bytes.fromhex("ffffffffffff")
HOST = bytes.fromhex("0a0000000011")


class Routing:
    """The OBU core's data-path surface: an upstream, routes, and a new
    upstream after a failed send."""

    def __init__(self, upstream: bytes | None) -> None:
        self.upstream = upstream
        self.routes = {FAR: DOWN, DOWN: DOWN, UP: UP}
        self.failed: list[bytes] = []
        self.seen: list[tuple] = []  # on_data_seen calls
        self.counters: dict = {}
        self.drops: dict = {}

    def route_to(self, target, now):
        return self.routes.get(bytes(target))

    def on_upstream_loop(self, neighbour, now):
        self.upstream = BACKUP if self.upstream != BACKUP else None
        return []

    def on_data_seen(self, origin, via, now):
        self.seen.append((bytes(origin), bytes(via), now))

    def on_send_failed(self, next_hop, now):
        self.failed.append(next_hop)
        if self.upstream == next_hop:
            self.upstream = BACKUP
        self.routes = {
            k: (BACKUP if v == next_hop else v) for k, v in self.routes.items()
        }
        return []

    def on_message(self, msg, now):
        return []

    def status(self, now):
        return {}


class SlowObuDataPlane(ObuDataPlane):
    """The same data plane with the fast paths switched off."""

    tunnel_now = relay_upstream = relay_downstream = None


class Port:
    def __init__(self, dead: set) -> None:
        self.dead = dead
        self.sent: list[bytes] = []

    def write(self, frame) -> None:
        if bytes(frame[:6]) in self.dead:
            raise OSError("no route to host")
        self.sent.append(bytes(frame))


class SlotPort(Port):
    """A port that lends a transmit slot (as a ring port does): frames
    written in place are committed; every ``busy``-th slot is still the
    kernel's, so the engine writes those through ``write``."""

    def __init__(self, dead: set, slot_size: int = 1600, busy: int = 3) -> None:
        super().__init__(dead)
        self.slot = bytearray(slot_size)
        self.busy = busy
        self.asked = self.committed = 0

    def tx_slot(self):
        self.asked += 1
        if self.asked % self.busy == 0:
            return None
        # Stale bytes from the last frame: a writer must not rely on zeros.
        return memoryview(self.slot)

    def commit(self, size: int) -> None:
        self.committed += 1
        self.sent.append(bytes(self.slot[:size]))


class Tap:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, frame) -> None:
        self.written.append(bytes(frame))


def ether(dst: bytes, src: bytes, size: int) -> bytes:
    return (dst + src + b"\x08\x00" + bytes(range(256)) * 40)[:size]


def link_frame(kind: str, src: bytes, origin: bytes, dest: bytes, size: int) -> bytes:
    buf = bytearray()
    payload = ether(HOST, HOST, size)
    if kind == "upstream":
        n = writer_for("upstream").write(buf, origin, payload, src, ME)
    else:
        n = writer_for("downstream").write(buf, origin, dest, payload, src, ME)
    return bytes(buf[:n])


def engine(dataplane_class, upstream, codec, dead, port=Port) -> NodeEngine:
    routing = Routing(upstream)
    dataplane = dataplane_class(ME, routing, codec)
    node = NodeEngine(
        name="obu",
        role="obu",
        mac=ME,
        routing=routing,
        dataplane=dataplane,
        clock=task.Clock(),
        hello_period_s=1.0,
    )
    node.attach(port(set(dead)), Tap())
    return node


# What arrives: link frames (kind, src, origin or destination, size) and
# TAP frames (size), mixed.
senders = st.sampled_from([DOWN, UP, BACKUP])
addresses = st.sampled_from([ME, FAR, DOWN, UNROUTED, ZERO, GROUP, UP])
sizes = st.sampled_from([4, 14, 60, 1450, 2100, 9014])
inputs = st.one_of(
    st.tuples(st.just("upstream"), senders, addresses, st.just(b""), sizes),
    st.tuples(st.just("downstream"), senders, st.just(UP), addresses, sizes),
    st.tuples(st.just("tap"), st.just(b""), st.just(b""), st.just(b""), sizes),
)


class FastPathTests(SynchronousTestCase):
    def run_both(self, frames, upstream=UP, dead=(), encrypt=False, port=Port):
        nodes = []
        for dataplane_class in (ObuDataPlane, SlowObuDataPlane):
            codec = AesGcmCodec(bytes(range(32))) if encrypt else IdentityCodec()
            node = engine(
                dataplane_class,
                upstream,
                codec,
                dead,
                port if dataplane_class is ObuDataPlane else Port,
            )
            for kind, src, a, b, size in frames:
                if kind == "tap":
                    node.tap_frame(ether(HOST, HOST, size))
                elif kind == "upstream":
                    node.frame_received(link_frame(kind, src, a, b"", size))
                else:
                    node.frame_received(link_frame(kind, src, a, b, size))
            nodes.append(node)
        fast, slow = nodes
        return fast, slow

    def assertSame(self, fast, slow, encrypt=False) -> None:
        if encrypt:
            # Sealed payloads differ (nonces): compare all but the payload.
            def shape(frames):
                return [
                    (m.kind, m.dst, m.src, len(m.raw)) for f in frames for m in parse(f)
                ]

            self.assertEqual(shape(fast.port.sent), shape(slow.port.sent))
        else:
            self.assertEqual(fast.port.sent, slow.port.sent)
        self.assertEqual(fast.tap.written, slow.tap.written)
        self.assertEqual(fast.status()["counters"], slow.status()["counters"])
        self.assertEqual(fast.status()["drops"], slow.status()["drops"])
        self.assertEqual(fast.dataplane.counters, slow.dataplane.counters)
        self.assertEqual(fast.routing.failed, slow.routing.failed)
        self.assertEqual(fast.routing.seen, slow.routing.seen)
        self.assertEqual(fast.resent, slow.resent)

    def test_the_fast_paths_are_taken(self) -> None:
        fast, slow = self.run_both(
            [
                ("upstream", DOWN, FAR, b"", 1450),
                ("downstream", UP, UP, FAR, 60),
                ("tap", b"", b"", b"", 60),
            ]
        )
        self.assertIsNotNone(fast._tunnel_now)
        self.assertIsNone(slow._tunnel_now)
        self.assertEqual(
            [(m.kind, m.dst, m.src) for f in fast.port.sent for m in parse(f)],
            [
                ("upstream", UP, ME),
                ("downstream", DOWN, ME),
                ("upstream", UP, ME),
            ],
        )
        self.assertSame(fast, slow)

    @settings(max_examples=150, deadline=None)
    @given(
        st.lists(inputs, max_size=12),
        st.sampled_from([UP, None]),
        st.sampled_from([(), (UP,), (DOWN,), (UP, BACKUP)]),
    )
    def test_same_frames_counters_and_drops(self, frames, upstream, dead) -> None:
        fast, slow = self.run_both(frames, upstream, dead)
        self.assertSame(fast, slow)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(inputs, max_size=12), st.sampled_from([UP, None]))
    def test_same_when_written_into_a_lent_slot(self, frames, upstream) -> None:
        # (A ring port finds a refused send at its flush, not at the
        # write: no dead next hops here.)
        fast, slow = self.run_both(frames, upstream, port=SlotPort)
        self.assertSame(fast, slow)

    def test_slots_are_used_when_lent_and_big_enough(self) -> None:
        frames = [
            ("upstream", DOWN, FAR, b"", 1450),  # slot 1: lent
            ("upstream", DOWN, FAR, b"", 2100),  # slot 2: lent, too small
            ("upstream", DOWN, FAR, b"", 1450),  # slot 3: busy
            ("tap", b"", b"", b"", 1450),  # slot 4: lent
        ]
        fast, slow = self.run_both(frames, port=SlotPort)
        self.assertEqual(fast.port.committed, 2)
        self.assertEqual(len(fast.port.sent), 4)
        self.assertSame(fast, slow)

    @settings(max_examples=30, deadline=None)
    @given(st.lists(inputs, max_size=8))
    def test_same_with_encryption(self, frames) -> None:
        fast, slow = self.run_both(frames, encrypt=True)
        self.assertSame(fast, slow, encrypt=True)

    def test_both_writer_paths_write_the_same_frames(self) -> None:
        frames = [
            ("upstream", DOWN, FAR, b"", 1450),
            ("downstream", UP, UP, FAR, 3000),
            ("tap", b"", b"", b"", 5000),
        ]
        sent = []
        for path in ("zero-copy", "legacy"):
            routing = Routing(UP)
            node = NodeEngine(
                name="obu",
                role="obu",
                mac=ME,
                routing=routing,
                dataplane=ObuDataPlane(ME, routing, IdentityCodec()),
                clock=task.Clock(),
                hello_period_s=1.0,
                writer_path=path,
            )
            node.attach(SlotPort(set(), busy=1000), Tap())
            for kind, src, a, b, size in frames:
                if kind == "tap":
                    node.tap_frame(ether(HOST, HOST, size))
                else:
                    node.frame_received(link_frame(kind, src, a, b, size))
            # Only the zero-copy writers write into a lent slot.
            # (the 1450-byte frame only: the others are larger than a slot)
            self.assertEqual(node.port.committed, 1 if path == "zero-copy" else 0)
            sent.append(node.port.sent)
        self.assertEqual(len(sent[0]), 3)
        self.assertEqual(sent[0], sent[1])

    def test_a_frame_larger_than_the_buffer_goes_whole(self) -> None:
        frames = [("upstream", DOWN, FAR, b"", 9014), ("tap", b"", b"", b"", 9014)]
        fast, slow = self.run_both(frames)
        self.assertEqual(len(fast.port.sent), 2)
        # dst, src, tag, origin (22 bytes), then the whole inner frame
        self.assertEqual([len(f) for f in fast.port.sent], [22 + 9014, 22 + 9014])
        self.assertSame(fast, slow)


# -- the RSU: upstream data whose inner frame is for a host behind its TAP


class RsuRouting:
    def __init__(self) -> None:
        self.routes = {DOWN: DOWN, FAR: DOWN}
        self.seen: list = []
        self.counters: dict = {}
        self.drops: dict = {}

    def route_to(self, target, now):
        return self.routes.get(bytes(target))

    def vehicles(self, now):
        return sorted(self.routes)

    def on_data_seen(self, origin, via, now):
        self.seen.append((origin, via, now))
        return []  # the route events of a first route from data: none here

    def on_send_failed(self, next_hop, now):
        return []

    def on_message(self, msg, now):
        return []

    def status(self, now):
        return {}


class SlowRsuDataPlane(RsuDataPlane):
    upstream_or_frame = None


HOST_RSU = bytes.fromhex("0a0000000001")
HOST_FAR = bytes.fromhex("0a0000000041")
clients = st.sampled_from(
    [HOST_RSU, HOST_FAR, HOST, GROUP, bytes.fromhex("0b0000000099")]
)
rsu_inputs = st.one_of(
    st.tuples(
        st.just("upstream"),
        st.sampled_from([DOWN, FAR, ZERO, GROUP, ME]),
        clients,
        clients,
        sizes,
    ),
    st.tuples(st.just("tap"), st.just(b""), clients, clients, sizes),
)


class RsuFastPathTests(SynchronousTestCase):
    def run_both(self, frames):
        nodes = []
        for dataplane_class in (RsuDataPlane, SlowRsuDataPlane):
            routing = RsuRouting()
            node = NodeEngine(
                name="rsu",
                role="rsu",
                mac=ME,
                routing=routing,
                dataplane=dataplane_class(ME, routing, IdentityCodec()),
                clock=task.Clock(),
                hello_period_s=1.0,
            )
            node.attach(Port(set()), Tap())
            for kind, origin, dst, src, size in frames:
                inner = (dst + src + b"\x08\x00" + bytes(range(256)) * 40)[:size]
                if kind == "tap":
                    node.tap_frame(inner)
                else:
                    buf = bytearray()
                    n = writer_for("upstream").write(buf, origin, inner, DOWN, ME)
                    node.frame_received(bytes(buf[:n]))
                node.clock.advance(1)
            nodes.append(node)
        return nodes

    def assertSame(self, fast, slow) -> None:
        self.assertEqual(fast.port.sent, slow.port.sent)
        self.assertEqual(fast.tap.written, slow.tap.written)
        self.assertEqual(fast.status()["counters"], slow.status()["counters"])
        self.assertEqual(fast.status()["drops"], slow.status()["drops"])
        self.assertEqual(fast.status()["clients"], slow.status()["clients"])
        self.assertEqual(fast.routing.seen, slow.routing.seen)

    def test_a_frame_for_a_host_behind_the_rsu_goes_to_the_tap(self) -> None:
        frames = [
            ("tap", b"", HOST_FAR, HOST_RSU, 60),  # learns HOST_RSU behind us
            ("upstream", FAR, HOST_RSU, HOST_FAR, 1450),
        ]
        fast, slow = self.run_both(frames)
        self.assertEqual(len(fast.tap.written), 1)
        self.assertEqual(fast.tap.written[0][:12], HOST_RSU + HOST_FAR)
        self.assertEqual(fast.status()["counters"]["delivered_to_tap"], 1)
        self.assertSame(fast, slow)

    @settings(max_examples=150, deadline=None)
    @given(st.lists(rsu_inputs, max_size=12))
    def test_same_frames_counters_and_drops(self, frames) -> None:
        self.assertSame(*self.run_both(frames))
