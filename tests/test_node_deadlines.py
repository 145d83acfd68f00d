"""Housekeeping at the cores' deadlines: ``next_deadline`` on the routing
cores and the data planes, and the engine's one timer armed at the
earliest (docs/architecture.md, "When the OBU core decides")."""

from __future__ import annotations

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from vanet.dataplane.obu import ObuDataPlane
from vanet.dataplane.rsu import RsuDataPlane
from vanet.discovery import load_strategy
from vanet.node.engine import NodeEngine
from vanet.node.testing import heartbeat_view, reply_view, route_events
from vanet.routing.liveness import DECIDE_WITHIN, batch_due
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.rsu import RsuRoutingCore
from vanet.sim.clock import VirtualClock
from vanet.wire import writer_for

RSU = bytes.fromhex("020000000001")
N1 = bytes.fromhex("020000000011")
N2 = bytes.fromhex("020000000013")
ME = bytes.fromhex("020000000012")
V = bytes.fromhex("020000000021")
INF = float("inf")
P = 1.0  # heartbeat period (s)


class Identity:
    overhead = 0

    def seal(self, frame):
        return bytes(frame)

    def open(self, payload):
        return bytes(payload)


def near(testcase, value: float, expected: float, within: float = 1e-5) -> None:
    testcase.assertLessEqual(abs(value - expected), within, (value, expected))


def obu() -> ObuRoutingCore:
    return ObuRoutingCore(ME, load_strategy("latency"), default_period=P)


def heartbeat(core, seq: int, at: float, via: bytes = N1, hops: int = 1) -> list:
    """RSU's heartbeat ``seq`` (sent at ``seq`` periods) heard over ``via``."""
    view = heartbeat_view(via, RSU, seq, hops=hops, duration_ms=int(seq * P * 1000))
    return core.on_message(view, at)


class ObuDeadlineTests(SynchronousTestCase):
    def test_a_core_that_heard_nothing_has_nothing_due(self):
        core = obu()
        self.assertEqual(core.next_deadline(), INF)
        core.tick(5.0)
        self.assertEqual(core.next_deadline(), INF)

    def test_a_silent_upstream_is_due_right_after_its_two_periods(self):
        core = obu()
        for seq in range(3):
            heartbeat(core, seq, seq * P + 0.002)
        self.assertEqual(core.upstream, N1)
        last = 2 * P + 0.002
        # The waiting work (heartbeats of a known RSU) is due at the next
        # multiple of DECIDE_WITHIN periods, as the old ticks were.
        near(self, core.next_deadline(), DECIDE_WITHIN * P)
        core.tick(last)
        # Then the first instant the neighbour falls silent: two periods
        # after it was last heard (neighbour_timeout = 2), not a tick later.
        due = core.next_deadline()
        near(self, due, last + 2 * P)
        self.assertGreater(due, last + 2 * P)
        self.assertEqual(route_events(core.tick(due - 1e-3)), [])
        self.assertEqual(core.upstream, N1)
        events = route_events(core.tick(due))
        self.assertIn("upstream_lost", [e.event for e in events])
        self.assertIsNone(core.upstream)

    def test_calling_tick_early_is_harmless_and_the_deadline_stays(self):
        core = obu()
        for seq in range(3):
            heartbeat(core, seq, seq * P)
        core.tick(2 * P + 0.3)
        due = core.next_deadline()
        for early in (2.5, 3.0, 3.9):
            self.assertEqual(route_events(core.tick(early)), [])
            self.assertEqual(core.next_deadline(), due)
        self.assertEqual(core.upstream, N1)

    def test_a_deadline_that_came_moves_on(self):
        # Once ticked at its deadline, a core never asks to run again at
        # that instant (the engine would spin).
        core = obu()
        heartbeat(core, 0, 0.0)
        heartbeat(core, 0, 0.01, via=N2, hops=2)  # a copy, deferred
        heartbeat(core, 1, P)
        now = 0.0
        for _ in range(20):
            due = core.next_deadline()
            if due == INF:
                break
            self.assertGreater(due, now)
            now = due
            core.tick(now)
        self.assertEqual(core.next_deadline(), INF)
        self.assertIsNone(core.upstream)

    def test_our_advertisement_lapsing_is_a_deadline(self):
        # docs/protocol.md §4.8: the feasibility distance rises when what we
        # advertised stops counting; a neighbour that was not feasible may
        # become so at that instant.
        core = obu()
        heartbeat(core, 0, 0.0)
        core.tick(0.1)
        self.assertEqual(core.status(0.1)["feasibility_distance"], 1)
        lapse = core._adverts.next_change
        near(self, lapse, 2.5 * P)
        self.assertLessEqual(core.next_deadline(), lapse)

    def test_replies_are_weighed_within_the_batch_bound(self):
        core = obu()
        heartbeat(core, 0, 0.0)
        heartbeat(core, 1, P)
        core.tick(P + 0.01)
        reply = reply_view(N2, ME, RSU, 1, N2, hops=2, duration_ms=1000)
        core.on_message(reply, P + 0.1)  # a first route is made at once
        self.assertEqual(core.route_to(N2, P + 0.1), N2)
        core.tick(P + 0.1)
        due = core.next_deadline()
        self.assertGreater(due, P + 0.1 + DECIDE_WITHIN * P)
        # Another sample for the route: re-ranked within the bound.
        core.on_message(reply, P + 0.2)
        near(self, core.next_deadline(), P + DECIDE_WITHIN * P)


