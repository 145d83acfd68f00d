"""The routing cores keep their tables incrementally (re-ranking only what a
message touched). After any sequence of messages, ticks and send failures
they must hold what a full rebuild from their state holds, and emit the
same events, in the same order, as rebuilding everything on every call."""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from vanet.discovery import load_strategy
from vanet.node.testing import CoreNetwork, heartbeat_view, reply_view
from vanet.routing.actions import RouteEvent, SendHeartbeat
from vanet.routing.events import EventRecorder
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.routes import build_routes, diff_routes
from vanet.routing.rsu import RsuRoutingCore
from vanet.routing.strategies import LatencyStrategy
from vanet.routing.summary import summarize

ME = bytes.fromhex("020000000001")
RSUS = [bytes.fromhex("02000000aa01"), bytes.fromhex("02000000aa02")]
OBUS = [bytes.fromhex(f"0200000000{i:02x}") for i in range(2, 8)]
BOUNDS = dict(hello_history=4, cached_candidates=2, max_observations=12)


class FullRebuildObu(ObuRoutingCore):
    """Rebuilds every candidate (and, when routes are due, every route) on
    every call: what the OBU core did before it became incremental."""

    def _refresh(self, now, failed=None, routes=False):
        self._everything_dirty()
        self._recheck_at = float("-inf")
        return super()._refresh(now, failed, routes)


class SpiedObu(ObuRoutingCore):
    """The incremental core, noting when it last brought its routes up to
    date (ticks and failed sends do; calls that drop their input return
    before refreshing, as they always did)."""

    refreshed_at = None

    def _refresh(self, now, failed=None, routes=False):
        if routes:
            self.refreshed_at = now
        return super()._refresh(now, failed, routes)


neighbour = st.sampled_from(OBUS + RSUS[:1])
source = st.sampled_from(RSUS)
seq = st.integers(0, 7)
hops = st.integers(1, 5)
obu_event = st.one_of(
    st.tuples(st.just("hb"), neighbour, source, seq, hops),
    st.tuples(
        st.just("reply"),
        neighbour,
        source,
        seq,
        st.integers(1, 9),
        st.sampled_from(OBUS + [ME]),
    ),
    st.tuples(st.just("tick")),
    st.tuples(st.just("fail"), neighbour),
)
obu_events = st.lists(st.tuples(obu_event, st.floats(0, 1.2)), max_size=80)


def route_events(actions) -> list[RouteEvent]:
    return [
        a for a in actions if isinstance(a, RouteEvent) and a.event.startswith("route_")
    ]


def table_view(table) -> dict:
    return {target: list(cands) for target, cands in table.items()}


def reference_upstream(core, source, now):
    """Upstream candidates toward ``source`` as ``summarize`` builds them
    from every live arrival (what the core read before it kept running
    sums): min and avg of the offsets (arrival ms - duration, relative to
    the first one seen, in 1/1024 ms), less the fastest offset held."""
    state = core._sources[source]
    live = core._live_neighbours(state, now)
    if not live:
        return []

    def offset(at, duration_ms):
        return round((at * 1000 - duration_ms - state.ref) * 1024) / 1024

    base = min(
        offset(at, heard.duration_ms)
        for heard in state.seqs.values()
        for _, at in heard.arrivals.values()
    )
    observations = [
        (n, hops, offset(at, heard.duration_ms))
        for _, heard in sorted(state.seqs.items())
        for n, (hops, at) in heard.arrivals.items()
        if n in live
    ]
    # loss: the share of the held seq range the neighbour did not deliver
    window = max(state.seqs) - min(state.seqs) + 1
    delivered = {
        n: sum(n in heard.arrivals for heard in state.seqs.values()) for n in live
    }
    return [
        attrs.evolve(
            c,
            min_ms=c.min_ms - base,
            avg_ms=c.avg_ms - base,
            loss=1 - delivered[c.next_hop] / window,
        )
        for c in summarize(source, observations)
    ]


