"""The netns relay's fast path (``RelayChannel.relay_path``) against its
general path (``RelayChannel.transmit``): the same frames delivered to each
receiver, in the same order and at the same times, the same link and node
counters and the same random draws, whatever the frames, the links'
parameters and fading, and the state of the receivers' transmit slots."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from tests.test_sim_channel import FakePort, frame_to
from vanet.mac import BROADCAST
from vanet.sim.channel import ChannelParams, RelayChannel
from vanet.sim.netns import _RelayPort, _RelayProtocol

SLOT = 64  # bytes a lent slot holds: longer frames take the general path


class LendingPort(FakePort):
    """A ``FakePort`` that lends a transmit slot as a ``PacketPort`` on
    rings does; ``busy`` means the kernel still holds it (``None``)."""

    def __init__(self, name: str, clock: task.Clock) -> None:
        super().__init__(name, clock)
        self._slot = memoryview(bytearray(SLOT))
        self.busy = False
        self.lent = 0

    def tx_slot(self):
        return None if self.busy else self._slot

    def commit(self, size: int) -> None:
        self.lent += 1
        self.received.append((self.clock.seconds(), bytes(self._slot[:size])))


class CoinFading:
    """Per-frame fading that draws from the channel's RNG."""

    def lost(self, now: float, rng) -> bool:
        return rng.random() < 0.5


LINKS = {
    ("a", "b"): ChannelParams(),
    ("b", "a"): ChannelParams(),
    ("a", "c"): ChannelParams(latency_ms=1),
    ("c", "a"): ChannelParams(),
    ("b", "c"): ChannelParams(loss=0.3),
    ("c", "b"): ChannelParams(),
}
NAMES = "abc"

sends = st.tuples(
    st.just("send"),
    st.sampled_from(NAMES),
    st.sampled_from(["a", "b", "c", "bcast", "nobody", "runt"]),
    st.integers(0, 80),  # payload bytes: some frames exceed the slot
)
waits = st.tuples(st.just("wait"), st.integers(0, 3000))  # µs
# A wall clock may step back: the link's FIFO mark still holds frames back.
steps_back = st.tuples(st.just("back"), st.integers(1, 3000))  # µs
params = st.tuples(
    st.just("params"),
    st.sampled_from(sorted(LINKS)),
    st.sampled_from([0, 0, 2]),  # latency ms
    st.sampled_from([0, 0, 1]),  # jitter ms
    st.sampled_from([0, 0, 0.4]),  # loss
)
fadings = st.tuples(st.just("fading"), st.sampled_from(sorted(LINKS)), st.booleans())
busy = st.tuples(st.just("busy"), st.sampled_from(NAMES), st.booleans())
operations = st.lists(
    st.one_of(sends, sends, sends, waits, steps_back, params, fadings, busy),
    max_size=80,
)


def run(fast: bool, ops) -> tuple:
    clock = task.Clock()
    medium = RelayChannel(clock, seed=11, links=dict(LINKS))
    port_cls = LendingPort if fast else FakePort
    ports = {name: port_cls(name, clock) for name in NAMES}
    for port in ports.values():
        medium.attach(port)
    if fast:
        send = {name: medium.relay_path(port) for name, port in ports.items()}
    else:
        send = {
            name: (lambda frame, port=port: medium.transmit(port, frame))
            for name, port in ports.items()
        }
    for i, op in enumerate(ops):
        kind = op[0]
        if kind == "send":
            _, src, dst, size = op
            if dst == "runt":
                frame = b"\x02\x00\x00"
            else:
                to = {"bcast": BROADCAST, "nobody": b"\x02" * 6}.get(dst)
                to = ports[dst].mac if to is None else to
                frame = frame_to(to, ports[src].mac, b"%d:" % i + bytes(size))
            # as a receive ring hands it over: a read-only view
            send[src](memoryview(frame))
        elif kind == "wait":
            clock.advance(op[1] / 1e6)
        elif kind == "back":
            clock.rightNow -= op[1] / 1e6
        elif kind == "params":
            _, (a, b), latency, jitter, loss = op
            medium.set_params(a, b, latency_ms=latency, jitter_ms=jitter, loss=loss)
        elif kind == "fading":
            _, (a, b), on = op
            medium.set_fading(a, b, CoinFading() if on else None)
        elif kind == "busy" and fast:
            ports[op[1]].busy = op[2]
    clock.advance(1.0)
    received = {
        name: [(t, bytes(f)) for t, f in port.received] for name, port in ports.items()
    }
    lent = sum(getattr(port, "lent", 0) for port in ports.values())
    return (
        received,
        medium.channel_table(),
        {name: medium.node_stats(name) for name in NAMES},
        medium.in_flight,
        medium._rng.random(),  # the same draws were taken before
    ), lent