class RsuDeadlineTests(SynchronousTestCase):
    def test_only_changed_routes_make_a_deadline(self):
        core = RsuRoutingCore(RSU, load_strategy("latency"), started=0.0, period=P)
        self.assertEqual(core.next_deadline(), INF)
        core.tick(0.0)
        self.assertEqual(core.next_deadline(), INF)
        core.heartbeat(0.0)
        self.assertEqual(core.next_deadline(), INF)
        first = reply_view(N1, RSU, RSU, 0, N1, hops=1)
        core.on_message(first, 0.01)  # a first route is made at once
        self.assertEqual(core.route_to(N1, 0.01), N1)
        core.on_message(first, 0.02)  # another sample
        near(self, core.next_deadline(), DECIDE_WITHIN * P)
        core.tick(core.next_deadline())
        self.assertEqual(core.next_deadline(), INF)

    def test_waiting_work_is_due_on_the_quarter_period_grid(self):
        for now, due in ((0.0, 0.25), (0.1, 0.25), (0.25, 0.5), (7.99, 8.0)):
            near(self, batch_due(now, P), due)
        near(self, batch_due(1.0, 0.2), 1.05)

    def test_period_must_be_positive(self):
        with self.assertRaises(ValueError):
            RsuRoutingCore(RSU, load_strategy(), started=0.0, period=0)


class DataPlaneDeadlineTests(SynchronousTestCase):
    def test_held_frames_are_due_when_they_age_out(self):
        core = obu()
        plane = ObuDataPlane(ME, core, Identity(), hold_s=2.0)
        self.assertEqual(plane.next_deadline(), INF)
        plane.on_tap_frame(bytes(60), 1.0)
        due = plane.next_deadline()
        near(self, due, 3.0)
        plane.expire(3.0)  # held exactly hold_s: kept
        self.assertEqual(plane.counters["held"], 1)
        self.assertEqual(plane.drops["no_upstream"], 0)
        plane.expire(due)
        self.assertEqual(plane.drops["no_upstream"], 1)
        self.assertEqual(plane.next_deadline(), INF)

    def test_learnt_clients_are_due_at_their_ttl(self):
        core = RsuRoutingCore(RSU, load_strategy(), started=0.0)
        plane = RsuDataPlane(RSU, core, Identity())
        self.assertEqual(plane.next_deadline(), INF)
        plane.clients.learn(V, N1, 10.0)
        due = plane.next_deadline()
        near(self, due, 10.0 + plane.clients.ttl_s)
        plane.expire(due)
        self.assertEqual(len(plane.clients), 0)
        self.assertEqual(plane.next_deadline(), INF)


