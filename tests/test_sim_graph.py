"""vanet.sim.graph: upstream cycles and most reliable paths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vanet.sim.graph import best_path, upstream_cycles

# -- upstream_cycles -------------------------------------------------------------


def test_a_tree_toward_the_rsus_has_no_cycle():
    # obu1 and obu2 reach rsu directly, obu3 through obu1; rsu has no entry.
    upstream = {"obu1": "rsu", "obu2": "rsu", "obu3": "obu1", "obu4": None}
    assert upstream_cycles(upstream) == []


def test_two_vehicles_pointing_at_each_other_are_one_cycle():
    upstream = {"obu1": "rsu", "obu3": "obu4", "obu4": "obu3", "obu5": "obu3"}
    assert upstream_cycles(upstream) == [("obu3", "obu4")]


def test_a_longer_cycle_is_found_once_starting_at_its_smallest_node():
    # obu9 -> obu2 -> obu5 -> obu9, with obu1 and obu7 leading into it
    upstream = {
        "obu5": "obu9",
        "obu9": "obu2",
        "obu2": "obu5",
        "obu1": "obu7",
        "obu7": "obu5",
    }
    assert upstream_cycles(upstream) == [("obu2", "obu5", "obu9")]


def test_separate_cycles_and_a_node_that_is_its_own_upstream():
    upstream = {"d": "c", "c": "d", "b": "a", "a": "b", "e": "e", "f": "rsu"}
    assert upstream_cycles(upstream) == [("a", "b"), ("c", "d"), ("e",)]


# The same question answered the slow way: a node is on a cycle when
# following upstream from it comes back to it within len(upstream) steps.
def _on_a_cycle(upstream, node):
    current = upstream.get(node)
    for _ in range(len(upstream)):
        if current == node:
            return True
        if current not in upstream:
            return False
        current = upstream[current]
    return False


@given(
    st.dictionaries(
        st.integers(0, 12), st.one_of(st.none(), st.integers(0, 15)), max_size=13
    )
)
def test_cycles_are_exactly_the_nodes_that_come_back_to_themselves(upstream):
    cycles = upstream_cycles(upstream)
    on_cycles = [node for cycle in cycles for node in cycle]
    assert len(on_cycles) == len(set(on_cycles))  # each cycle, each node once
    assert set(on_cycles) == {n for n in upstream if _on_a_cycle(upstream, n)}
    for cycle in cycles:
        assert cycle[0] == min(cycle)
        for i, node in enumerate(cycle):
            assert upstream[node] == cycle[(i + 1) % len(cycle)]


# -- best_path -------------------------------------------------------------------


def _both_ways(rates):
    return {**rates, **{(b, a): rate for (a, b), rate in rates.items()}}


def test_the_best_path_multiplies_success_rates_along_the_fewest_hops():
    success = _both_ways(
        {("rsu", "a"): 0.7, ("a", "b"): 0.7, ("b", "c"): 0.7, ("a", "c"): 0.7}
    )
    likelihood, path = best_path(success, "c", "rsu")
    assert path == ("c", "a", "rsu")
    assert likelihood == pytest.approx(0.49)


def test_a_longer_clean_path_beats_a_short_lossy_one():
    success = _both_ways({("rsu", "a"): 0.3, ("rsu", "b"): 0.9, ("b", "a"): 0.9})
    likelihood, path = best_path(success, "a", "rsu")
    assert path == ("a", "b", "rsu")
    assert likelihood == pytest.approx(0.81)


def test_equally_good_paths_are_broken_by_node_order_not_by_input_order():
    rates = {("s", "y"): 0.7, ("y", "d"): 0.7, ("s", "x"): 0.7, ("x", "d"): 0.7}
    assert best_path(rates, "s", "d")[1] == ("s", "x", "d")
    assert best_path(dict(reversed(rates.items())), "s", "d")[1] == ("s", "x", "d")


def test_nodes_that_do_not_relay_are_only_ends():
    # The only way from a to b runs through the other RSU, which relays nothing.
    success = _both_ways({("a", "rsu2"): 0.7, ("rsu2", "b"): 0.7})
    assert best_path(success, "a", "b", relays=lambda n: n != "rsu2") is None
    assert best_path(success, "a", "rsu2", relays=lambda n: n != "rsu2")[1] == (
        "a",
        "rsu2",
    )
    assert best_path(success, "rsu2", "b", relays=lambda n: n != "rsu2")[1] == (
        "rsu2",
        "b",
    )


def test_links_are_directed_and_a_cut_link_is_no_link():
    success = {("a", "b"): 0.7, ("b", "c"): 0.0}
    assert best_path(success, "a", "b") == (0.7, ("a", "b"))
    assert best_path(success, "b", "a") is None
    assert best_path(success, "a", "c") is None
    assert best_path(success, "a", "a") == (1.0, ("a",))
