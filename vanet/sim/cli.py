"""``vanet-sim``: run a simulated VANET.

With no ``--config`` it runs the embedded moving highway (3 RSUs, 12
vehicles driving with IDM car following, links from distance with Nakagami
fading, traffic) for 60 simulated seconds on a virtual clock and prints
what happened; with
a topology file it runs what the file says (INI or the older YAML format),
in-process or in network namespaces.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from vanet.sim.loader import load_topology
from vanet.sim.reports import RTT_MEANING
from vanet.sim.study import DEFAULT_SAMPLE_MS
from vanet.sim.topology import CLOCKS, MODES, SimConfigError, Topology

DEFAULT_DURATION_S = 60.0


def embedded_topology_path() -> Path:
    return Path(str(resources.files("vanet.sim") / "data" / "moving-highway.ini"))


def _positive(text: str, unit: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of {unit} > 0")
    return value


def positive_seconds(text: str) -> float:
    """An argparse type: a duration in seconds, > 0."""
    return _positive(text, "seconds")


def positive_ms(text: str) -> float:
    """An argparse type: a period in milliseconds, > 0."""
    return _positive(text, "ms")


def seed_list(text: str) -> list[int]:
    """An argparse type: seeds as ``1-5``, ``1,3,7`` or both (``1-3,9``)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            first, dash, last = part.strip().partition("-")
            low, high = int(first), int(last) if dash else int(first)
            if high < low:
                raise ValueError
            seeds.extend(range(low, high + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give seeds as 1-5, 1,3,7 or 1-3,9"
        ) from None
    return seeds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vanet-sim",
        description=(
            "Run a simulated VANET. Without --config: the embedded moving "
            "highway (examples/moving-highway.ini), virtual clock, 60 "
            "simulated seconds, then a report."
        ),
        epilog=(
            "The report's node table shows each vehicle's gateway RSU, its "
            "upstream next hop and hop count, and RTT_MS: the "
            f"{RTT_MEANING}. /api/v1/node_info shows the same value as "
            "rtt_ms, and `vanetctl --url RSU routes` as the RSU's RTT_MS "
            "for that vehicle. With [mobility], X_M and SPEED are where the "
            "node is at the end (m, m/s), HANDOVERS how often a vehicle "
            "moved to another gateway RSU."
        ),
    )
    parser.add_argument(
        "--config", "-c", help="topology file (INI, or the older YAML format)"
    )
    parser.add_argument("--mode", choices=MODES, help="override [sim] mode")
    parser.add_argument("--clock", choices=CLOCKS, help="override [sim] clock")
    parser.add_argument(
        "--duration",
        type=positive_seconds,
        metavar="S",
        help="override [sim] duration_s",
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="override [sim] seed")
    seeds.add_argument(
        "--seeds",
        type=seed_list,
        metavar="LIST",
        help=(
            "run a study instead: every seed of LIST (1-5, 1,3,7) on the "
            "virtual clock, sampling the upstream graph for cycles and "
            "setting each flow's delivery beside its best path "
            "(docs/simulator.md, 'A loss study')"
        ),
    )
    parser.add_argument(
        "--sample-ms",
        type=positive_ms,
        metavar="MS",
        help=(
            "with --seeds: sample the upstream graph every MS simulated ms "
            f"(default {DEFAULT_SAMPLE_MS})"
        ),
    )
    parser.add_argument(
        "--http",
        metavar="ENDPOINT",
        help="override [sim] http (a Twisted endpoint string, or none)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the final report as JSON"
    )
    parser.add_argument(
        "--tui",
        action="store_true",
        help="real time, with a live terminal dashboard (needs the tui extra: "
        "pip install 'vanet[tui]'); the report follows when you quit",
    )
    return parser


