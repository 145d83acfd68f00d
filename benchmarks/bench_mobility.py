"""The mobility study: routing strategies on the moving highway.

    python benchmarks/bench_mobility.py                      # 5 min, 30 vehicles
    python benchmarks/bench_mobility.py --duration 60 --vehicles 12 --plot none
    python benchmarks/bench_mobility.py --strategies latency rssi --json

Three RSUs 1 km apart beside a 3 km three-lane road; vehicles at 20–35 m/s
desired speed (IDM), re-entering at the start; links from distance with
Nakagami-m fading (the [radio] defaults: 500 m range). Every strategy runs
the same road, seed and traffic, in-process on the virtual clock.

Traffic: uplink flows from a third of the vehicles toward the wired side,
and vehicle-to-vehicle flows between a vehicle and the one behind it in
its lane (through their gateway, while they share one: RSUs share no
backbone, and the two drift apart when the one behind is slower).

Per strategy it prints:

- delivery: uplink frames that reached the wired side through any RSU
  (read from any RSU's TAP) / sent, the measure of a vehicle's access to
  the network; v2v: received / sent;
- coverage: the share of time a vehicle has a gateway that has a route to
  it (sampled every ``--sample`` s after the warm-up), over all vehicles;
- hand-overs: gateway changes from one RSU to another, also through a gap
  without one (``vanet.sim.handovers``, sampled at every radio update,
  200 ms), and route changes (the cores' ``upstream_switched`` events);
- interruption per hand-over (median, p95): from the last sample with the
  old gateway to the first with the new one, less one sample period (0:
  it switched between two samples).

With matplotlib (``pip install matplotlib``) it writes a PNG of delivery
and coverage over time per strategy (``--plot FILE``, default
``mobility-study.png``; ``none`` for no plot).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation, run_virtual
from vanet.sim.loader import load_topology
from vanet.sim.traffic import parse_test_frame

RSUS = ("rsu-west", "rsu-mid", "rsu-east")


def road(vehicles: int, strategy: str, seed: int) -> str:
    """The study's topology file."""
    text = f"""\
[sim]
seed = {seed}

[mobility]
model = highway
length_m = 3000
lanes = 3
speed_mps = 20-35
spacing_m = 100
rsu_start_m = 500
rsu_spacing_m = 1000

[radio]
"""
    for i, name in enumerate(RSUS):
        text += (
            f"\n[node:{name}]\nrole = rsu\nrouting.hello_period_ms = 1000\n"
            f"tap.address = 10.0.0.{i + 1}/24\n"
        )
    for i in range(1, vehicles + 1):
        text += (
            f"\n[node:obu{i}]\nrole = obu\nrouting.hello_period_ms = 1000\n"
            f"routing.strategy = {strategy}\ntap.address = 10.0.{1 + i // 200}."
            f"{10 + i % 200}/16\n"
        )
    # a vehicle and the one behind it in its lane (three lanes): 100 m apart
    for i in range(1, vehicles - 2, 6):
        text += (
            f"\n[traffic:v2v-obu{i}-obu{i + 3}]\nfrom = obu{i}\nto = obu{i + 3}\n"
            "rate_per_s = 10\nsize = 200\n"
        )
    for i in range(2, vehicles + 1, 3):
        text += (
            f"\n[traffic:up-obu{i}]\nfrom = obu{i}\nto = rsu-mid\n"
            "rate_per_s = 10\nsize = 200\n"
        )
    return text