class ObuIncrementalTests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None)
    @given(obu_events, st.sampled_from(["latency", "hops"]))
    def test_same_as_full_rebuild(self, sequence, strategy_name):
        strategy = load_strategy(strategy_name)
        core = SpiedObu(ME, strategy, **BOUNDS)
        full = FullRebuildObu(ME, strategy, **BOUNDS)
        reference = EventRecorder()
        previous: dict = {}
        now = 0.0
        for ev, dt in sequence:
            now += dt
            core.refreshed_at = None
            msg = None
            if ev[0] == "hb":
                _, src, rsu, s, h = ev
                msg = heartbeat_view(src, rsu, s, hops=h, duration_ms=s * 1000)
            elif ev[0] == "reply":
                _, src, rsu, s, h, sender = ev
                msg = reply_view(src, ME, rsu, s, sender, hops=h, duration_ms=s * 1000)
            results = []
            for c in (core, full):
                if ev[0] == "tick":
                    results.append(c.tick(now))
                elif ev[0] == "fail":
                    results.append(c.on_send_failed(ev[1], now))
                else:
                    results.append(c.on_message(msg, now))
            # Frames and events, in order, as a rebuild on every call.
            self.assertEqual(results[0], results[1], ev)
            self.assertEqual(core.upstream, full.upstream)
            self.assertEqual(core.gateway, full.gateway)
            self.assertEqual(core.upstream_candidates, full.upstream_candidates)
            # Routes as rebuilt from scratch over the live observations,
            # and route events as a diff of two such rebuilds.
            if core.refreshed_at != now:
                self.assertEqual(route_events(results[0]), [])
                continue
            rebuilt = build_routes(
                strategy, core._live_reply_logs(now), ME, core._demoted
            )
            self.assertEqual(table_view(core._ranked_routes), rebuilt)
            best = {t: cands[0] for t, cands in rebuilt.items()}
            expected = diff_routes(reference, previous, best)
            self.assertEqual(route_events(results[0]), expected)
            previous = best
            for target in OBUS + RSUS:
                route = core.route_to(target, now)
                self.assertEqual(route, best[target].next_hop if route else None)
        self.assertEqual(core.status(now), full.status(now))
        for rsu, state in core._sources.items():
            self.assertEqual(
                state.candidates(rsu, core._live_neighbours(state, now)),
                reference_upstream(core, rsu, now),
            )


class ReversedRoutes(LatencyStrategy):
    """Ranks routes its own way (highest MAC first) through ``route_key``:
    the cores must rank with it, not with the shipped strategy's order."""

    name = "reversed-routes"

    @staticmethod
    def route_key(c):
        return -int.from_bytes(c.next_hop, "big")


class RouteKeyTests(SynchronousTestCase):
    def test_overridden_route_key_is_used(self):
        strategy = ReversedRoutes()
        core = RsuRoutingCore(ME, strategy, started=0.0)
        (hb,) = [a for a in core.heartbeat(0.0) if isinstance(a, SendHeartbeat)]
        duration_ms = hb.duration_ms
        vehicle = OBUS[0]
        # Fewer hops and lower latency through OBUS[1], but the strategy
        # prefers the highest MAC.
        for via, hops, at in ((OBUS[1], 2, 0.01), (OBUS[3], 3, 0.05)):
            reply = reply_view(
                via, ME, ME, 0, vehicle, hops=hops, duration_ms=duration_ms
            )
            core.on_message(reply, at)
        core.tick(0.05)
        self.assertEqual(core.route_to(vehicle, 0.05), OBUS[3])
        self.assertEqual(
            [c.next_hop for c in core._ranked[vehicle]], [OBUS[3], OBUS[1]]
        )


