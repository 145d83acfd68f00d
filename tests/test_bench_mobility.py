"""The mobility study script (benchmarks/bench_mobility.py) on a short,
small road: its measures are there and sane, its table and plot come out."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from unittest import mock

from twisted.trial.unittest import SynchronousTestCase

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_mobility.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_mobility", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class StudyTests(SynchronousTestCase):
    def test_a_short_study(self) -> None:
        bench = load_bench()
        result = bench.run(9, "rssi", seed=2, duration=20.0, sample_s=0.5)
        self.assertEqual(result["strategy"], "rssi")
        for key in ("delivery", "delivery_v2v", "coverage"):
            self.assertTrue(0 < result[key] <= 1, (key, result[key]))
        self.assertGreater(result["coverage"], 0.8)
        self.assertEqual(len(result["series"]), 40)
        self.assertGreaterEqual(result["handovers"], 0)
        text = bench.table([result])
        self.assertIn("rssi", text.splitlines()[1])
        self.assertTrue(text.startswith("STRATEGY  DELIVERY"))

        folder = Path(tempfile.mkdtemp())
        png = folder / "study.png"
        # matplotlib comes with the test extra: the plot is always drawn here.
        self.assertIsNone(bench.plot([result], str(png), 5.0))
        self.assertEqual(png.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(png.stat().st_size, 10_000)  # axes, lines, labels
        with mock.patch.dict(sys.modules, {"matplotlib": None}):
            self.assertIn(
                "matplotlib is not installed", bench.plot([result], str(png), 5.0)
            )