class Port:
    mac = ME

    def write(self, frame) -> None:
        pass


def engine(clock, core=None) -> NodeEngine:
    core = core if core is not None else obu()
    node = NodeEngine(
        name="obu",
        role="obu",
        mac=ME,
        routing=core,
        dataplane=ObuDataPlane(ME, core, Identity(), hold_s=2 * P),
        clock=clock,
        hello_period_s=P,
    )
    node.attach(Port(), None)
    return node


class EngineTimerTests(SynchronousTestCase):
    def test_an_idle_node_arms_no_timer(self):
        for clock in (task.Clock(), VirtualClock()):
            with self.subTest(clock=type(clock).__name__):
                node = engine(clock)
                node.start()
                self.assertEqual(clock.getDelayedCalls(), [])
                clock.advance(10 * P)
                self.assertEqual(node.routing.counters["upstream_selected"], 0)
                node.stop()

    def test_failover_happens_at_the_deadline_not_a_tick_later(self):
        for clock in (task.Clock(), VirtualClock()):
            with self.subTest(clock=type(clock).__name__):
                node = engine(clock)
                node.start()
                frames = []
                for seq in range(3):
                    clock.advance(P if seq else 0.123)
                    view = heartbeat_view(
                        N1, RSU, seq, hops=1, duration_ms=int(seq * P * 1000)
                    )
                    frames.append(clock.seconds())
                    for action in node.routing.on_message(view, clock.seconds()):
                        node._actions[type(action)](action)
                    node._rearm()
                self.assertEqual(node.routing.upstream, N1)
                last = frames[-1]
                # One timer, whatever is due.
                self.assertEqual(len(clock.getDelayedCalls()), 1)
                # The loss shows at last + 2 P (a task.Clock runs a call at
                # the end of the step that passes its time: small steps).
                while node.routing.upstream is not None:
                    clock.advance(0.0005)
                    self.assertLess(clock.seconds(), last + 3 * P)
                at = [e for _, e, _ in node._recent_events if e == "upstream_lost"]
                self.assertEqual(len(at), 1)
                (lost_at,) = [
                    t for t, e, _ in node._recent_events if e == "upstream_lost"
                ]
                near(self, lost_at, last + 2 * P, 0.0006)
                node.stop()
                self.assertEqual(clock.getDelayedCalls(), [])

    def test_an_earlier_deadline_moves_the_armed_timer(self):
        clock = task.Clock()
        node = engine(clock)
        node.start()
        node.tap_frame(bytes(60))  # held for want of an upstream: due in 2 P
        (call,) = clock.getDelayedCalls()
        near(self, call.getTime(), 2 * P)
        clock.advance(0.5)
        node.frame_received(_heartbeat_frame(N1, 0))
        # An upstream: the held frame went; the timer is armed for what
        # the core has due now, earlier than before.
        (call,) = clock.getDelayedCalls()
        self.assertLess(call.getTime(), 2 * P)

    def test_a_failing_tick_is_logged_and_retried_a_period_later(self):
        clock = task.Clock()
        node = engine(clock)
        node.start()
        node.tap_frame(bytes(60))

        def broken(now):
            raise RuntimeError("boom")

        node.routing.tick = broken
        clock.advance(2 * P + 0.01)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        (call,) = clock.getDelayedCalls()
        near(self, call.getTime(), 3 * P + 0.01)


def _heartbeat_frame(src: bytes, seq: int) -> bytes:
    buf = bytearray()
    n = writer_for("heartbeat").write(buf, src, int(seq * P * 1000), seq, 1, RSU)
    return bytes(buf[:n])
