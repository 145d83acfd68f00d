"""A study of one topology over several seeds: upstream loops and delivery.

Each seed runs the topology in-process on a ``VirtualClock``; every
sample period of simulated time the vehicles' upstream next hops are read
and searched for cycles (``vanet.sim.graph.upstream_cycles``). At the end
each traffic flow's delivery ratio is set beside what its best path
allows: the product of the success rates (1 − loss) of the links on the
most reliable path the overlay can carry it over (docs/simulator.md,
"A loss study"). Issue 10's 30%-loss example, ``examples/lossy.ini``, is
judged this way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from vanet.mac import format_mac
from vanet.sim.graph import best_path, upstream_cycles
from vanet.sim.topology import Topology

#: a flow's delivery passes when within this fraction of its expectation
TOLERANCE = 0.15
DEFAULT_SAMPLE_MS = 250


@attrs.frozen
class FlowPlan:
    """What a flow can do at best, from the configured links alone.

    ``ends`` are the RSUs serving its source and its destination (an RSU
    serves itself; ``None`` when a vehicle is equally near to two RSUs or
    reaches none). Only when both are the same RSU, ``rsu``, does the
    overlay carry it today (up to that RSU, down from it); then ``path``
    is its best path and ``expected`` the product of its success rates.
    """

    name: str
    src: str
    dst: str
    ends: tuple[str | None, str | None]
    rsu: str | None = None
    path: tuple[str, ...] | None = None
    expected: float | None = None

    @property
    def hops(self) -> int | None:
        return None if self.path is None else len(self.path) - 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.name,
            "from": self.src,
            "to": self.dst,
            "ends": list(self.ends),
            "rsu": self.rsu,
            "path": None if self.path is None else list(self.path),
            "hops": self.hops,
            "expected": self.expected,
        }


def link_success(topology: Topology) -> dict[tuple[str, str], float]:
    """``(a, b) -> 1 - loss`` of every configured directed link."""
    return {pair: 1.0 - params.loss for pair, params in topology.links.items()}


def serving_rsu(topology: Topology, name: str) -> str | None:
    """The RSU a node's traffic enters the overlay at: an RSU itself; for a
    vehicle the RSU fewest hops away over links that are not cut (loss 1),
    which is the gateway docs/protocol.md §6.1 ranks first; ``None`` when
    two RSUs are equally near or none can be reached."""
    spec = topology.nodes[name]
    if spec.role == "rsu":
        return name
    reachable = {pair: 1.0 for pair, rate in link_success(topology).items() if rate}
    hops: dict[str, int] = {}
    for rsu in topology.rsus():
        found = best_path(reachable, name, rsu.name, _relays(topology))
        if found is not None:
            hops[rsu.name] = len(found[1]) - 1
    if not hops:
        return None
    nearest = min(hops.values())
    winners = [rsu for rsu, count in hops.items() if count == nearest]
    return winners[0] if len(winners) == 1 else None


def _relays(topology: Topology):
    # Only vehicles relay: an RSU never forwards heartbeats or data (§3.1, §7.2).
    return lambda node: topology.nodes[node].role == "obu"


def plan_flows(topology: Topology) -> list[FlowPlan]:
    """Each ``[traffic]`` flow's serving RSUs, best path and expectation.

    A flow is one-way. Today's overlay carries a frame up from its source
    to the source's gateway RSU and down from that RSU to the destination:
    there is no vehicle-to-vehicle shortcut and no link between RSUs. So a
    flow whose ends are served by the same RSU ``R`` has as best path the
    most reliable path source → R followed by the most reliable path
    R → destination, each through vehicles only, and is expected to
    deliver the product of the two. A ping-like round trip would be two
    such flows and expect the product of both. Flows whose ends are served
    by different RSUs need a backbone between them (later work): they get
    no expectation and are reported apart.
    """
    success = link_success(topology)
    relays = _relays(topology)
    plans = []
    for flow in topology.flows:
        ends = (serving_rsu(topology, flow.src), serving_rsu(topology, flow.dst))
        plan = FlowPlan(flow.name, flow.src, flow.dst, ends)
        rsu = ends[0]
        if rsu is not None and ends[1] == rsu and flow.src != flow.dst:
            up = best_path(success, flow.src, rsu, relays)
            down = best_path(success, rsu, flow.dst, relays)
            if up is not None and down is not None:
                plan = attrs.evolve(
                    plan,
                    rsu=rsu,
                    path=up[1] + down[1][1:],
                    expected=up[0] * down[0],
                )
        plans.append(plan)
    return plans


def within(
    delivery: float | None, expected: float, tolerance: float = TOLERANCE
) -> bool:
    """Whether a delivery ratio is within ``tolerance`` × ``expected`` of
    ``expected`` (relative: 15% of 0.49 is 0.0735 either side)."""
    return delivery is not None and abs(delivery - expected) <= tolerance * expected


def run_seed(topology: Topology, seed: int, sample_s: float) -> dict[str, Any]:
    """Run ``topology`` with ``seed`` for its ``duration_s`` on a virtual
    clock, sampling the upstream graph every ``sample_s`` simulated
    seconds (the last sample is the state at the end)."""
    from vanet.sim.clock import VirtualClock
    from vanet.sim.inprocess import Simulation, run_virtual

    topology = attrs.evolve(topology, sim=attrs.evolve(topology.sim, seed=seed))
    simulation = Simulation(topology, VirtualClock())
    vehicles = [spec.name for spec in topology.obus()]
    samples: list[list[tuple[str, ...]]] = []

    def sample(_elapsed: float) -> None:
        graph: dict[str, str | None] = {}
        for name in vehicles:
            mac = simulation.engine(name).routing.upstream
            # A MAC no node has is kept as text: the walk ends there.
            graph[name] = None if mac is None else _node_or_mac(simulation, mac)
        samples.append(upstream_cycles(graph))

    run_virtual(simulation, topology.sim.duration_s, step_s=sample_s, progress=sample)
    flows = simulation.flow_stats.summary()
    statuses = simulation.node_statuses()
    # Where data frames were thrown away, by the role of the node and the
    # reason (docs/protocol.md §7): what a flow lost besides its links.
    data_drops: dict[str, Counter[str]] = {"rsu": Counter(), "obu": Counter()}
    for name, spec in topology.nodes.items():
        data_drops[spec.role].update(simulation.engine(name).dataplane.drops)
    simulation.stopService()
    with_cycle = [cycles for cycles in samples if cycles]
    return {
        "seed": seed,
        "samples": len(samples),
        "samples_with_cycle": len(with_cycle),
        "longest_cycle": max(
            (len(cycle) for cycles in with_cycle for cycle in cycles), default=0
        ),
        "cycles_at_end": [list(cycle) for cycle in samples[-1]] if samples else [],
        # What the vehicles noticed themselves, also between samples: loops
        # a reply or data frame revealed (docs/protocol.md §3.3, §5.5).
        "loop_detected": sum(
            statuses[name].get("events", {}).get("loop_detected", 0)
            for name in vehicles
        ),
        "loop_drops": sum(
            statuses[name].get("drops", {}).get("loop", 0) for name in vehicles
        ),
        "data_drops": {
            role: dict(sorted((k, v) for k, v in drops.items() if v))
            for role, drops in data_drops.items()
        },
        "flows": {
            name: {
                "sent": flow["sent"],
                "received": flow["received"],
                "delivery": flow["delivery_ratio"],
            }
            for name, flow in flows.items()
        },
    }


def _node_or_mac(simulation, mac: bytes) -> str:
    text = format_mac(mac)
    return simulation.node_name(text) or text


def run_study(
    topology: Topology, seeds: Iterable[int], sample_s: float
) -> dict[str, Any]:
    """Every seed's run (``run_seed``), the flows' plans and the verdict on
    issue 10's two criteria: no cycle in any sample, and every flow within
    one RSU delivering within ``TOLERANCE`` of its expectation."""
    plans = plan_flows(topology)
    runs = [run_seed(topology, seed, sample_s) for seed in seeds]
    judged = [plan for plan in plans if plan.expected is not None]
    for run in runs:
        for plan in judged:
            flow = run["flows"][plan.name]
            flow["within"] = within(flow["delivery"], plan.expected)
    passed = sum(run["flows"][p.name]["within"] for run in runs for p in judged)
    return {
        "source": None if topology.source is None else str(topology.source),
        "duration_s": topology.sim.duration_s,
        "sample_ms": round(sample_s * 1000, 3),
        "tolerance": TOLERANCE,
        "flows": [plan.as_dict() for plan in plans],
        "seeds": runs,
        "verdict": {
            "samples_with_cycle": sum(run["samples_with_cycle"] for run in runs),
            "samples": sum(run["samples"] for run in runs),
            "deliveries_within": passed,
            "deliveries_judged": len(judged) * len(runs),
            "no_cycles": all(run["samples_with_cycle"] == 0 for run in runs),
            "delivery_ok": passed == len(judged) * len(runs),
        },
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_study(study: Mapping[str, Any]) -> str:
    """The study as text: a cycles table, the judged flows, the flows apart."""
    from vanet.ctl import table

    runs: Sequence[Mapping[str, Any]] = study["seeds"]
    cycles = [
        {
            "seed": run["seed"],
            "samples": run["samples"],
            "with_cycle": run["samples_with_cycle"],
            "share": _pct(run["samples_with_cycle"] / run["samples"])
            if run["samples"]
            else "-",
            "longest": run["longest_cycle"] or "-",
            "loop_detected": run["loop_detected"],
            "loop_drops": run["loop_drops"],
            "cycles_at_end": " ".join(">".join(c) for c in run["cycles_at_end"]) or "-",
        }
        for run in runs
    ]
    judged, apart = [], []
    for plan in study["flows"]:
        row: dict[str, Any] = {"flow": plan["flow"]}
        if plan["expected"] is None:
            row["ends"] = "/".join(end or "?" for end in plan["ends"])
        else:
            row["hops"] = plan["hops"]
            row["expected"] = _pct(plan["expected"])
        for run in runs:
            flow = run["flows"][plan["flow"]]
            mark = "" if flow.get("within", True) else "*"
            row[f"seed{run['seed']}"] = _pct(flow["delivery"]) + mark
        if plan["expected"] is None:
            apart.append(row)
            continue
        row["within"] = (
            f"{sum(r['flows'][plan['flow']]['within'] for r in runs)}/{len(runs)}"
        )
        row["path"] = ">".join(plan["path"])
        judged.append(row)
    drops = [
        {
            "seed": run["seed"],
            **{
                role.upper(): " ".join(
                    f"{reason}:{count}" for reason, count in by_reason.items()
                )
                or "-"
                for role, by_reason in run["data_drops"].items()
            },
        }
        for run in runs
    ]
    verdict = study["verdict"]
    tolerance = round(100 * study["tolerance"])
    text = [
        f"Study: {study['source'] or 'topology'}, {len(runs)} seed(s), "
        f"{study['duration_s']:g} s each on the virtual clock, upstream graph "
        f"sampled every {study['sample_ms']:g} ms",
        "",
        "Upstream cycles",
        table(cycles),
        "",
        "Flows within one RSU: delivery per seed against EXPECTED, the product "
        "of (1 - loss) along PATH",
        table(judged),
        f"* = not within {tolerance}% of EXPECTED (|delivery - expected| > "
        f"{study['tolerance']:g} x expected)",
        "",
        "Flows across RSUs (need a backbone between RSUs; not judged)",
        table(apart),
        "",
        "Data frames dropped by the nodes, by role and reason (all flows)",
        table(drops),
        "",
        f"cycles: {verdict['samples_with_cycle']} of {verdict['samples']} samples"
        f" ({'none' if verdict['no_cycles'] else 'NOT none'}); delivery within "
        f"{tolerance}%: {verdict['deliveries_within']} of "
        f"{verdict['deliveries_judged']} flow runs",
    ]
    return "\n".join(text)
