"""The engine's periodic call: a fixed schedule on any IReactorTime, no
drift, missed runs skipped, a failing run logged and the schedule kept."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from vanet.node.periodic import Periodic


class PeriodicTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.calls: list[float] = []

    def record(self) -> None:
        self.calls.append(self.clock.seconds())

    def test_now_runs_at_once_then_every_interval(self) -> None:
        loop = Periodic(self.clock, self.record, 0.25)
        loop.start()
        self.assertEqual(self.calls, [0.0])
        self.clock.pump([0.0625] * 16)
        self.assertEqual(self.calls, [0.0, 0.25, 0.5, 0.75, 1.0])

    def test_later_start_waits_one_interval(self) -> None:
        Periodic(self.clock, self.record, 1.0).start(now=False)
        self.assertEqual(self.calls, [])
        self.clock.advance(1.0)
        self.assertEqual(self.calls, [1.0])

    def test_no_drift_over_many_periods(self) -> None:
        Periodic(self.clock, self.record, 0.125).start(now=False)
        for _ in range(1000):
            self.clock.advance(0.125)
        # Each run at k * interval, not at the sum of the delays before it.
        self.assertEqual(self.calls, [k * 0.125 for k in range(1, 1001)])

    def test_float_steps_of_a_clock_miss_no_run(self) -> None:
        # 0.1 s steps sum to a hair under or over each slot's time.
        Periodic(self.clock, self.record, 0.1).start(now=False)
        for _ in range(1000):
            self.clock.advance(0.1)
        self.clock.advance(0.05)
        self.assertEqual(len(self.calls), 1000)

    def test_a_late_clock_skips_missed_runs(self) -> None:
        Periodic(self.clock, self.record, 1.0).start()
        self.clock.advance(3.5)  # one jump over three slots
        self.assertEqual(self.calls, [0.0, 3.5])
        self.clock.advance(0.5)
        self.assertEqual(self.calls, [0.0, 3.5, 4.0])

    def test_stop_cancels_and_running_says_so(self) -> None:
        loop = Periodic(self.clock, self.record, 1.0)
        loop.start()
        self.assertTrue(loop.running)
        loop.stop()
        self.assertFalse(loop.running)
        self.clock.advance(5)
        self.assertEqual(self.calls, [0.0])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_a_failing_run_is_logged_and_the_schedule_goes_on(self) -> None:
        def flaky() -> None:
            self.record()
            if len(self.calls) == 2:
                raise RuntimeError("boom")

        Periodic(self.clock, flaky, 1.0).start()
        self.clock.advance(1)
        self.clock.advance(1)
        self.assertEqual(self.calls, [0.0, 1.0, 2.0])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_interval_must_be_positive(self) -> None:
        self.assertRaises(ValueError, Periodic, self.clock, self.record, 0)
