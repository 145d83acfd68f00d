"""Per-flow delivery of a loss study against expectation over many seeds:
the mean relative deviation (a systematic deficit shows as a negative
mean), its spread, the worst seed and the runs outside the band.

    python scripts/lossy_margin.py [--config examples/lossy.ini] [--seeds 1-30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from vanet.sim.cli import seed_list
from vanet.sim.loader import load_topology
from vanet.sim.study import run_study

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(ROOT / "examples" / "lossy.ini"))
    parser.add_argument("--seeds", default="1-30")
    args = parser.parse_args(argv)
    study = run_study(load_topology(Path(args.config)), seed_list(args.seeds), 0.25)
    runs = study["seeds"]
    print(f"{'flow':18s} {'mean':>7s} {'sd':>6s} {'worst':>7s} (seed) misses")
    for plan in study["flows"]:
        if plan["expected"] is None:
            continue
        expected = plan["expected"]
        dev = [
            (run["flows"][plan["flow"]]["delivery"] / expected - 1, run["seed"])
            for run in runs
        ]
        values = [d for d, _ in dev]
        worst = min(dev)
        misses = [seed for d, seed in dev if abs(d) > study["tolerance"]]
        print(
            f"{plan['flow']:18s} {100 * statistics.mean(values):+6.1f}% "
            f"{100 * statistics.pstdev(values):5.1f}% {100 * worst[0]:+6.1f}% "
            f"({worst[1]}) {misses}"
        )
    verdict = study["verdict"]
    print(
        f"cycles: {verdict['samples_with_cycle']} of {verdict['samples']} samples; "
        f"within: {verdict['deliveries_within']} of {verdict['deliveries_judged']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
