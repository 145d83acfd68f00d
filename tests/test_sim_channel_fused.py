"""The fused link (``ChannelPort``, ``ChannelMedium.open_port``) against
the general path (``MemoryPort`` attached to the same channel model): the
same frames reach the same nodes at the same virtual times, and every
counter agrees, for seeded random scenarios."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from vanet.interfaces import IDirectMedium, IFrameSink, ILinkPort, IMedium
from vanet.mac import BROADCAST, stable_local_mac
from vanet.node.link import LinkProtocol
from vanet.sim.channel import ChannelMedium, ChannelParams, ChannelPort, RelayChannel
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation, run_virtual
from vanet.sim.loader import load_topology
from vanet.transport.memory import MemoryPort

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NAMES = ("n0", "n1", "n2", "n3")
UNKNOWN = stable_local_mac("nobody")


class Recorder(DatagramProtocol):
    """Records (time, node, frame) and relays a frame whose first payload
    byte is non-zero as a broadcast with that byte less one: transmits
    from inside a delivery, as a node relaying a heartbeat does."""

    def __init__(self, name: str, clock: VirtualClock, log: list) -> None:
        self.name = name
        self.clock = clock
        self.log = log

    def handle(self, frame: bytes) -> None:
        self.log.append((self.clock.seconds(), self.name, frame))
        if len(frame) > 14 and frame[14]:
            mac = stable_local_mac(self.name)
            self.transport.write(
                BROADCAST + mac + b"\x30\x30" + bytes([frame[14] - 1]) + frame[15:]
            )

    def datagramReceived(self, datagram, addr=None) -> None:
        self.handle(datagram)


@implementer(IFrameSink)
class SinkRecorder(Recorder):
    """The same, offering the direct handler the fused port looks for."""

    def frame_sink(self):
        return self.handle


links_strategy = st.dictionaries(
    st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)).filter(
        lambda pair: pair[0] != pair[1]
    ),
    st.builds(
        ChannelParams,
        latency_ms=st.sampled_from([0.0, 0.5, 2.0, 7.3]),
        jitter_ms=st.sampled_from([0.0, 0.3, 4.0]),
        loss=st.sampled_from([0.0, 0.25, 1.0]),
    ),
    min_size=1,
)

sends_strategy = st.lists(
    st.tuples(
        st.floats(0, 0.05),  # when
        st.sampled_from(NAMES),  # sender
        st.sampled_from(NAMES + ("*", "?")),  # dst: a node, broadcast, nobody
        st.integers(0, 3),  # relay count (first payload byte)
        st.integers(0, 20),  # frame length past the header (a runt: < 6 bytes)
    ),
    max_size=30,
)

# (when, node): the node stops listening then, and listens again 10 ms later
stops_strategy = st.lists(
    st.tuples(st.floats(0, 0.05), st.sampled_from(NAMES)), max_size=2
)


def run(links, sends, stops, seed, fused, sink=True, slots_per_s=None):
    """One scenario on one path; what was delivered, when, and the counters."""
    clock = VirtualClock()
    medium = ChannelMedium(clock, seed=seed, links=links)
    if slots_per_s is not None:
        medium.slots_per_s = slots_per_s
    log: list = []
    ports = {}
    protocol_class = SinkRecorder if sink else Recorder
    for name in NAMES:
        mac = stable_local_mac(name)
        port = medium.open_port(name, mac) if fused else MemoryPort(name, mac, medium)
        port.startListening(protocol_class(name, clock, log))
        ports[name] = port

    def send(name, dst, relay, length):
        frame = dst + stable_local_mac(name) + b"\x30\x30" + bytes([relay])
        frame = (frame + bytes(range(length)))[: 6 + length]
        # a view, as the engine writes: the port copies it
        ports[name].write(memoryview(bytearray(frame)))

    for when, name, dst_name, relay, length in sends:
        if dst_name == "*":
            dst = BROADCAST
        elif dst_name == "?":
            dst = UNKNOWN
        else:
            dst = stable_local_mac(dst_name)
        clock.callLater(when, send, name, dst, relay, length)

    def restart(name):
        port = ports[name]
        if not port.listening:  # two stops may overlap
            port.startListening(port.protocol)

    for when, name in stops:
        clock.callLater(when, ports[name].stopListening)
        clock.callLater(when + 0.01, restart, name)
    clock.run_until(0.5)
    counters = {
        "table": medium.channel_table(),
        "nodes": {name: medium.node_stats(name) for name in NAMES},
        "ports": {name: ports[name].counters.as_dict() for name in NAMES},
        "in_flight": medium.in_flight,
    }
    return log, counters


class EquivalenceTests(SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(
        links=links_strategy,
        sends=sends_strategy,
        stops=stops_strategy,
        seed=st.integers(0, 2**32),
    )
    def test_same_frames_same_times_same_counters(self, links, sends, stops, seed):
        general = run(links, sends, stops, seed, fused=False)
        fused = run(links, sends, stops, seed, fused=True)
        self.assertEqual(fused[0], general[0])
        self.assertEqual(fused[1], general[1])

    @settings(max_examples=150, deadline=None)
    @given(
        links=links_strategy,
        sends=sends_strategy,
        stops=stops_strategy,
        seed=st.integers(0, 2**32),
        slots_per_s=st.sampled_from([1e4, 1e3, 1e6, 1e9]),
    )
    def test_slots_change_nothing(self, links, sends, stops, seed, slots_per_s):
        # 1e-12 slots a second: every frame in one slot, so one heap of
        # every frame in flight, as the channel had before the slots.
        one_heap = run(links, sends, stops, seed, fused=True, slots_per_s=1e-12)
        slotted = run(links, sends, stops, seed, fused=True, slots_per_s=slots_per_s)
        self.assertEqual(slotted, one_heap)

    def test_a_protocol_without_a_frame_sink(self) -> None:
        links = {(a, b): ChannelParams(1, 0.5, 0.2) for a in NAMES for b in NAMES}
        del links[("n0", "n0")], links[("n1", "n1")]
        del links[("n2", "n2")], links[("n3", "n3")]
        sends = [(i / 100, NAMES[i % 4], "*", 2, 10) for i in range(5)]
        general = run(links, sends, [], 3, fused=False, sink=False)
        fused = run(links, sends, [], 3, fused=True, sink=False)
        self.assertGreater(len(general[0]), 20)  # the relays happened
        self.assertEqual(fused, general)

    def test_the_draws_are_seeded(self) -> None:
        # Not a tautology: another seed gives other times.
        links = {("n0", "n1"): ChannelParams(2, 1, 0.5)}
        sends = [(i / 1000, "n0", "n1", 0, 4) for i in range(20)]
        one = run(links, sends, [], 1, fused=True)[0]
        self.assertEqual(run(links, sends, [], 1, fused=True)[0], one)
        self.assertNotEqual(run(links, sends, [], 2, fused=True)[0], one)


class FusedPortTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = VirtualClock()
        self.medium = ChannelMedium(
            self.clock, seed=1, links={("a", "b"): ChannelParams(latency_ms=1)}
        )
        self.log: list = []
        self.a = self.medium.open_port("a", stable_local_mac("a"))
        self.b = self.medium.open_port("b", stable_local_mac("b"))
        self.a.startListening(SinkRecorder("a", self.clock, self.log))

    def test_interfaces(self) -> None:
        self.assertTrue(verifyObject(IDirectMedium, self.medium))
        self.assertTrue(verifyObject(ILinkPort, self.a))
        self.assertTrue(verifyObject(IFrameSink, LinkProtocol(engine=None)))
        # the relay's ports are real ones: no fused port there
        relay = RelayChannel(self.clock)
        self.assertTrue(IMedium.providedBy(relay))
        self.assertFalse(IDirectMedium.providedBy(relay))
        self.assertRaises(NotImplementedError, relay.open_port, "a", b"\x02" * 6)

    def test_attached_only_while_listening(self) -> None:
        self.assertEqual(self.medium.ports(), {"a": self.a})
        protocol = SinkRecorder("b", self.clock, self.log)
        self.b.startListening(protocol)
        self.assertRaises(RuntimeError, self.b.startListening, protocol)
        self.a.write(stable_local_mac("b") + stable_local_mac("a") + b"\x30\x30x")
        self.b.stopListening()
        self.b.stopListening()  # a second stop does nothing
        self.assertEqual(self.medium.ports(), {"a": self.a})
        self.clock.run_until(1.0)
        self.assertEqual(self.log, [])
        self.assertEqual(self.medium.link_stats("a", "b")["frames_dropped"], 1)
        self.assertIsInstance(self.a, ChannelPort)

    def test_a_raising_handler_is_counted_and_logged(self) -> None:
        def explode(frame):
            raise RuntimeError("boom")

        protocol = SinkRecorder("b", self.clock, self.log)
        protocol.handle = explode
        self.b.startListening(protocol)
        self.a.write(stable_local_mac("b") + stable_local_mac("a") + b"\x30\x30x")
        self.a.write(BROADCAST + stable_local_mac("a") + b"\x30\x30y")
        self.clock.run_until(1.0)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.assertEqual(self.b.counters.handler_errors, 2)
        self.assertEqual(self.b.counters.received, 2)


class SimulationEquivalenceTests(SynchronousTestCase):
    """A whole in-process simulation, fused link or not: the same run."""

    def run_example(self, name: str, fused: bool, seconds: float):
        simulation = Simulation(
            load_topology(EXAMPLES / name), VirtualClock(), fused_link=fused
        )
        self.addCleanup(simulation.stopService)
        run_virtual(simulation, seconds)
        statuses = simulation.node_statuses()
        for status in statuses.values():
            status.pop("recent_events")  # ages, the same but float-rounded
        return (
            simulation.medium.channel_table(),
            statuses,
            simulation.flow_stats.summary(),
        )

    def test_lossy_example(self) -> None:
        general = self.run_example("lossy.ini", fused=False, seconds=8)
        fused = self.run_example("lossy.ini", fused=True, seconds=8)
        delivered = sum(link["frames_delivered"] for link in general[0])
        self.assertGreater(delivered, 500)
        self.assertEqual(fused, general)

    def test_ports(self) -> None:
        simulation = Simulation(load_topology(EXAMPLES / "highway.ini"), VirtualClock())
        self.addCleanup(simulation.stopService)
        simulation.startService()
        self.assertTrue(
            all(isinstance(n.port, ChannelPort) for n in simulation.nodes.values())
        )
        general = Simulation(
            load_topology(EXAMPLES / "highway.ini"), VirtualClock(), fused_link=False
        )
        self.addCleanup(general.stopService)
        general.startService()
        self.assertTrue(
            all(isinstance(n.port, MemoryPort) for n in general.nodes.values())
        )


class DrawTests(SynchronousTestCase):
    """The inlined draws are ``random.uniform``'s, in the original order:
    a loss draw when ``loss`` is set, then a jitter draw when ``jitter``
    is, clamped at ``now`` and FIFO behind the previous frame."""

    @settings(max_examples=100, deadline=None)
    @given(
        params=st.builds(
            ChannelParams,
            latency_ms=st.floats(0, 10),
            jitter_ms=st.floats(0, 10),
            loss=st.sampled_from([0.0, 0.1, 0.6]),
        ),
        gaps=st.lists(st.floats(0, 0.01), min_size=1, max_size=20),
        seed=st.integers(0, 2**32),
    )
    def test_due_times_as_random_uniform_gives_them(self, params, gaps, seed):
        rng = random.Random(seed)
        expected = []
        now = last = 0.0
        for gap in gaps:
            now += gap
            if params.loss and rng.random() < params.loss:
                continue
            due = now + params.latency_ms / 1000.0
            jitter = params.jitter_ms / 1000.0
            if jitter:
                due = max(now, due + rng.uniform(-jitter, jitter))
            last = max(last, due)
            expected.append(last)

        clock = VirtualClock()
        medium = ChannelMedium(clock, seed=seed, links={("a", "b"): params})
        link = medium._links[("a", "b")]  # its last_due: exact, not via a timer
        a = medium.open_port("a", stable_local_mac("a"))
        b = medium.open_port("b", stable_local_mac("b"))
        b.startListening(SinkRecorder("b", clock, []))
        dues = []
        at = 0.0
        for gap in gaps:
            at += gap
            clock.run_until(at)
            lost = link.frames_lost
            a.write(BROADCAST + a.mac + b"\x30\x30\x00")
            if link.frames_lost == lost:
                dues.append(link.last_due)
        self.assertEqual(dues, expected)