class RsuIncrementalTests(SynchronousTestCase):
    rsu_event = st.one_of(
        st.tuples(st.just("hb")),
        st.tuples(
            st.just("reply"),
            st.sampled_from(OBUS),
            st.integers(0, 6),
            st.integers(1, 6),
            st.sampled_from(OBUS),
        ),
        st.tuples(st.just("fail"), st.sampled_from(OBUS)),
        st.tuples(st.just("tick")),
    )

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(st.tuples(rsu_event, st.floats(0, 1.2)), max_size=80),
        st.sampled_from(["latency", "hops", "reversed"]),
    )
    def test_same_as_full_rebuild(self, sequence, strategy_name):
        strategy = (
            ReversedRoutes()
            if strategy_name == "reversed"
            else load_strategy(strategy_name)
        )
        core = RsuRoutingCore(
            ME, strategy, hello_history=4, started=0.0, max_observations=6
        )
        reference = EventRecorder()
        previous: dict = {}
        sent: dict[int, int] = {}
        now = 0.0
        for ev, dt in sequence:
            now += dt
            if ev[0] == "hb":
                actions = core.heartbeat(now)
                duration_ms, s = actions[0].duration_ms, actions[0].seq
                sent[s] = duration_ms
            elif ev[0] == "tick":
                actions = core.tick(now)
            elif ev[0] == "fail":
                actions = core.on_send_failed(ev[1], now)
            else:
                _, src, s, h, sender = ev
                reply = reply_view(
                    src, ME, ME, s, sender, hops=h, duration_ms=sent.get(s, 0)
                )
                actions = core.on_message(reply, now)
                if not core._pending or route_events(actions):
                    pass  # a demoted hop came back: everything was re-ranked
                else:
                    # Routes wait for the next tick, heartbeat or failure.
                    self.assertEqual(route_events(actions), [])
                    continue
            rebuilt = build_routes(strategy, core._live_reply_sets(), ME, core._demoted)
            self.assertEqual(table_view(core._ranked), rebuilt)
            best = {t: cands[0] for t, cands in rebuilt.items()}
            self.assertEqual(
                route_events(actions), diff_routes(reference, previous, best)
            )
            previous = best
            self.assertEqual(core.vehicles(now), sorted(best))


class GridIncrementalTests(SynchronousTestCase):
    """A 4x4 grid of OBUs with two RSUs, run with incremental cores and with
    full-rebuild cores: every node ends with the same upstream and routes,
    and the same route events happened at the same times."""

    def build(self, obu_class):
        clock = Clock()
        net = CoreNetwork(clock)
        strategy = load_strategy()
        side = 4
        macs = {}
        for row in range(side):
            for col in range(side):
                point = row * side + col
                if point in (0, 15):
                    mac = bytes.fromhex(f"02000000aa{point:02x}")
                    net.add(RsuRoutingCore(mac, strategy, started=0.0))
                else:
                    mac = bytes.fromhex(f"0200000000{point:02x}")
                    net.add(obu_class(mac, strategy))
                macs[(row, col)] = mac
        for (row, col), mac in macs.items():
            for other in ((row, col + 1), (row + 1, col)):
                if other in macs:
                    net.link(mac, macs[other], 2 + (row * 7 + col * 3) % 9)
        net.start(1.0)
        return net, clock, macs

    def run_for(self, net, clock, seconds):
        for _ in range(int(seconds * 100)):
            clock.advance(0.01)

    def test_grid_matches_full_rebuild(self):
        fast, fast_clock, macs = self.build(ObuRoutingCore)
        slow, slow_clock, _ = self.build(FullRebuildObu)
        for net, clock in ((fast, fast_clock), (slow, slow_clock)):
            self.run_for(net, clock, 6)
            # A vehicle falls silent: routes through it must be lost and
            # upstreams fail over, the same way in both.
            net.silent.add(macs[(1, 1)])
            self.run_for(net, clock, 4)
        for mac in macs.values():
            a, b = fast.cores[mac], slow.cores[mac]
            self.assertEqual(
                a.status(fast_clock.seconds()), b.status(slow_clock.seconds())
            )
        self.assertEqual(
            [(t, m, e) for t, m, e in fast.events],
            [(t, m, e) for t, m, e in slow.events],
        )
        self.assertTrue(any(e.event == "route_lost" for _, _, e in fast.events))
        self.assertTrue(
            all(
                fast.cores[m].upstream is not None
                for m in macs.values()
                if isinstance(fast.cores[m], ObuRoutingCore) and m != macs[(1, 1)]
            )
        )
