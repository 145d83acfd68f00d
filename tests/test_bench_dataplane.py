"""``benchmarks/bench_dataplane.py --quick`` end to end (root, iperf3), so
the benchmark cannot rot: every table row is printed with a figure, and it
leaves no namespace behind. Its figures are not judged here (speed goals
live in benchmarks/)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests import netns

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_dataplane.py"
ROWS = (
    "bare veth pair",
    "Python TAP forwarder",
    "overlay, 1 hop, veth",
    "the same, io = socket",
    "vanet-sim netns, 1 hop",
    "vanet-sim netns, 3 hops",
)


def namespaces() -> set[str]:
    from pyroute2 import netns as pyroute2_netns

    return set(pyroute2_netns.listnetns())


class BenchDataplaneQuickTests(SynchronousTestCase):
    def test_quick_run_prints_every_figure_and_cleans_up(self) -> None:
        netns.skip_unless_root_netns()
        netns.skip_unless_tun()
        if shutil.which("iperf3") is None:
            raise SkipTest("needs iperf3 (apt-get install iperf3)")
        before = namespaces()
        result = subprocess.run(
            [sys.executable, str(BENCH), "--quick"],
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ),
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        out = result.stdout
        for row in ROWS:
            (line,) = [
                line for line in out.splitlines() if line.strip().startswith(row)
            ]
            figures = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", line[28:])]
            self.assertGreaterEqual(len(figures), 2, line)
            self.assertTrue(all(x > 0 for x in figures), line)
        # The CPU split (user + system us a frame) of each measured path.
        for row in ROWS[1:]:
            (line,) = [
                line
                for line in out.splitlines()
                if line.startswith("cpu " + row.strip())
            ]
            figures = [float(x) for x in re.findall(r"\d+\.\d+", line[28:])]
            self.assertEqual(len(figures), 4, line)
            self.assertGreater(sum(figures), 0, line)
        for mode in ("off", "on"):
            (line,) = [line for line in out.splitlines() if line.startswith(mode + " ")]
            one, loss, p50, p99, total, least, fairness = (
                float(x) for x in re.findall(r"\d+(?:\.\d+)?", line)
            )
            self.assertGreater(one, 0, line)
            self.assertLess(loss, 100, line)
            self.assertLessEqual(p50, p99, line)
            self.assertGreaterEqual(total, least, line)
            self.assertTrue(0.2 <= fairness <= 1.0, line)
        self.assertIn("encryption on / off", out)
        self.assertEqual(namespaces() - before, set())
