"""Where the judged flows of a loss study lose their frames: every test
frame followed hop by hop through the in-process simulation.

    python scripts/trace_lossy.py [--config examples/lossy.ini] [--seeds 1-5]

Each node's data plane is wrapped: what it was handed (a test frame, by
flow and seq), what it sent on and to whom, what it held, and what it
dropped (the drop counter that moved). A frame sent to a next hop that
never handles it was lost on that link. Per flow and seed, every frame
that did not arrive is put under one cause:

- ``link@a>b``: lost on the link a -> b; ``on_best`` when that link lies
  on the flow's best path at that position, else ``off_best`` (a worse
  path, or a hop beyond the best path's length);
- ``drop@node:reason``: a data plane drop (``no_upstream``, ``no_route``...);
- ``held@node``: held (for want of an upstream, or at an RSU of a route)
  and never sent;
- ``arrived@node, nothing for dst``: handled by a node that sent nothing
  on toward the destination (another RSU, or a flood that found no route);
- ``no_event``: the RSU sent no copy at all (an unknown destination
  flooded to vehicles that did not include it).

It also counts the frames that took a longer path than the best.
``--events`` prints every route event (with node names) up to
``--until``; ``--summary`` prints only the totals over the seeds, the
causes folded by the role of the node and by start-up (t < 10 s) or
later. Development tool: it wraps the data planes' methods and the
engine's action table, so it follows their names.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from vanet.routing.actions import (
    DeliverToTap,
    ForwardDownstream,
    ForwardUpstream,
    RouteEvent,
    SendDownstream,
    SendUpstream,
)
from vanet.sim.cli import seed_list
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation, run_virtual
from vanet.sim.loader import load_topology
from vanet.sim.study import plan_flows
from vanet.sim.traffic import parse_test_frame

ROOT = Path(__file__).resolve().parents[1]


def mac_of(text):
    try:
        return bytes.fromhex(text.replace(":", ""))
    except ValueError:
        return None


def _key(frame):
    if frame is None:
        return None
    parsed = parse_test_frame(bytes(frame))
    return None if parsed is None else parsed[:2]


def _action_frame(action):
    if isinstance(action, SendUpstream | SendDownstream):
        return action.payload
    if isinstance(action, ForwardUpstream | ForwardDownstream):
        return action.message.payload
    if isinstance(action, DeliverToTap):
        return action.frame
    return None


def trace_seed(topology, seed: int):
    import attrs

    topology = attrs.evolve(topology, sim=attrs.evolve(topology.sim, seed=seed))
    clock = VirtualClock()
    sim = Simulation(topology, clock)
    by_mac = {spec.mac: name for name, spec in topology.nodes.items()}
    by_tap = {
        node.config.tap.mac: name for name, node in sim.nodes.items()
    }  # tap mac -> node name
    flow_dst = {}
    for flow in sim.flow_stats.flows():
        flow_dst[flow.flow_id] = by_tap[flow.dst_mac]
    # key -> list of (t, node, what, detail)
    trail: dict[tuple[int, int], list] = collections.defaultdict(list)
    route_events: dict[str, list] = collections.defaultdict(list)

    def wrap(name, dataplane, method):
        original = getattr(dataplane, method)

        def wrapped(*args):
            now = clock.seconds()
            key = None
            if method in ("on_tap_frame",):
                key = _key(args[0])
            elif method in ("on_upstream", "on_downstream"):
                key = _key(args[0].payload)
            drops_before = collections.Counter(dataplane.drops)
            held_before = dataplane.counters["held"]
            actions = original(*args)
            if key is not None:
                trail[key].append((now, name, "in", method))
            dropped = collections.Counter(dataplane.drops) - drops_before
            if key is not None:
                for reason in dropped:
                    trail[key].append((now, name, "drop", reason))
                if dataplane.counters["held"] > held_before:
                    trail[key].append((now, name, "held", None))
            for action in actions or ():
                frame = _action_frame(action)
                k = _key(frame)
                if k is None:
                    continue
                if isinstance(action, DeliverToTap):
                    trail[k].append((now, name, "tap", None))
                    continue
                dest = None
                if isinstance(action, SendDownstream):
                    dest = by_mac.get(action.destination)
                elif isinstance(action, ForwardDownstream):
                    dest = by_mac.get(bytes(action.message.destination))
                trail[k].append(
                    (now, name, "send", (by_mac.get(action.next_hop), dest))
                )
            if method == "expire" and dropped:
                # held frames expired: which ones is not told; count apart
                trail[("expired", name)].append((now, name, "drop", dict(dropped)))
            return actions

        setattr(dataplane, method, wrapped)

    for name, node in sim.nodes.items():
        orig_start = node.startService

        def start(node=node, name=name, orig_start=orig_start):
            orig_start()
            engine = node.engine
            dp = engine.dataplane
            for method in (
                "on_tap_frame",
                "on_upstream",
                "on_downstream",
                "on_upstream_ready",
                "expire",
            ):
                wrap(name, dp, method)
            # engine handlers were bound at init: rebind
            engine._handlers["upstream"] = dp.on_upstream
            engine._handlers["downstream"] = dp.on_downstream
            orig_event = engine._actions[RouteEvent]

            def on_event(action, orig_event=orig_event, name=name):
                fields = {
                    k: by_mac.get(mac_of(v), v) if isinstance(v, str) else v
                    for k, v in action.fields.items()
                }
                route_events[name].append((clock.seconds(), action.event, fields))
                orig_event(action)

            engine._actions[RouteEvent] = on_event

        node.startService = start
    run_virtual(sim, topology.sim.duration_s, step_s=1.0)
    flows = sim.flow_stats.summary()
    delivered = {
        flow.flow_id: set(flow._record.seen) for flow in sim.flow_stats.flows()
    }
    sim.stopService()
    return sim, trail, route_events, flows, delivered, flow_dst, by_mac


def hop_distances(topology):
    """Fewest hops between every two nodes, relaying through vehicles only."""
    names = list(topology.nodes)
    adj = collections.defaultdict(set)
    for (a, b), params in topology.links.items():
        if params.loss < 1:
            adj[a].add(b)
    dist = {}
    for src in names:
        seen = {src: 0}
        frontier = [src]
        while frontier:
            nxt = []
            for node in frontier:
                if node != src and topology.nodes[node].role != "obu":
                    continue
                for other in adj[node]:
                    if other not in seen:
                        seen[other] = seen[node] + 1
                        nxt.append(other)
            frontier = nxt
        for dst in names:
            dist[src, dst] = seen.get(dst, 99)
    return dist


def classify(plan, flow_id, sent, delivered, trail, dist):
    """Cause of loss of every undelivered frame of one flow, and when."""
    causes = collections.Counter()
    timed = collections.Counter()  # (cause, "start" | "later")
    longer = 0
    best_hops = len(plan.path) - 1
    rsu, dst_name = plan.rsu, plan.dst
    first_arrival = None
    when = collections.Counter()  # non-link losses by 10 s of time

    def note(label, at):
        causes[label] += 1
        timed[label, "t<10s" if at < 10 else "t>=10s"] += 1
        if not label.endswith("on_best"):
            when[int(at // 10) * 10] += 1

    for seq in range(sent):
        full = trail.get((flow_id, seq), [])
        events = [
            ev
            for ev in full
            if not (ev[2] == "send" and ev[3][1] not in (None, dst_name))
            and not (ev[2] == "tap" and ev[1] != dst_name)
            and ev[2] != "in"
        ]
        path = [plan.src]
        for _t, _node, what, detail in events:
            if what == "send":
                path.append(detail[0])
        if len(path) - 1 > best_hops:
            longer += 1
        if seq in delivered:
            if first_arrival is None:
                first_arrival = seq
            continue
        if not events:
            note("no_event", full[0][0] if full else 0.0)
            continue
        at, node, what, detail = events[-1]
        if what == "send":
            # handled by the next hop afterwards: not lost on the link
            after = [
                ev
                for ev in full
                if ev[2] == "in" and ev[1] == detail[0] and ev[0] >= at
            ]
            if after:
                note(f"arrived@{detail[0]}, nothing for {dst_name}", at)
                continue
        if what == "drop":
            note(f"drop@{node}:{detail}", at)
        elif what == "held":
            note(f"held@{node}", at)
        elif what == "send":
            nxt = detail[0]
            before = path[:-1]  # up to the sending node
            if rsu in before or nxt == rsu:
                left = dist[nxt, dst_name] if nxt != dst_name else 0
            else:
                left = dist[nxt, rsu] + dist[rsu, dst_name]
            on_best = len(before) + left == best_hops
            note(f"link@{node}>{nxt} {'on_best' if on_best else 'off_best'}", at)
        else:
            note(f"{what}@{node}", at)
    return causes, longer, first_arrival, when, timed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(ROOT / "examples" / "lossy.ini"))
    parser.add_argument("--seeds", default="1-5")
    parser.add_argument("--flows", default=None, help="comma-separated flow names")
    parser.add_argument("--events", action="store_true", help="print RSU route events")
    parser.add_argument("--until", type=float, default=1e9)
    parser.add_argument(
        "--summary", action="store_true", help="only the totals over all seeds"
    )
    args = parser.parse_args(argv)
    topology = load_topology(Path(args.config))
    plans = [p for p in plan_flows(topology) if p.expected is not None]
    if args.flows:
        wanted = set(args.flows.split(","))
        plans = [p for p in plans if p.name in wanted]
    dist = hop_distances(topology)
    totals = collections.defaultdict(collections.Counter)
    for seed in seed_list(args.seeds):
        sim, trail, events, flows, delivered, flow_dst, by_mac = trace_seed(
            topology, seed
        )
        if not args.summary:
            print(f"== seed {seed}")
        for plan in plans:
            flow = sim.flow_stats.flow(plan.name)
            record = flow._record
            sent = record.sent
            causes, longer, first, when, timed = classify(
                plan, flow.flow_id, sent, delivered[flow.flow_id], trail, dist
            )
            lost = sent - record.received
            for (cause, phase), count in timed.items():
                label = category(cause, topology, plan)
                if label != "link loss on a best path":
                    label = f"{label} [{phase}]"
                totals[plan.name][label] += count
            totals[plan.name]["sent"] += sent
            totals[plan.name]["received"] += record.received
            if args.summary:
                continue
            link_best = sum(v for k, v in causes.items() if k.endswith("on_best"))
            print(
                f"  {plan.name:18s} sent {sent:5d} got {record.received:5d} "
                f"({100 * record.received / sent:5.1f}% vs {100 * plan.expected:.1f}%)"
                f" lost {lost:5d}: link-on-best {link_best}, other "
                f"{lost - link_best}; longer path {longer}; first seq arrived {first}"
            )
            if when:
                print("      other losses by 10 s:", dict(sorted(when.items())))
            for cause, count in sorted(causes.items(), key=lambda kv: -kv[1]):
                if not cause.endswith("on_best"):
                    print(f"      {cause:40s} {count}")
            # expected link losses alone: what if only link loss
        expired = (
            {}
            if args.summary
            else {k: v for k, v in trail.items() if k[0] == "expired"}
        )
        for k, v in expired.items():
            print(f"  hold expiry at {k[1]}: {len(v)} ticks")
        if args.events and not args.summary:
            merged = sorted(
                (
                    (t, name, ev, fields)
                    for name, evs in events.items()
                    for t, ev, fields in evs
                    if t < args.until
                ),
                key=lambda e: e[0],
            )
            for t, name, ev, fields in merged:
                print(f"    {t:7.2f} {name:8s} {ev} {fields}")
    print("== totals: lost frames by cause, per flow")
    for name, counts in totals.items():
        sent = counts.pop("sent")
        received = counts.pop("received")
        print(f"  {name:18s} sent {sent} received {received}")
        for cause, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"      {cause:40s} {count:6d}  {100 * count / sent:5.2f}% of sent")
    return 0


def category(cause: str, topology, plan) -> str:
    """A cause with the node names folded into roles."""
    if cause.endswith(" on_best"):
        return "link loss on a best path"
    if cause.endswith(" off_best"):
        return "link loss on a longer path"
    if cause.startswith("drop@"):
        node, reason = cause[5:].split(":")
        return f"drop at {topology.nodes[node].role.upper()}: {reason}"
    if cause.startswith("arrived@"):
        node = cause[8:].split(",")[0]
        role = topology.nodes[node].role
        if node == plan.rsu:
            return "arrived at its RSU, nothing sent on (no route: flooded)"
        return (
            f"arrived at {'another RSU' if role == 'rsu' else 'OBU'}, nothing sent on"
        )
    if cause == "no_event":
        return "no copy from the RSU (no route: flooded)"
    return cause


if __name__ == "__main__":
    sys.exit(main())
