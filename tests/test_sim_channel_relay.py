"""The netns relay's channel (``RelayChannel``): the channel model's
semantics exactly (the same frames, at the same times, lost by the same
seeded draws, FIFO per link), scheduled with one timer per link, and a
frame on a link with no delay or loss relayed at once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from tests.test_sim_channel import FakePort, frame_to
from vanet.mac import BROADCAST
from vanet.sim.channel import ChannelMedium, ChannelParams, RelayChannel


def build(cls, links, names=("a", "b", "c"), seed=7):
    clock = task.Clock()
    medium = cls(clock, seed=seed, links=links)
    ports = {name: FakePort(name, clock) for name in names}
    for port in ports.values():
        medium.attach(port)
    return clock, medium, ports


LINKS = {
    ("a", "b"): ChannelParams(latency_ms=5, jitter_ms=3, loss=0.2),
    ("a", "c"): ChannelParams(latency_ms=1),
    ("b", "a"): ChannelParams(latency_ms=2, jitter_ms=2),
    ("c", "a"): ChannelParams(),
    ("b", "c"): ChannelParams(loss=0.5),
}


class SameSemanticsTests(SynchronousTestCase):
    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from("abc"),
                st.sampled_from(["bcast", "a", "b", "c"]),
                st.integers(0, 4000),  # µs until the next send
            ),
            max_size=60,
        )
    )
    def test_relay_delivers_what_the_channel_model_delivers(self, sends) -> None:
        results = []
        for cls in (ChannelMedium, RelayChannel):
            clock, medium, ports = build(cls, LINKS)
            for i, (src, dst, gap_us) in enumerate(sends):
                to = BROADCAST if dst == "bcast" else ports[dst].mac
                medium.transmit(ports[src], frame_to(to, ports[src].mac, b"%d" % i))
                clock.advance(gap_us / 1e6)
            clock.advance(1.0)
            # Per link (receiver, sender): the same frames in the same order.
            # Across links a receiver may interleave them differently, and a
            # frame due at once arrives at once, not at the clock's next step.
            per_link = {
                (n, src): [f for _, f in p.received if f[6:12] == ports[src].mac]
                for n, p in ports.items()
                for src in ports
            }
            results.append(
                (
                    per_link,
                    medium.channel_table(),
                    {n: medium.node_stats(n) for n in ports},
                )
            )
        self.assertEqual(results[0], results[1])

    def test_a_frame_arrives_its_latency_after_it_was_sent(self) -> None:
        clock, medium, ports = build(RelayChannel, LINKS)
        a, c = ports["a"], ports["c"]
        clock.advance(0.5)
        medium.transmit(a, frame_to(c.mac, a.mac))
        clock.advance(0.000999)
        self.assertEqual(c.received, [])
        clock.advance(0.000001)
        self.assertEqual([t for t, _ in c.received], [0.501])


class ImmediateTests(SynchronousTestCase):
    def test_a_link_without_delay_or_loss_relays_at_once_without_a_timer(self):
        clock, medium, ports = build(RelayChannel, {("c", "a"): ChannelParams()})
        view = memoryview(bytearray(frame_to(ports["a"].mac, ports["c"].mac)))
        medium.transmit(ports["c"], view)
        self.assertEqual(len(ports["a"].received), 1)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(medium.in_flight, 0)

    def test_one_timer_per_link_however_many_frames(self):
        clock, medium, ports = build(
            RelayChannel,
            {("a", "b"): ChannelParams(latency_ms=1), ("a", "c"): ChannelParams(3)},
        )
        for i in range(50):
            medium.transmit(ports["a"], frame_to(BROADCAST, ports["a"].mac, b"%d" % i))
        self.assertEqual(len(clock.getDelayedCalls()), 2)
        self.assertEqual(medium.in_flight, 100)
        clock.advance(0.001)
        self.assertEqual(len(ports["b"].received), 50)
        self.assertEqual(len(ports["c"].received), 0)
        clock.advance(0.002)
        self.assertEqual(len(ports["c"].received), 50)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_a_frame_does_not_overtake_frames_queued_on_its_link(self):
        # The link loses its delay while frames are in flight: the next
        # frame still comes after them (FIFO), not at once.
        clock, medium, ports = build(RelayChannel, {("a", "b"): ChannelParams(10)})
        a, b = ports["a"], ports["b"]
        medium.transmit(a, frame_to(b.mac, a.mac, b"first"))
        medium.set_params("a", "b", latency_ms=0)
        medium.transmit(a, frame_to(b.mac, a.mac, b"second"))
        self.assertEqual(b.frames, [])
        clock.advance(0.01)
        self.assertEqual(
            b.frames,
            [frame_to(b.mac, a.mac, b"first"), frame_to(b.mac, a.mac, b"second")],
        )