class FastPathTests(SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(operations)
    def test_fast_path_delivers_and_counts_what_the_general_path_does(self, ops):
        general, _ = run(False, ops)
        fast, _ = run(True, ops)
        self.assertEqual(fast, general)

    def test_a_unicast_frame_on_an_ideal_link_goes_into_the_lent_slot(self):
        ops = [("send", "a", "b", 10), ("send", "c", "a", 10), ("send", "b", "a", 10)]
        general, lent = run(True, ops)
        self.assertEqual(lent, 3)
        self.assertEqual(run(False, ops)[0], general)

    def test_everything_else_takes_the_general_path(self):
        ops = [
            ("send", "a", "bcast", 10),  # group address
            ("send", "a", "c", 10),  # latency
            ("send", "b", "c", 10),  # loss
            ("send", "a", "b", SLOT),  # larger than the slot
            ("busy", "b", True),
            ("send", "a", "b", 10),  # slot still the kernel's
        ]
        fast, lent = run(True, ops)
        self.assertEqual(lent, 0)
        self.assertEqual(fast, run(False, ops)[0])

    def test_a_clock_stepping_back_does_not_let_a_frame_overtake(self):
        ops = [("wait", 5000), ("send", "a", "b", 1), ("back", 1000)]
        ops += [("send", "a", "b", 2)]
        fast, lent = run(True, ops)
        self.assertEqual(lent, 1)  # the second waits for the first's time
        self.assertEqual(fast, run(False, ops)[0])

    def test_a_frame_waits_behind_frames_queued_on_its_link(self):
        # latency 2 ms, one frame queued; the link becomes ideal: the next
        # frame still comes after the queued one, through the queue.
        ops = [
            ("params", ("a", "b"), 2, 0, 0),
            ("send", "a", "b", 1),
            ("params", ("a", "b"), 0, 0, 0),
            ("send", "a", "b", 2),
            ("wait", 2000),
            ("send", "a", "b", 3),
        ]
        fast, lent = run(True, ops)
        self.assertEqual(lent, 1)  # only the last, once the queue is empty
        sent = [f[14:].split(b":")[0] for _, f in fast[0]["b"]]
        self.assertEqual(sent, [b"1", b"3", b"5"])  # the op's index
        self.assertEqual(fast, run(False, ops)[0])


class RelayProtocolTests(SynchronousTestCase):
    def test_the_relay_protocol_takes_the_fast_path_from_a_packet_port(self):
        clock = task.Clock()
        medium = RelayChannel(clock, seed=1, links={("a", "b"): ChannelParams()})
        written = []

        class Packet:
            """A packet port's lending and writing side."""

            def __init__(self) -> None:
                self.slot = memoryview(bytearray(128))

            def tx_slot(self):
                return self.slot

            def commit(self, size: int) -> None:
                written.append(("slot", bytes(self.slot[:size])))

            def write(self, frame) -> None:
                written.append(("write", bytes(frame)))

        a = _RelayPort("a", b"\x02\x00\x00\x00\x00\x0a", Packet())
        b = _RelayPort("b", b"\x02\x00\x00\x00\x00\x0b", Packet())
        medium.attach(a)
        medium.attach(b)
        frame = frame_to(b.mac, a.mac, b"data")
        _RelayProtocol(medium, a).datagramReceived(memoryview(frame), None)
        _RelayProtocol(medium, a, fast=False).datagramReceived(frame, None)
        self.assertEqual(written, [("slot", frame), ("write", frame)])
        self.assertEqual(medium.link_stats("a", "b")["frames_delivered"], 2)
