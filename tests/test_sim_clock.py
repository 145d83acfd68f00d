"""VirtualClock: an IReactorTime that behaves like task.Clock."""

from __future__ import annotations

from twisted.internet.error import AlreadyCalled, AlreadyCancelled
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall, deferLater
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.sim.clock import VirtualClock


class VirtualClockTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = VirtualClock()
        self.fired: list[tuple[str, float]] = []

    def note(self, label: str) -> None:
        self.fired.append((label, self.clock.seconds()))

    def test_provides_the_interfaces(self) -> None:
        self.assertTrue(verifyObject(IReactorTime, self.clock))
        call = self.clock.callLater(1, self.note, "a")
        self.assertTrue(verifyObject(IDelayedCall, call))

    def test_start_time(self) -> None:
        self.assertEqual(VirtualClock(100.0).seconds(), 100.0)
        self.assertEqual(self.clock.seconds(), 0.0)

    def test_calls_run_in_time_order_ties_in_scheduling_order(self) -> None:
        self.clock.callLater(3, self.note, "c")
        self.clock.callLater(1, self.note, "a")
        self.clock.callLater(2, self.note, "b1")
        self.clock.callLater(2, self.note, "b2")
        self.clock.callLater(0, self.note, "now")
        self.clock.run_until(10)
        self.assertEqual(
            self.fired, [("now", 0), ("a", 1), ("b1", 2), ("b2", 2), ("c", 3)]
        )

    def test_arguments_are_passed(self) -> None:
        got = []
        self.clock.callLater(1, lambda *a, **k: got.append((a, k)), 1, 2, x=3)
        self.clock.advance(1)
        self.assertEqual(got, [((1, 2), {"x": 3})])

    def test_negative_delay_runs_now_not_in_the_past(self) -> None:
        self.clock.advance(5)
        self.clock.callLater(-1, self.note, "late")
        self.clock.advance(0)
        self.assertEqual(self.fired, [("late", 5)])

    def test_calls_scheduled_while_running_run_in_the_same_pass(self) -> None:
        def first() -> None:
            self.note("first")
            self.clock.callLater(0.5, self.note, "second")
            self.clock.callLater(5, self.note, "too late")

        self.clock.callLater(1, first)
        self.clock.run_until(2)
        self.assertEqual(self.fired, [("first", 1), ("second", 1.5)])
        self.assertEqual(self.clock.pending, 1)

    def test_run_until_ends_at_the_given_time(self) -> None:
        self.clock.callLater(1, self.note, "a")
        self.clock.run_until(4.5)
        self.assertEqual(self.clock.seconds(), 4.5)
        # Not backwards.
        self.clock.run_until(2)
        self.assertEqual(self.clock.seconds(), 4.5)
        # Time reads as the call's own time while it runs.
        self.assertEqual(self.fired, [("a", 1)])

    def test_advance_is_relative(self) -> None:
        self.clock.advance(2)
        self.clock.callLater(1, self.note, "a")
        self.clock.advance(0.999)
        self.assertEqual(self.fired, [])
        self.clock.advance(0.001)
        self.assertEqual(self.fired, [("a", 3)])

    def test_cancel(self) -> None:
        call = self.clock.callLater(1, self.note, "cancelled")
        self.clock.callLater(2, self.note, "kept")
        self.assertEqual(self.clock.pending, 2)
        call.cancel()
        self.assertFalse(call.active())
        self.assertEqual(self.clock.pending, 1)
        self.assertRaises(AlreadyCancelled, call.cancel)
        self.assertRaises(AlreadyCancelled, call.reset, 1)
        self.clock.run_until(3)
        self.assertEqual(self.fired, [("kept", 2)])
        self.assertEqual(self.clock.pending, 0)

    def test_called_calls_cannot_be_cancelled(self) -> None:
        call = self.clock.callLater(1, self.note, "a")
        self.clock.advance(1)
        self.assertFalse(call.active())
        self.assertRaises(AlreadyCalled, call.cancel)
        self.assertRaises(AlreadyCalled, call.reset, 1)
        self.assertRaises(AlreadyCalled, call.delay, 1)

    def test_reset_moves_a_call_and_runs_it_once(self) -> None:
        call = self.clock.callLater(1, self.note, "a")
        self.clock.advance(0.5)
        call.reset(2)  # from now: due at 2.5
        self.assertEqual(call.getTime(), 2.5)
        self.assertEqual(self.clock.pending, 1)
        self.clock.run_until(2)
        self.assertEqual(self.fired, [])
        self.clock.run_until(10)
        self.assertEqual(self.fired, [("a", 2.5)])
        self.assertEqual(self.clock.pending, 0)

    def test_reset_earlier(self) -> None:
        call = self.clock.callLater(5, self.note, "a")
        self.clock.callLater(2, self.note, "b")
        call.reset(1)
        self.clock.run_until(10)
        self.assertEqual(self.fired, [("a", 1), ("b", 2)])

    def test_delay_adds_to_the_due_time(self) -> None:
        call = self.clock.callLater(1, self.note, "a")
        self.clock.advance(0.5)
        call.delay(2)
        self.assertEqual(call.getTime(), 3)
        self.clock.run_until(10)
        self.assertEqual(self.fired, [("a", 3)])

    def test_get_delayed_calls(self) -> None:
        a = self.clock.callLater(2, self.note, "a")
        b = self.clock.callLater(1, self.note, "b")
        c = self.clock.callLater(3, self.note, "c")
        a.reset(4)
        c.cancel()
        self.assertEqual(self.clock.getDelayedCalls(), [b, a])
        self.clock.advance(1)
        self.assertEqual(self.clock.getDelayedCalls(), [a])

    def test_looping_call(self) -> None:
        loop = LoopingCall(self.note, "tick")
        loop.clock = self.clock
        loop.start(0.25, now=True)
        self.clock.run_until(1.0)
        self.assertEqual([t for _, t in self.fired], [0, 0.25, 0.5, 0.75, 1.0])
        loop.stop()
        self.assertEqual(self.clock.pending, 0)
        self.clock.run_until(2.0)
        self.assertEqual(len(self.fired), 5)

    def test_looping_call_over_a_long_jump(self) -> None:
        # Unlike one task.Clock.advance(), run_until runs every interval.
        loop = LoopingCall(self.note, "tick")
        loop.clock = self.clock
        loop.start(1.0, now=False)
        self.clock.run_until(100.0)
        self.assertEqual(len(self.fired), 100)
        loop.stop()

    def test_defer_later(self) -> None:
        d = deferLater(self.clock, 2, lambda: "done")
        self.assertNoResult(d)
        self.clock.advance(2)
        self.assertEqual(self.successResultOf(d), "done")

    def test_an_exception_propagates_and_the_clock_goes_on(self) -> None:
        def boom() -> None:
            raise ZeroDivisionError

        self.clock.callLater(1, boom)
        self.clock.callLater(2, self.note, "after")
        self.assertRaises(ZeroDivisionError, self.clock.run_until, 5)
        self.assertEqual(self.clock.seconds(), 1)
        self.clock.run_until(5)
        self.assertEqual(self.fired, [("after", 2)])
        self.assertEqual(self.clock.pending, 0)

    def test_many_calls(self) -> None:
        import random

        rng = random.Random(5)
        delays = [rng.uniform(0, 100) for _ in range(5000)]
        order: list[float] = []
        for delay in delays:
            self.clock.callLater(delay, lambda d=delay: order.append(d))
        self.assertEqual(self.clock.pending, 5000)
        self.clock.run_until(100)
        self.assertEqual(order, sorted(delays))
        self.assertEqual(self.clock.pending, 0)


