"""``run_virtual`` tunes the garbage collector for the run only (issue 5
speed): whatever it changes is back as it was afterwards, even when the
run raises."""

from __future__ import annotations

import gc
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import VIRTUAL_RUN_GC_THRESHOLD, Simulation, run_virtual
from vanet.sim.loader import load_topology

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "highway.ini"


class GcTests(SynchronousTestCase):
    def setUp(self) -> None:
        threshold = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *threshold)
        gc.set_threshold(700, 10, 10)
        self.simulation = Simulation(load_topology(EXAMPLE), VirtualClock())
        self.addCleanup(self.simulation.stopService)

    def test_settings_during_and_after_the_run(self) -> None:
        seen = []

        def progress(elapsed: float) -> None:
            seen.append((gc.get_threshold(), gc.get_freeze_count() > 0))

        run_virtual(self.simulation, 2.0, progress=progress)
        self.assertEqual(
            seen, [((VIRTUAL_RUN_GC_THRESHOLD, 10, 10), True)] * 2, "during the run"
        )
        self.assertEqual(gc.get_threshold(), (700, 10, 10))
        self.assertEqual(gc.get_freeze_count(), 0)
        # The run did happen: the nodes exchanged frames.
        self.assertGreater(self.simulation.medium.channel_table()[0]["frames_sent"], 0)

    def test_restored_when_the_run_raises(self) -> None:
        def progress(elapsed: float) -> None:
            raise RuntimeError("stop here")

        self.assertRaises(
            RuntimeError, run_virtual, self.simulation, 2.0, 1.0, progress
        )
        self.assertEqual(gc.get_threshold(), (700, 10, 10))
        self.assertEqual(gc.get_freeze_count(), 0)
