"""Scale benchmark: a 1,000-OBU, 10-RSU grid in-process on a virtual clock.

    python benchmarks/bench_sim_scale.py            # 1,000 OBUs, 10 RSUs, 60 s
    python benchmarks/bench_sim_scale.py --obus 100 --rsus 2 --duration 20
    python benchmarks/bench_sim_scale.py --obus 100 --rsus 2 --duration 5 --profile
    python benchmarks/bench_sim_scale.py --authenticate both   # signed vs plain
    python benchmarks/bench_sim_scale.py --link both --repeat 3  # fused link vs MemoryPort

Vehicles sit on a square grid, each hearing its four neighbours (2–10 ms
links); RSUs replace grid points spread over the grid. Heartbeats every
second; OBUs relay an RSU's heartbeats up to one hop past where a nearer
RSU is heard (``--relay-scope``, ``none`` for the protocol's unbounded
flood). It prints the wall time, the ratio of simulated to wall time (the
target is faster than real time: at most 60 s wall for 60 s simulated), the
peak resident memory, how many OBUs ended with an upstream, and the frames
the channel model carried, with the wall and CPU time per frame carried.
``--link memory`` wires every node through a ``MemoryPort`` instead of the
channel's fused ``ChannelPort`` (the same frames at the same virtual
times); ``--link both`` alternates the two ``--repeat`` times and prints
medians. ``--authenticate both`` runs the same grid
without and with ``[sim] authenticate`` (signed heartbeats and replies,
docs/protocol.md §2.7), alternating ``--repeat`` times, and prints the
median wall times side by side and their ratio.
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import statistics
import sys
import time

import attrs

from vanet.sim.channel import ChannelParams
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation, run_virtual
from vanet.sim.topology import NodeSpec, SimSettings, Topology


def grid_topology(
    obus: int,
    rsus: int,
    period_ms: int,
    seed: int,
    max_hops: int = 0,
    relay_scope: int | None = None,
) -> Topology:
    total = obus + rsus
    side = math.ceil(math.sqrt(total))
    rng = random.Random(seed)
    # RSUs at the centres of a rows x cols tiling of the square (rows * cols
    # == rsus, as square as it divides: 10 RSUs make 2 x 5), so every
    # vehicle is near one.
    rows = max(r for r in range(1, math.isqrt(rsus) + 1) if rsus % r == 0)
    cols = rsus // rows
    rsu_points = set()
    for i in range(rsus):
        r, c = divmod(i, cols)
        row = min(side - 1, int((r + 0.5) * side / rows))
        col = min(side - 1, int((c + 0.5) * side / cols))
        rsu_points.add(min(total - 1, row * side + col))
    while len(rsu_points) < rsus:
        rsu_points.add(rng.randrange(total))
    names = {}
    nodes = {}
    n_rsu = n_obu = 0
    for point in range(total):
        if point in rsu_points:
            n_rsu += 1
            name, role = f"rsu{n_rsu}", "rsu"
        else:
            n_obu += 1
            name, role = f"obu{n_obu}", "obu"
        names[point] = name
        nodes[name] = NodeSpec(
            name,
            role,
            {
                "routing": {
                    "hello_period_ms": str(period_ms),
                    "max_hops": str(max_hops),
                    **(
                        {}
                        if relay_scope is None or role == "rsu"
                        else {"relay_scope": str(relay_scope)}
                    ),
                },
                "control": {"listen": "none"},
            },
        )
    links = {}
    for point in range(total):
        row, col = divmod(point, side)
        for other in (point + 1 if col + 1 < side else None, point + side):
            if other is None or other >= total:
                continue
            params = ChannelParams(latency_ms=rng.uniform(2, 10), jitter_ms=0.5)
            a, b = names[point], names[other]
            links[(a, b)] = links[(b, a)] = params
    return Topology(
        sim=SimSettings(clock="virtual", seed=seed, http=None, duration_s=None),
        nodes=nodes,
        links=links,
    )


def _scope(text: str) -> int | None:
    if text.lower() == "none":
        return None
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("expected none or a whole number >= 0")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obus", type=int, default=1000)
    parser.add_argument("--rsus", type=int, default=10)
    parser.add_argument(
        "--duration", type=float, default=60.0, help="simulated seconds"
    )
    parser.add_argument("--period-ms", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--max-hops",
        type=int,
        default=0,
        help="[routing] max_hops for every OBU (default 0: unbounded floods, "
        "the protocol's default)",
    )
    parser.add_argument(
        "--relay-scope",
        type=_scope,
        default=1,
        metavar="HOPS|none",
        help="[routing] relay_scope for every OBU (default 1: an RSU's "
        "heartbeats are relayed up to one hop past where a nearer RSU is "
        "heard; none: every RSU's heartbeats flood the whole grid, the "
        "protocol's default, about 15 times the frames)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=30,
        metavar="N",
        help="run under cProfile and print the N (default 30) costliest "
        "functions by own time",
    )
    parser.add_argument(
        "--authenticate",
        choices=("no", "yes", "both"),
        default="no",
        help="[sim] authenticate: every node signs and verifies heartbeats "
        "and replies; both: run without and with, side by side",
    )
    parser.add_argument(
        "--link",
        choices=("fused", "memory", "both"),
        default="fused",
        help="the nodes' link ports: the channel's fused ChannelPort (the "
        "simulator's default), a MemoryPort on the channel, or both, "
        "alternating",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="with --authenticate both or --link both: runs of each, "
        "alternating (medians)",
    )
    args = parser.parse_args(argv)
    if args.authenticate == "both":
        return compare(args)
    if args.link == "both":
        return compare_links(args)
    wall_s, _ = run_once(args, args.authenticate == "yes", verbose=True)
    target = wall_s <= args.duration
    print(f"target (faster than real time): {'yes' if target else 'NO'}")
    return 0 if target else 1


def compare(args) -> int:
    """Without and with authentication, alternating; medians and ratio."""
    walls: dict[bool, list[float]] = {False: [], True: []}
    frames: dict[bool, set[int]] = {False: set(), True: set()}
    for _ in range(max(1, args.repeat)):
        for authenticate in (False, True):
            wall_s, carried = run_once(args, authenticate, verbose=False)
            walls[authenticate].append(wall_s)
            frames[authenticate].add(carried)
            print(
                f"  authenticate={'yes' if authenticate else 'no ':3}  "
                f"wall {wall_s:6.2f} s  frames {carried}",
                flush=True,
            )
    plain, signed = (statistics.median(walls[a]) for a in (False, True))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"grid: {args.obus} OBUs, {args.rsus} RSUs; {args.duration:.0f} s simulated "
        f"at {args.period_ms} ms heartbeats; relay_scope {args.relay_scope}"
    )
    print(f"{'':16}{'no':>10}{'yes':>10}{'ratio':>8}")
    print(f"{'wall (median)':16}{plain:>9.2f}s{signed:>9.2f}s{signed / plain:>7.2f}x")
    print(
        f"{'frames carried':16}{'/'.join(map(str, sorted(frames[False]))):>10}"
        f"{'/'.join(map(str, sorted(frames[True]))):>10}"
    )
    print(f"peak memory (both runs): {peak_mib:.0f} MiB (max RSS)")
    target = max(plain, signed) <= args.duration
    print(f"target (faster than real time, both): {'yes' if target else 'NO'}")
    return 0 if target else 1


def compare_links(args) -> int:
    """The fused link against MemoryPorts, alternating; medians."""
    runs: dict[str, list[tuple[float, float]]] = {"fused": [], "memory": []}
    frames: dict[str, set[int]] = {"fused": set(), "memory": set()}
    authenticate = args.authenticate == "yes"
    for _ in range(max(1, args.repeat)):
        for link in ("memory", "fused"):
            args.link = link
            cpu = time.process_time()
            wall_s, carried = run_once(args, authenticate, verbose=False)
            cpu_s = time.process_time() - cpu
            runs[link].append((wall_s, cpu_s))
            frames[link].add(carried)
            print(
                f"  link={link:6}  wall {wall_s:7.2f} s  cpu {cpu_s:7.2f} s  "
                f"frames {carried}",
                flush=True,
            )
    print(
        f"grid: {args.obus} OBUs, {args.rsus} RSUs; {args.duration:.0f} s simulated "
        f"at {args.period_ms} ms heartbeats; relay_scope {args.relay_scope}"
    )
    carried = max(frames["memory"])
    print(f"{'':22}{'memory':>10}{'fused':>10}{'ratio':>8}")
    medians = {}
    for i, what in enumerate(("wall", "cpu")):
        memory, fused = (
            statistics.median(run[i] for run in runs[link])
            for link in ("memory", "fused")
        )
        medians[what] = fused
        print(
            f"{what + ' (median)':22}{memory:>9.2f}s{fused:>9.2f}s{fused / memory:>7.2f}x"
        )
        print(
            f"{what + ' per frame':22}{memory / carried * 1e6:>8.1f}us"
            f"{fused / carried * 1e6:>8.1f}us"
        )
    print(
        f"{'frames carried':22}{'/'.join(map(str, sorted(frames['memory']))):>10}"
        f"{'/'.join(map(str, sorted(frames['fused']))):>10}"
    )
    print(f"speed (fused, median): {args.duration / medians['wall']:.2f}x real time")
    same = len(frames["memory"] | frames["fused"]) == 1
    print(f"same frames carried: {'yes' if same else 'NO'}")
    return 0 if same else 1


def run_once(args, authenticate: bool, verbose: bool) -> tuple[float, int]:
    built = time.perf_counter()
    topology = grid_topology(
        args.obus, args.rsus, args.period_ms, args.seed, args.max_hops, args.relay_scope
    )
    if authenticate:
        topology = attrs.evolve(
            topology, sim=attrs.evolve(topology.sim, authenticate=True)
        )
    simulation = Simulation(
        topology, VirtualClock(), fused_link=getattr(args, "link", "fused") != "memory"
    )
    build_s = time.perf_counter() - built

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    cpu_started = time.process_time()
    run_virtual(simulation, args.duration)
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    info = simulation.node_info()
    with_upstream = sum(
        1 for node in info if node["role"] == "obu" and node.get("upstream")
    )
    carried = sum(
        link["frames_delivered"] for link in simulation.medium.channel_table()
    )
    if not verbose:
        return wall_s, carried
    print(
        f"grid: {args.obus} OBUs, {args.rsus} RSUs, {len(topology.links)} directed links"
    )
    print(f"simulated:        {args.duration:.0f} s at {args.period_ms} ms heartbeats")
    print(f"max_hops:         {args.max_hops or 'no limit'}")
    scope = args.relay_scope
    print(f"relay_scope:      {'unset' if scope is None else scope}")
    print(f"build:            {build_s:.2f} s")
    print(f"wall time:        {wall_s:.2f} s")
    print(f"speed:            {args.duration / wall_s:.2f}x real time")
    print(f"peak memory:      {peak_mib:.0f} MiB (max RSS)")
    print(f"OBUs w/ upstream: {with_upstream}/{args.obus}")
    print(f"authenticate:     {'yes' if authenticate else 'no'}")
    print(f"link ports:       {'fused' if simulation.fused_link else 'memory'}")
    print(f"frames carried:   {carried} ({carried / wall_s:,.0f}/s wall)")
    print(
        f"per frame:        {wall_s / carried * 1e6:.1f} us wall, "
        f"{cpu_s / carried * 1e6:.1f} us CPU ({cpu_s:.2f} s CPU)"
    )
    return wall_s, carried


if __name__ == "__main__":
    sys.exit(main())