class RunAheadTests(SynchronousTestCase):
    """run_ahead: a running call may move time on to ``when`` only if no
    other call is due by then and run_until goes that far."""

    def test_moves_time_when_nothing_else_is_due(self) -> None:
        clock = VirtualClock()
        seen = []

        def first() -> None:
            seen.append(clock.run_ahead(0.5))
            seen.append(clock.seconds())

        clock.callLater(0.1, first)
        clock.callLater(0.7, lambda: seen.append(("later", clock.seconds())))
        clock.run_until(1.0)
        self.assertEqual(seen, [True, 0.5, ("later", 0.7)])

    def test_refuses_past_a_scheduled_call_or_the_bound(self) -> None:
        clock = VirtualClock()
        seen = []

        def first() -> None:
            seen.append(clock.run_ahead(0.3))  # a call is due at 0.2
            seen.append(clock.run_ahead(0.2))  # ... and at 0.2 exactly
            seen.append(clock.run_ahead(5.0))  # past run_until's 1.0
            seen.append(clock.seconds())

        clock.callLater(0.1, first)
        clock.callLater(0.2, lambda: None)
        clock.run_until(1.0)
        self.assertEqual(seen, [False, False, False, 0.1])

    def test_cancelled_calls_do_not_hold_it_back(self) -> None:
        clock = VirtualClock()
        seen = []
        clock.callLater(0.1, lambda: seen.append(clock.run_ahead(0.5)))
        clock.callLater(0.2, lambda: None).cancel()
        clock.run_until(1.0)
        self.assertEqual(seen, [True])

    def test_outside_run_until_it_refuses(self) -> None:
        self.assertFalse(VirtualClock().run_ahead(1.0))
