"""Hand-overs counted from sampled gateways: direct switches, switches
through a gap, and the same RSU found again (not a hand-over)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from vanet.sim.handovers import HandoverTracker


class HandoverTrackerTests(SynchronousTestCase):
    def test_direct_gap_and_same_again(self) -> None:
        tracker = HandoverTracker(period_s=0.2)
        timeline = [
            (0.0, {"a": "r1", "b": None}),
            (0.2, {"a": "r2", "b": "r1"}),  # a: direct switch
            (0.4, {"a": None, "b": None}),
            (0.6, {"a": None, "b": "r1"}),  # b: the same RSU again
            (0.8, {"a": "r3", "b": "r1"}),  # a: through a gap of 0.4 s
        ]
        for now, gateways in timeline:
            tracker.observe(now, gateways)
        self.assertEqual((tracker.count("a"), tracker.count("b")), (2, 0))
        self.assertEqual(tracker.count("nobody"), 0)
        self.assertEqual(len(tracker.interruptions_s), 2)
        self.assertEqual(tracker.interruptions_s[0], 0.0)
        self.assertAlmostEqual(tracker.interruptions_s[1], 0.4)
        summary = tracker.summary()
        self.assertEqual(summary["handovers"], 2)
        self.assertEqual(summary["interruption_p50_s"], 0.0)
        self.assertAlmostEqual(summary["interruption_p95_s"], 0.4)

    def test_nothing_seen(self) -> None:
        summary = HandoverTracker(0.2).summary()
        self.assertEqual(
            summary,
            {"handovers": 0, "interruption_p50_s": None, "interruption_p95_s": None},
        )
