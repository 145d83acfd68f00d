"""9. Random heartbeats and replies from random neighbours never raise,
never grow a table past its bound, never make a node its own upstream."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from vanet.discovery import load_strategy
from vanet.node.testing import frames, heartbeat_view, reply_view
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.rsu import RsuRoutingCore

ME = bytes.fromhex("020000000001")
MACS = [ME] + [bytes.fromhex(f"0200000000{i:02x}") for i in range(2, 12)]
BOUNDS = dict(
    hello_history=3,
    cached_candidates=2,
    max_sources=3,
    max_neighbours=4,
    max_observations=5,
)

mac = st.sampled_from(MACS)
# -1: the duration that matches seq (so replies meet known heartbeats).
duration = st.one_of(st.just(-1), st.integers(0, 20_000))
event = st.one_of(
    st.tuples(
        st.just("hb"),
        mac,
        mac,
        st.integers(0, 12),
        st.integers(1, 6),
        duration,
    ),
    st.tuples(
        st.just("reply"),
        mac,
        mac,
        st.integers(0, 12),
        st.integers(1, 6),
        st.integers(0, 20_000),
        mac,
    ),
    st.tuples(st.just("tick")),
    st.tuples(st.just("fail"), mac),
)
events = st.lists(st.tuples(event, st.floats(0, 1.5)), max_size=60)


def message(ev, dst, durations=None):
    if ev[0] == "hb":
        _, src, source, seq, hops, duration = ev
        if duration < 0:
            duration = seq * 1000
        return heartbeat_view(src, source, seq, hops=hops, duration_ms=duration)
    _, src, source, seq, hops, duration, sender = ev
    if duration < 0:
        duration = (durations or {}).get(seq, seq * 1000)
    return reply_view(src, dst, source, seq, sender, hops=hops, duration_ms=duration)


class RandomInputTests(SynchronousTestCase):
    def check_obu(self, core, now):
        size = core.memory()
        self.assertLessEqual(size["sources"], BOUNDS["max_sources"])
        self.assertLessEqual(size["heartbeats_per_source"], BOUNDS["hello_history"])
        self.assertLessEqual(size["neighbours"], BOUNDS["max_neighbours"])
        self.assertLessEqual(size["neighbours_per_source"], BOUNDS["max_neighbours"])
        self.assertLessEqual(size["arrivals_per_heartbeat"], BOUNDS["max_neighbours"])
        self.assertLessEqual(
            size["observations_per_heartbeat"], BOUNDS["max_observations"]
        )
        self.assertLessEqual(size["candidates"], BOUNDS["cached_candidates"])
        self.assertNotEqual(core.upstream, ME)
        self.assertNotEqual(core.gateway, ME)
        self.assertNotIn(ME, core.upstream_candidates)
        if core.upstream is not None:
            self.assertEqual(core.upstream_candidates[0], core.upstream)
        for target in MACS:
            self.assertNotEqual(core.route_to(target, now), ME)

    @settings(max_examples=150, deadline=None)
    @given(events, st.sampled_from(["latency", "hops"]))
    def test_obu(self, sequence, strategy):
        core = ObuRoutingCore(ME, load_strategy(strategy), **BOUNDS)
        now = 0.0
        for ev, dt in sequence:
            now += dt
            if ev[0] == "tick":
                actions = core.tick(now)
            elif ev[0] == "fail":
                actions = core.on_send_failed(ev[1], now)
            else:
                actions = core.on_message(message(ev, ME), now)
            # Every frame it asks for can be written, and none goes to itself.
            for _, next_hop, _ in frames(actions, src=ME):
                self.assertNotEqual(next_hop, ME)
            self.check_obu(core, now)
        self.assertIsInstance(core.status(now), dict)

    @settings(max_examples=100, deadline=None)
    @given(events)
    def test_rsu(self, sequence):
        core = RsuRoutingCore(
            ME, load_strategy(), hello_history=3, started=0.0, max_observations=5
        )
        now = 0.0
        sent = {}  # seq -> duration of the heartbeats it sent
        for ev, dt in sequence:
            now += dt
            if ev[0] == "tick":
                (hb, *_) = core.heartbeat(now)
                duration_ms, seq = hb.duration_ms, hb.seq
                sent[seq] = duration_ms
            elif ev[0] == "fail":
                core.on_send_failed(ev[1], now)
            else:
                core.on_message(message(ev, ME, sent), now)
            size = core.memory()
            self.assertLessEqual(size["heartbeats"], 3)
            self.assertLessEqual(size["observations_per_heartbeat"], 5)
            self.assertNotIn(ME, core.vehicles(now))
            self.assertEqual(len(core.vehicles(now)), size["routes"])
            for target in MACS:
                self.assertNotEqual(core.route_to(target, now), ME)