def apply_overrides(
    topology: Topology, args: argparse.Namespace, embedded: bool
) -> Topology:
    import attrs

    changes = {}
    # The embedded highway and a study (--seeds) run on the virtual clock
    # unless told otherwise; a dashboard (--tui) watches a real-time run.
    tui = getattr(args, "tui", False)
    virtual = (embedded and not tui) or args.seeds is not None
    if args.mode:
        changes["mode"] = args.mode
    if args.clock:
        changes["clock"] = args.clock
    elif tui:
        changes["clock"] = "real"
    elif virtual:
        changes["clock"] = "virtual"
    if args.duration is not None:
        changes["duration_s"] = args.duration
    elif virtual or (
        changes.get("clock", topology.sim.clock) == "virtual"
        and not topology.sim.duration_s
    ):
        changes["duration_s"] = topology.sim.duration_s or DEFAULT_DURATION_S
    if args.seed is not None:
        changes["seed"] = args.seed
    elif topology.sim.seed is None:
        changes["seed"] = 1
    if args.http:
        changes["http"] = None if args.http.lower() == "none" else args.http
    return attrs.evolve(topology, sim=attrs.evolve(topology.sim, **changes))


def format_report(report: dict) -> str:
    from vanet.ctl import table

    rows = []
    for node in report["node_info"]:
        upstream = node.get("upstream")
        row = {
            "node": node["name"],
            "role": node["role"],
            "mac": node["mac"],
            "gateway": node.get("gateway_node") or node.get("gateway") or "-",
            "upstream": (upstream["node"] or upstream["mac"]) if upstream else "-",
            "hops": upstream["hops"] if upstream else None,
            "rtt_ms": node.get("rtt_ms"),
        }
        if "position" in node:
            position = node["position"] or {}
            row["x_m"] = position.get("x")
            row["speed"] = position.get("speed")
            row["handovers"] = node.get("handovers")
        rows.append(row)
    flows = [
        {
            "flow": name,
            "sent": flow["sent"],
            "received": flow["received"],
            "delivery": None
            if flow["delivery_ratio"] is None
            else f"{100 * flow['delivery_ratio']:.1f}%",
            "p50_ms": flow["latency_ms"]["p50"],
            "p99_ms": flow["latency_ms"]["p99"],
        }
        for name, flow in report["flows"].items()
    ]
    text = [
        "Nodes",
        table(rows),
        "RTT_MS: round trip via the gateway RSU, heartbeat out to reply back "
        "(see --help)",
        "",
        "Traffic",
        table(flows),
    ]
    totals = report["traffic"]
    if totals.get("delivery_ratio") is not None:
        text.append(
            f"total: {totals['received']}/{totals['sent']} delivered "
            f"({100 * totals['delivery_ratio']:.2f}%)"
        )
    return "\n".join(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.sample_ms is not None and args.seeds is None:
        parser.error("--sample-ms goes with --seeds (a study)")
    if args.tui and args.seeds is not None:
        parser.error("--tui watches one run: drop --seeds")
    embedded = args.config is None
    path = embedded_topology_path() if embedded else Path(args.config)
    try:
        topology = apply_overrides(load_topology(path), args, embedded)
    except SimConfigError as error:
        print(f"vanet-sim: {error}", file=sys.stderr)
        return 2
    if args.seeds is not None:
        return study(topology, args)
    from vanet.sim.runner import run

    if args.tui:
        if topology.sim.clock != "real":
            print(
                "vanet-sim: --tui runs in real time: drop --clock virtual",
                file=sys.stderr,
            )
            return 2
        if importlib.util.find_spec("textual") is None:
            print(
                "vanet-sim: --tui needs the dashboard extra: pip install 'vanet[tui]'",
                file=sys.stderr,
            )
            return 2
        from vanet.sim.runner import run_with_dashboard as run
    try:
        report = run(topology)
    except SimConfigError as error:
        print(f"vanet-sim: {error}", file=sys.stderr)
        return 2
    if report is not None:
        print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def study(topology: Topology, args: argparse.Namespace) -> int:
    """``--seeds``: run the study of ``vanet.sim.study`` and print it."""
    from vanet.sim.study import format_study, run_study

    if topology.sim.mode != "inprocess" or topology.sim.clock != "virtual":
        print(
            "vanet-sim: --seeds: a study runs in-process on the virtual clock "
            f"(this run: mode {topology.sim.mode}, clock {topology.sim.clock})",
            file=sys.stderr,
        )
        return 2
    sample_ms = DEFAULT_SAMPLE_MS if args.sample_ms is None else args.sample_ms
    result = run_study(topology, args.seeds, sample_ms / 1000.0)
    print(json.dumps(result, indent=1) if args.json else format_study(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
