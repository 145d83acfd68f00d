"""The simulator's channel model: filtering, loss, delay, jitter, FIFO."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.interfaces import IMedium
from vanet.mac import BROADCAST, stable_local_mac
from vanet.sim.channel import ChannelMedium, ChannelParams


class FakePort:
    """What the medium needs of a port: name, mac, receive(frame)."""

    def __init__(self, name: str, clock: task.Clock) -> None:
        self.name = name
        self.mac = stable_local_mac(name)
        self.clock = clock
        self.received: list[tuple[float, bytes]] = []

    def receive(self, frame: bytes) -> None:
        self.received.append((self.clock.seconds(), frame))

    @property
    def frames(self) -> list[bytes]:
        return [frame for _, frame in self.received]


def frame_to(dst: bytes, src: bytes, payload: bytes = b"x") -> bytes:
    return dst + src + b"\x30\x30" + payload


def build(names=("a", "b", "c"), seed=1, links=None):
    clock = task.Clock()
    medium = ChannelMedium(clock, seed=seed, links=links)
    ports = {name: FakePort(name, clock) for name in names}
    for port in ports.values():
        medium.attach(port)
    return clock, medium, ports


class InterfaceTests(SynchronousTestCase):
    def test_provides_imedium(self) -> None:
        self.assertTrue(verifyObject(IMedium, ChannelMedium(task.Clock())))


class ParamsTests(SynchronousTestCase):
    def test_validation(self) -> None:
        self.assertEqual(ChannelParams("100", "0", "0.5").latency_ms, 100.0)
        for bad in (
            {"latency_ms": -1},
            {"jitter_ms": -0.1},
            {"loss": 1.5},
            {"loss": -0.1},
            {"latency_ms": "fast"},
            {"latency_ms": float("nan")},
            {"loss": True},
        ):
            with self.assertRaises(ValueError, msg=repr(bad)):
                ChannelParams(**bad)

    def test_evolve_rejects_unknown_names(self) -> None:
        params = ChannelParams(latency_ms=5)
        self.assertEqual(params.evolve(loss=0.5), ChannelParams(5, 0, 0.5))
        with self.assertRaises(ValueError):
            params.evolve(latency=3)


class FilteringTests(SynchronousTestCase):
    def setUp(self) -> None:
        links = {
            ("a", "b"): ChannelParams(latency_ms=1),
            ("a", "c"): ChannelParams(latency_ms=1),
        }
        self.clock, self.medium, self.ports = build(links=links)
        self.a, self.b, self.c = (self.ports[n] for n in "abc")

    def test_unicast_reaches_only_its_destination(self) -> None:
        frame = frame_to(self.b.mac, self.a.mac)
        self.medium.transmit(self.a, frame)
        self.clock.advance(0.01)
        self.assertEqual(self.b.frames, [frame])
        self.assertEqual(self.c.frames, [])
        self.assertEqual(self.medium.link_stats("a", "c")["frames_filtered"], 1)
        self.assertEqual(self.medium.node_stats("c")["frames_filtered"], 1)
        self.assertEqual(self.medium.link_stats("a", "b")["frames_delivered"], 1)

    def test_broadcast_and_multicast_reach_every_neighbour(self) -> None:
        broadcast = frame_to(BROADCAST, self.a.mac)
        multicast = frame_to(bytes.fromhex("01005e000001"), self.a.mac)
        self.medium.transmit(self.a, broadcast)
        self.medium.transmit(self.a, multicast)
        self.clock.advance(0.01)
        self.assertEqual(self.b.frames, [broadcast, multicast])
        self.assertEqual(self.c.frames, [broadcast, multicast])

    def test_unicast_to_a_stranger_reaches_nobody(self) -> None:
        self.medium.transmit(self.a, frame_to(stable_local_mac("z"), self.a.mac))
        self.clock.advance(0.01)
        self.assertEqual(self.b.frames + self.c.frames, [])

    def test_links_are_directed_and_unconfigured_means_unreachable(self) -> None:
        self.medium.transmit(self.b, frame_to(BROADCAST, self.b.mac))
        self.medium.transmit(self.c, frame_to(BROADCAST, self.c.mac))
        self.clock.advance(1)
        self.assertEqual(self.a.frames + self.b.frames + self.c.frames, [])
        self.assertEqual(self.medium.node_stats("b")["frames_out"], 1)

    def test_sender_buffer_may_be_reused(self) -> None:
        buf = bytearray(frame_to(BROADCAST, self.a.mac, b"first"))
        self.medium.transmit(self.a, buf)
        buf[-5:] = b"later"
        self.clock.advance(0.01)
        self.assertEqual(self.b.frames, [frame_to(BROADCAST, self.a.mac, b"first")])

    def test_node_counters(self) -> None:
        frame = frame_to(BROADCAST, self.a.mac, b"12345")
        self.medium.transmit(self.a, frame)
        self.clock.advance(0.01)
        self.assertEqual(
            self.medium.node_stats("a"),
            {
                "frames_out": 1,
                "bytes_out": len(frame),
                "frames_in": 0,
                "bytes_in": 0,
                "frames_lost": 0,
                "frames_filtered": 0,
                "frames_dropped": 0,
            },
        )
        self.assertEqual(self.medium.node_stats("b")["bytes_in"], len(frame))
        self.assertEqual(self.medium.node_stats("c")["frames_in"], 1)


class DelayTests(SynchronousTestCase):
    def test_latency_is_honoured(self) -> None:
        clock, medium, ports = build(links={("a", "b"): ChannelParams(20)})
        medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac))
        clock.advance(0.0199)
        self.assertEqual(ports["b"].frames, [])
        clock.advance(0.0001)
        self.assertEqual(len(ports["b"].frames), 1)

    def test_zero_latency_still_goes_through_the_clock(self) -> None:
        clock, medium, ports = build(links={("a", "b"): ChannelParams()})
        medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac))
        self.assertEqual(ports["b"].frames, [])
        clock.advance(0)
        self.assertEqual(len(ports["b"].frames), 1)

    def delays(self, latency_ms, jitter_ms, count=200, spacing_s=0.02):
        clock, medium, ports = build(
            links={("a", "b"): ChannelParams(latency_ms, jitter_ms)}, seed=7
        )
        step = 0.0001
        sent = []
        for i in range(count):
            sent.append(clock.seconds())
            medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac, b"%d" % i))
            clock.pump([step] * round(spacing_s / step))
        clock.pump([step] * round(1 / step))
        received = ports["b"].received
        self.assertEqual(len(received), count)
        return [(at - sent[i]) * 1000 for i, (at, _) in enumerate(received)]

    def test_jitter_stays_within_bounds(self) -> None:
        delays = self.delays(latency_ms=10, jitter_ms=5)
        self.assertGreaterEqual(min(delays), 5 - 1e-6)
        self.assertLessEqual(max(delays), 15 + 0.1 + 1e-6)  # 0.1 ms clock step
        # the jitter is really applied, over most of its range
        self.assertGreater(max(delays) - min(delays), 8)

    def test_jitter_is_clamped_at_zero(self) -> None:
        delays = self.delays(latency_ms=1, jitter_ms=5)
        self.assertGreaterEqual(min(delays), 0)
        self.assertLessEqual(max(delays), 6 + 0.1 + 1e-6)
        # about 40% of the draws fall below zero and are delivered at once
        immediate = sum(1 for d in delays if d < 0.1 + 1e-6)
        self.assertGreater(immediate, 0.25 * len(delays))


class LossTests(SynchronousTestCase):
    def run_loss(self, loss, seed, count=10_000):
        clock, medium, ports = build(
            links={("a", "b"): ChannelParams(1, 0, loss)}, seed=seed
        )
        for i in range(count):
            medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac, b"%d" % i))
        clock.advance(1)
        return medium, ports["b"].frames

    def test_seeded_loss_rate_within_tolerance(self) -> None:
        for loss in (0.01, 0.3, 0.5):
            medium, frames = self.run_loss(loss, seed=42)
            lost = 10_000 - len(frames)
            # 4 standard deviations of a binomial(10000, loss)
            tolerance = 4 * (10_000 * loss * (1 - loss)) ** 0.5
            self.assertLess(abs(lost - 10_000 * loss), tolerance, msg=f"loss={loss}")
            self.assertEqual(medium.link_stats("a", "b")["frames_lost"], lost)
            self.assertEqual(medium.node_stats("b")["frames_lost"], lost)

    def test_same_seed_same_losses_other_seed_other_losses(self) -> None:
        _, first = self.run_loss(0.3, seed=5, count=500)
        _, again = self.run_loss(0.3, seed=5, count=500)
        _, other = self.run_loss(0.3, seed=6, count=500)
        self.assertEqual(first, again)
        self.assertNotEqual(first, other)

    def test_extremes(self) -> None:
        self.assertEqual(len(self.run_loss(0.0, seed=1, count=1000)[1]), 1000)
        self.assertEqual(self.run_loss(1.0, seed=1, count=1000)[1], [])


class FifoTests(SynchronousTestCase):
    def test_frames_never_overtake_on_one_link(self) -> None:
        clock, medium, ports = build(links={("a", "b"): ChannelParams(10, 9.9)})
        sent = []
        for i in range(1000):
            frame = frame_to(BROADCAST, ports["a"].mac, b"%d" % i)
            sent.append(frame)
            medium.transmit(ports["a"], frame)
            clock.advance(0.0001)
        clock.advance(1)
        self.assertEqual(ports["b"].frames, sent)

    @settings(max_examples=60, deadline=None)
    @given(
        seed=st.integers(0, 2**32),
        latency=st.floats(0, 50),
        jitter=st.floats(0, 50),
        gaps=st.lists(st.floats(0, 0.05), min_size=1, max_size=60),
    )
    def test_fifo_and_bounds_property(self, seed, latency, jitter, gaps) -> None:
        clock, medium, ports = build(
            links={("a", "b"): ChannelParams(latency, jitter)}, seed=seed
        )
        sent = []
        for i, gap in enumerate(gaps):
            frame = frame_to(BROADCAST, ports["a"].mac, b"%d" % i)
            sent.append(frame)
            medium.transmit(ports["a"], frame)
            clock.advance(gap)
        self.assertEqual(len(ports["b"].frames) <= len(sent), True)
        clock.advance((latency + jitter) / 1000 + 1)
        self.assertEqual(ports["b"].frames, sent)
        self.assertEqual(medium.in_flight, 0)

    def test_links_are_independent(self) -> None:
        # a slow link does not hold back a fast one
        clock, medium, ports = build(
            links={("a", "b"): ChannelParams(100), ("a", "c"): ChannelParams(1)}
        )
        medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac))
        clock.advance(0.002)
        self.assertEqual(len(ports["c"].frames), 1)
        self.assertEqual(ports["b"].frames, [])


class RuntimeChangeTests(SynchronousTestCase):
    def test_set_params_changes_later_frames(self) -> None:
        clock, medium, ports = build(links={("a", "b"): ChannelParams(10)})
        a, b = ports["a"], ports["b"]
        medium.transmit(a, frame_to(BROADCAST, a.mac, b"1"))
        new = medium.set_params("a", "b", loss=1.0)
        self.assertEqual(new, ChannelParams(10, 0, 1.0))
        medium.transmit(a, frame_to(BROADCAST, a.mac, b"2"))
        clock.advance(1)
        self.assertEqual(b.frames, [frame_to(BROADCAST, a.mac, b"1")])
        medium.set_params("a", "b", loss=0, latency_ms=50)
        medium.transmit(a, frame_to(BROADCAST, a.mac, b"3"))
        clock.advance(0.049)
        self.assertEqual(len(b.frames), 1)
        clock.advance(0.002)
        self.assertEqual(len(b.frames), 2)

    def test_set_params_creates_a_missing_link(self) -> None:
        clock, medium, ports = build()
        medium.set_params("b", "a", latency_ms=3)
        medium.transmit(ports["b"], frame_to(BROADCAST, ports["b"].mac))
        clock.advance(0.003)
        self.assertEqual(len(ports["a"].frames), 1)
        with self.assertRaises(ValueError):
            medium.set_params("b", "a", loss=2)
        self.assertEqual(medium.params("b", "a"), ChannelParams(3))

    def test_remove_link(self) -> None:
        clock, medium, ports = build(links={("a", "b"): ChannelParams(1)})
        medium.remove_link("a", "b")
        medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac))
        clock.advance(1)
        self.assertEqual(ports["b"].frames, [])
        self.assertEqual(list(medium.links()), [])


class AttachTests(SynchronousTestCase):
    def test_links_configured_before_attach(self) -> None:
        clock = task.Clock()
        medium = ChannelMedium(clock, links={("a", "b"): ChannelParams(1)})
        a, b = FakePort("a", clock), FakePort("b", clock)
        medium.attach(a)
        medium.transmit(a, frame_to(BROADCAST, a.mac))  # b not attached yet
        medium.attach(b)
        medium.transmit(a, frame_to(BROADCAST, a.mac, b"2"))
        clock.advance(1)
        self.assertEqual(b.frames, [frame_to(BROADCAST, a.mac, b"2")])

    def test_detach_drops_frames_in_flight(self) -> None:
        clock, medium, ports = build(links={("a", "b"): ChannelParams(10)})
        medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac))
        medium.detach(ports["b"])
        clock.advance(1)
        self.assertEqual(ports["b"].frames, [])
        self.assertEqual(medium.link_stats("a", "b")["frames_dropped"], 1)

    def test_duplicate_name_rejected(self) -> None:
        clock, medium, ports = build()
        with self.assertRaises(ValueError):
            medium.attach(FakePort("a", clock))

    def test_relay_with_zero_latency_within_one_advance(self) -> None:
        clock, medium, ports = build(
            links={("a", "b"): ChannelParams(0), ("b", "c"): ChannelParams(0)}
        )
        b = ports["b"]

        def relay(frame: bytes) -> None:
            b.received.append((clock.seconds(), frame))
            medium.transmit(b, frame)

        b.receive = relay
        medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac))
        clock.advance(0)
        self.assertEqual(len(ports["c"].frames), 1)

    def test_receiver_errors_do_not_stop_delivery(self) -> None:
        clock, medium, ports = build(
            links={("a", "b"): ChannelParams(1), ("a", "c"): ChannelParams(1)}
        )

        def explode(frame: bytes) -> None:
            raise RuntimeError("boom")

        ports["b"].receive = explode
        medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac))
        clock.advance(0.01)
        self.assertEqual(len(ports["c"].frames), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_channel_table(self) -> None:
        clock, medium, ports = build(links={("a", "b"): ChannelParams(4, 1, 0.1)})
        (entry,) = medium.channel_table()
        self.assertEqual(
            (entry["from"], entry["to"], entry["latency_ms"], entry["loss"]),
            ("a", "b", 4.0, 0.1),
        )
        self.assertEqual(entry["frames_sent"], 0)


class VirtualClockDeliveryTests(SynchronousTestCase):
    """On a VirtualClock the medium delivers frame after frame without a
    scheduled call each (run_ahead); what arrives, when and in which order
    is the same as on task.Clock, with a node's own timer in between."""

    def run_on(self, clock):
        from vanet.sim.clock import VirtualClock

        links = {
            (a, b): ChannelParams(latency_ms=lat, jitter_ms=0.5)
            for (a, b), lat in {
                ("a", "b"): 3.0,
                ("b", "a"): 2.0,
                ("a", "c"): 7.0,
                ("c", "a"): 5.0,
            }.items()
        }
        medium = ChannelMedium(clock, seed=3, links=links)
        ports = {name: FakePort(name, clock) for name in "abc"}
        for port in ports.values():
            medium.attach(port)

        # b and c answer every frame from a once; a timer sends more.
        def answer(port):
            def receive(frame):
                port.received.append((clock.seconds(), frame))
                if frame[6:12] == ports["a"].mac and len(frame) < 40:
                    medium.transmit(
                        port, frame_to(ports["a"].mac, port.mac, b"re" + frame[14:])
                    )

            return receive

        for name in "bc":
            ports[name].receive = answer(ports[name])
        for i in range(20):
            clock.callLater(
                i * 0.004,
                medium.transmit,
                ports["a"],
                frame_to(BROADCAST, ports["a"].mac, b"%d" % i),
            )
        if isinstance(clock, VirtualClock):
            clock.run_until(1.0)
        else:
            # Step to each scheduled call in turn (advance() alone would run
            # them all at its end time).
            while clock.getDelayedCalls():
                due = min(call.getTime() for call in clock.getDelayedCalls())
                clock.advance(due - clock.seconds())
        return {name: port.received for name, port in ports.items()}

    def test_same_deliveries_as_on_task_clock(self) -> None:
        from vanet.sim.clock import VirtualClock

        virtual = self.run_on(VirtualClock())
        reference = self.run_on(task.Clock())
        self.assertEqual(len(virtual["a"]), 40)  # every answer came back
        for name in "abc":
            self.assertEqual(
                [f for _, f in virtual[name]], [f for _, f in reference[name]]
            )
            for (t1, _), (t2, _) in zip(virtual[name], reference[name]):
                self.assertAlmostEqual(t1, t2, places=9)