def run(
    vehicles: int, strategy: str, seed: int, duration: float, sample_s: float
) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "road.ini"
        path.write_text(road(vehicles, strategy, seed))
        topology = load_topology(path)
    simulation = Simulation(topology, VirtualClock())
    names = [name for name, spec in topology.nodes.items() if spec.role == "obu"]
    stats = simulation.flow_stats
    uplinks = [f for f in stats.flows() if f.name.startswith("up-")]
    uplink_ids = {f.flow_id for f in uplinks}
    rsu_taps = {simulation.nodes[name].config.tap.mac for name in RSUS}
    reached: set[tuple[int, int]] = set()
    count_tap_write = stats.on_received

    def on_received(frame, now, receiver_mac=None):
        # An uplink frame read from any RSU's TAP reached the wired side.
        if receiver_mac is not None and bytes(receiver_mac) in rsu_taps:
            parsed = parse_test_frame(frame)
            if parsed is not None and parsed[0] in uplink_ids:
                reached.add(parsed[:2])
        return count_tap_write(frame, now, receiver_mac)

    stats.on_received = on_received
    timeline: dict[str, list[str | None]] = {name: [] for name in names}
    series: list[dict] = []
    last = {"sent": 0, "reached": 0}

    def sample(elapsed: float) -> None:
        info = {entry["name"]: entry for entry in simulation.node_info()}
        connected = 0
        for name in names:
            entry = info[name]
            gateway = entry["gateway_node"] if entry["rtt_ms"] is not None else None
            timeline[name].append(gateway)
            connected += gateway is not None
        sent = sum(stats.flow_summary(f.name)["sent"] for f in uplinks)
        series.append(
            {
                "t": round(elapsed, 3),
                "coverage": connected / len(names),
                "sent": sent - last["sent"],
                "received": len(reached) - last["reached"],
            }
        )
        last.update(sent=sent, reached=len(reached))

    wall = time.perf_counter()
    run_virtual(simulation, duration, step_s=sample_s, progress=sample)
    wall = time.perf_counter() - wall
    statuses = simulation.node_statuses()
    summary = simulation.flow_stats.summary()
    simulation.stopService()

    warm = int(simulation.warmup_s / sample_s) + 1
    covered = [g is not None for gs in timeline.values() for g in gs[warm:]]

    def delivery(prefix: str) -> float | None:
        flows = [f for name, f in summary.items() if name.startswith(prefix)]
        sent = sum(f["sent"] for f in flows)
        return sum(f["received"] for f in flows) / sent if sent else None

    uplink_sent = sum(summary[f.name]["sent"] for f in uplinks)

    events = [statuses[name].get("events", {}) for name in names]
    return {
        "strategy": strategy,
        "delivery": len(reached) / uplink_sent if uplink_sent else None,
        "delivery_v2v": delivery("v2v-"),
        "coverage": sum(covered) / len(covered) if covered else None,
        **simulation.handovers.summary(),
        "route_changes": sum(e.get("upstream_switched", 0) for e in events),
        "wall_s": round(wall, 1),
        "series": series,
    }


def table(results: list[dict]) -> str:
    def pct(value):
        return "-" if value is None else f"{100 * value:.1f}%"

    def sec(value):
        return "-" if value is None else f"{value:.1f}"

    head = (
        "STRATEGY  DELIVERY  V2V     COVERAGE  HANDOVERS  ROUTE_CHANGES  "
        "INTERRUPT_P50_S  INTERRUPT_P95_S  WALL_S"
    )
    lines = [head]
    for r in results:
        lines.append(
            f"{r['strategy']:<9} {pct(r['delivery']):>8}  {pct(r['delivery_v2v']):>6}  "
            f"{pct(r['coverage']):>8}  "
            f"{r['handovers']:>9}  {r['route_changes']:>13}  "
            f"{sec(r['interruption_p50_s']):>15}  {sec(r['interruption_p95_s']):>15}  "
            f"{r['wall_s']:>6}"
        )
    return "\n".join(lines)


def plot(results: list[dict], path: str, bucket_s: float) -> str | None:
    """Delivery and coverage over time per strategy; ``None`` if done, else
    why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install matplotlib)"
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for r in results:
        buckets: dict[int, list[dict]] = {}
        for point in r["series"]:
            buckets.setdefault(int(point["t"] // bucket_s), []).append(point)
        times, delivery = [], []
        for key in sorted(buckets):
            sent = sum(p["sent"] for p in buckets[key])
            if sent:
                times.append((key + 0.5) * bucket_s)
                delivery.append(sum(p["received"] for p in buckets[key]) / sent)
        top.plot(times, delivery, label=r["strategy"])
        bottom.plot(
            [p["t"] for p in r["series"]],
            [p["coverage"] for p in r["series"]],
            label=r["strategy"],
        )
    top.set_ylabel(f"uplink delivery ({bucket_s:g} s)")
    bottom.set_ylabel("gateway coverage")
    bottom.set_xlabel("simulated time (s)")
    for axes in (top, bottom):
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right")
    figure.suptitle("vanet mobility study: moving highway, 3 RSUs 1 km apart")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vehicles", type=int, default=30)
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", type=float, default=0.5, help="seconds")
    parser.add_argument("--strategies", nargs="+", default=["latency", "hops", "rssi"])
    parser.add_argument("--plot", default="mobility-study.png")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for strategy in args.strategies:
        results.append(
            run(args.vehicles, strategy, args.seed, args.duration, args.sample)
        )
        print(f"{strategy}: done in {results[-1]['wall_s']} s", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                [{k: v for k, v in r.items() if k != "series"} for r in results],
                indent=1,
            )
        )
    else:
        print(
            f"{args.vehicles} vehicles, 3 RSUs 1 km apart, {args.duration:g} s "
            f"simulated, seed {args.seed}"
        )
        print(table(results))
    if args.plot != "none":
        problem = plot(results, args.plot, max(10.0, args.duration / 30))
        print(problem or f"plot: {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
