"""A loss study (`vanet-sim --seeds`): which RSU serves each end of a flow,
its best path and expectation, the sampling, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_sim_cli import run_main
from vanet.sim.channel import ChannelParams
from vanet.sim.loader import load_topology
from vanet.sim.study import plan_flows, run_seed, serving_rsu, within
from vanet.sim.topology import FlowSpec, NodeSpec, SimSettings, Topology

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _topology(roles, links, flows=()):
    """Nodes by role, links both ways by loss, flows as (src, dst)."""
    return Topology(
        sim=SimSettings(clock="virtual", duration_s=5.0, http=None, seed=1),
        nodes={name: NodeSpec(name, role) for name, role in roles.items()},
        links={
            pair: ChannelParams(latency_ms=2, loss=loss)
            for (a, b), loss in links.items()
            for pair in ((a, b), (b, a))
        },
        flows=tuple(
            FlowSpec(f"{src}-to-{dst}", src, dst, 10.0, 128) for src, dst in flows
        ),
    )


def test_each_vehicle_is_served_by_its_nearest_rsu_as_the_example_says():
    topology = load_topology(EXAMPLES / "lossy.ini")
    served = {spec.name: serving_rsu(topology, spec.name) for spec in topology.obus()}
    assert served == {
        "obu1": "rsu-west",
        "obu2": "rsu-west",
        "obu3": "rsu-west",
        "obu4": "rsu-west",
        "obu5": "rsu-east",
        "obu6": "rsu-east",
    }
    assert serving_rsu(topology, "rsu-east") == "rsu-east"


def test_a_vehicle_as_near_to_two_rsus_is_served_by_neither():
    topology = _topology(
        {"w": "rsu", "e": "rsu", "mid": "obu", "a": "obu"},
        {("w", "mid"): 0.3, ("mid", "e"): 0.3, ("w", "a"): 0.3},
    )
    assert serving_rsu(topology, "mid") is None
    assert serving_rsu(topology, "a") == "w"


def test_a_cut_link_does_not_count_toward_the_nearest_rsu():
    topology = _topology(
        {"w": "rsu", "e": "rsu", "a": "obu", "b": "obu"},
        {("w", "a"): 1.0, ("a", "b"): 0.0, ("b", "e"): 0.0},
    )
    assert serving_rsu(topology, "a") == "e"


def test_a_flow_goes_up_to_the_rsu_and_down_from_it():
    # b - a - c with a in reach of the RSU w: the flow c -> b runs c > a > w
    # (up) then w > a > b (down), never c > a > b past the RSU.
    topology = _topology(
        {"w": "rsu", "a": "obu", "b": "obu", "c": "obu"},
        {("w", "a"): 0.2, ("a", "b"): 0.5, ("a", "c"): 0.0},
        flows=[("c", "b"), ("w", "c"), ("b", "w")],
    )
    plans = {plan.name: plan for plan in plan_flows(topology)}
    assert plans["c-to-b"].path == ("c", "a", "w", "a", "b")
    assert plans["c-to-b"].expected == pytest.approx(1.0 * 0.8 * 0.8 * 0.5)
    assert plans["w-to-c"].path == ("w", "a", "c")
    assert plans["w-to-c"].hops == 2
    assert plans["b-to-w"].expected == pytest.approx(0.5 * 0.8)


def test_flows_between_two_rsus_sides_get_no_expectation():
    topology = load_topology(EXAMPLES / "lossy.ini")
    plan = next(p for p in plan_flows(topology) if p.name == "obu4-to-obu6")
    assert plan.ends == ("rsu-west", "rsu-east")
    assert (plan.rsu, plan.path, plan.expected) == (None, None, None)


def test_within_is_relative_to_the_expectation():
    assert within(0.49 * 1.149, 0.49)
    assert within(0.49 * 0.851, 0.49)
    assert not within(0.40, 0.49)
    assert not within(0.58, 0.49)
    assert not within(None, 0.49)


def test_a_lossless_chain_is_sampled_every_period_and_never_loops():
    topology = load_topology(EXAMPLES / "chain.ini")
    import attrs

    topology = attrs.evolve(
        topology, sim=attrs.evolve(topology.sim, clock="virtual", duration_s=5.0)
    )
    run = run_seed(topology, 3, 0.5)
    assert run["seed"] == 3
    assert run["samples"] == 10
    assert run["samples_with_cycle"] == 0
    assert run["cycles_at_end"] == []
    assert set(run["data_drops"]) == {"rsu", "obu"}


def test_data_drops_are_counted_by_role_and_reason():
    # A vehicle whose only link is cut sends into the void: its frames
    # wait for an upstream that never comes, and are dropped for want of one.
    topology = _topology(
        {"rsu": "rsu", "a": "obu", "b": "obu"},
        {("rsu", "a"): 0.0, ("a", "b"): 1.0},
        flows=[("b", "rsu")],
    )
    import attrs

    topology = attrs.evolve(topology, sim=attrs.evolve(topology.sim, duration_s=30))
    run = run_seed(topology, 1, 1.0)
    assert run["data_drops"]["obu"].get("no_upstream", 0) > 0
    assert run["flows"]["b-to-rsu"]["received"] == 0


# -- the command line --------------------------------------------------------------


def test_seeds_print_one_cycles_row_per_seed_and_the_flows_apart():
    status, out, err = run_main(
        "-c", str(EXAMPLES / "lossy.ini"), "--seeds", "2,4-5", "--duration", "4"
    )
    assert status == 0, err
    cycles = out.split("Upstream cycles\n")[1].split("\n\n")[0].splitlines()
    assert cycles[0].split()[:3] == ["SEED", "SAMPLES", "WITH_CYCLE"]
    assert [line.split()[:2] for line in cycles[1:]] == [
        ["2", "16"],
        ["4", "16"],
        ["5", "16"],
    ]
    drops = out.split("Data frames dropped")[1].split("\n\n")[0].splitlines()
    assert drops[1].split() == ["SEED", "RSU", "OBU"]
    judged = out.split("Flows within one RSU")[1].split("\n\n")[0]
    assert "obu1-to-obu4" in judged and "obu4-to-obu6" not in judged
    apart = out.split("Flows across RSUs")[1]
    assert "obu4-to-obu6" in apart and "rsu-west/rsu-east" in apart


def test_json_study_has_every_seed_and_the_verdict():
    status, out, err = run_main(
        "-c",
        str(EXAMPLES / "lossy.ini"),
        "--seeds",
        "1-2",
        "--sample-ms",
        "1000",
        "--duration",
        "3",
        "--json",
    )
    assert status == 0, err
    study = json.loads(out)
    assert [run["seed"] for run in study["seeds"]] == [1, 2]
    assert [run["samples"] for run in study["seeds"]] == [3, 3]
    assert study["verdict"]["samples"] == 6
    assert study["verdict"]["deliveries_judged"] == 10


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--sample-ms", "100"], "--sample-ms goes with --seeds"),
        (["--seeds", "1-3", "--clock", "real"], "runs in-process on the virtual clock"),
        (["--seeds", "3-1"], "give seeds as 1-5"),
        (["--seeds", "1", "--seed", "2"], "not allowed with"),
        (["--seeds", "1", "--sample-ms", "0"], "give a number of ms > 0"),
    ],
)
def test_bad_study_options_exit_2_and_say_why(argv, says):
    status, out, err = run_main("-c", str(EXAMPLES / "lossy.ini"), *argv)
    assert status == 2
    assert says in err
    assert out == ""
