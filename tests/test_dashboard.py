"""The terminal dashboard (``vanetctl top``, ``vanet-sim --tui``): its
views, driven by Textual's test pilot, against ``vanet-sim`` running
examples/highway.ini, and against a node's control endpoint."""

from __future__ import annotations

import asyncio

import pytest

from tests.simproc import start_routed
from tests.test_ctl import serve_status
from vanet import ctl
from vanet.dashboard.data import Branch, NodeSource, SimSource, upstream_tree
from vanet.sim import cli
from vanet.sim.runner import http_url
from vanet.sim.topology import SimConfigError

pytest.importorskip("textual", reason="the dashboard extra: pip install 'vanet[tui]'")

from textual.widgets import DataTable, Input, TabbedContent, Tree  # noqa: E402

from vanet.dashboard.app import Dashboard  # noqa: E402


@pytest.fixture(scope="module")
def sim():
    running = start_routed()
    try:
        yield running
    finally:
        running.stop()


def rows(app: Dashboard, table_id: str) -> list[list[str]]:
    table = app.query_one(f"#{table_id}", DataTable)
    return [list(map(str, table.get_row_at(i))) for i in range(table.row_count)]


def tree_labels(node, depth: int = 0) -> list[tuple[int, str]]:
    found = []
    for child in node.children:
        found.append((depth, str(child.label)))
        found.extend(tree_labels(child, depth + 1))
    return found


async def until(pilot, check, what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if check():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


async def started(app: Dashboard, pilot) -> None:
    await until(pilot, lambda: app.refreshes, f"data from {app.source.url}")


def test_every_view_shows_the_running_simulation(sim):
    async def drive():
        app = Dashboard(SimSource(sim.url), refresh_s=0.5)
        async with app.run_test(size=(160, 48)) as pilot:
            await started(app, pilot)
            nodes = sim.api("nodes")
            names = [n["name"] for n in nodes]

            # Metrics: every node's frames and drops, and each flow.
            assert [r[0] for r in rows(app, "metrics-table")] == names
            assert all(int(r[2]) > 0 for r in rows(app, "metrics-table"))
            flows = sim.api("stats")["flows"]
            assert [r[0] for r in rows(app, "flows-table")] == list(flows)
            await until(  # once the traffic has started (after its warm-up)
                pilot,
                lambda: all(r[3].endswith("%") for r in rows(app, "flows-table")),
                "every flow's delivery ratio",
            )

            # Channels, sortable: s sorts by the next column ("to").
            await pilot.press("2")
            assert app.query_one(TabbedContent).active == "channels"
            channels = sim.api("channels")
            shown = rows(app, "channels-table")
            assert sorted((r[0], r[1]) for r in shown) == sorted(
                (c["from"], c["to"]) for c in channels
            )
            await pilot.press("s")
            by_to = [r[1] for r in rows(app, "channels-table")]
            assert by_to == sorted(by_to) and by_to != [r[1] for r in shown]

            # Upstreams: vehicle -> gateway, next hop, hops, as /node_info.
            await pilot.press("3")
            info = {n["name"]: n for n in sim.api("node_info") if n["role"] == "obu"}
            for vehicle, gateway, next_hop, hops, _rtt in rows(app, "upstreams-table"):
                assert gateway == info[vehicle]["gateway_node"]
                assert next_hop == info[vehicle]["upstream"]["node"]
                assert int(hops) == info[vehicle]["upstream"]["hops"]
            assert len(rows(app, "upstreams-table")) == len(info) == 8

            # Route events, filtered as typed.
            await pilot.press("slash")
            assert app.focused is app.query_one("#events-filter", Input)
            everything = rows(app, "events-table")
            await pilot.press(*"upstream_selected")
            picked = rows(app, "events-table")
            assert picked and len(picked) < len(everything)
            assert {r[2] for r in picked} == {"upstream_selected"}
            app.query_one("#events-filter", Input).value = ""
            await pilot.pause()  # the filter goes before the keys below

            # Nodes.
            app.set_focus(None)
            await pilot.press("5")
            assert [r[0] for r in rows(app, "nodes-table")] == names

            # Topology: each RSU with its vehicles nested by upstream.
            await pilot.press("6")
            labels = tree_labels(app.query_one("#topology-tree", Tree).root)
            assert [label for depth, label in labels if depth == 0] == [
                "rsu-west",
                "rsu-east",
            ]
            assert (1, "obu1 (1 hop)") in labels and (1, "obu8 (1 hop)") in labels
            assert sum(1 for _, label in labels if label.startswith("obu")) == 8

    asyncio.run(drive())


def test_the_dashboard_says_when_the_source_is_gone():
    async def drive():
        app = Dashboard(SimSource("http://127.0.0.1:9", timeout=1), refresh_s=0.5)
        async with app.run_test() as pilot:
            for _ in range(50):
                if app.error:
                    break
                await pilot.pause(0.1)
            assert app.error
            assert app.sub_title.startswith("NO ANSWER from http://127.0.0.1:9")

    asyncio.run(drive())


class _Cleanups:
    """``addCleanup`` for ``serve_status`` outside a unittest class."""

    def __init__(self) -> None:
        self.calls: list = []

    def addCleanup(self, function, *args):  # noqa: N802 - unittest's name
        self.calls.append((function, args))

    def run(self) -> None:
        for function, args in reversed(self.calls):
            function(*args)


def test_vanetctl_top_on_a_node(sim):
    # A control endpoint answering with obu4's real status, live.
    cleanups = _Cleanups()
    url = serve_status(cleanups, lambda: sim.api("node/obu4"))
    try:

        async def drive():
            app = Dashboard(NodeSource(url), refresh_s=0.5)
            async with app.run_test(size=(160, 48)) as pilot:
                await started(app, pilot)
                status = sim.api("node/obu4")
                assert app.title.startswith("obu4 ")
                tabs = [str(t.label) for t in app.query("Tab")]
                assert tabs[:3] == ["Metrics", "Routes", "Candidates"]
                counters = dict(r for r in rows(app, "metrics-table"))
                assert int(counters["frames_in"]) > 0
                assert {r[0] for r in rows(app, "channels-table")} == set(
                    status["routes"]
                )
                assert rows(app, "upstreams-table")[0][1] == status["upstream"]
                assert {r[0] for r in rows(app, "nodes-table")} == set(
                    status["neighbours"]
                )
                events = {r[2] for r in rows(app, "events-table")}
                assert "upstream_selected" in events

        asyncio.run(drive())
    finally:
        cleanups.run()


def test_upstream_tree_shows_vehicles_without_a_route_and_loops():
    parents = {"a": "rsu", "b": "a", "c": None, "d": "e", "e": "d"}
    tree = upstream_tree(parents, ["rsu"], str)
    assert tree == [
        Branch("rsu", [Branch("a", [Branch("b")])]),
        Branch("(no route)", [Branch("c"), Branch("d"), Branch("e")]),
    ]


def test_the_dashboards_url_from_the_http_endpoint():
    assert http_url("tcp:3030:interface=127.0.0.1") == "http://127.0.0.1:3030"
    assert http_url("tcp:port=8080") == "http://127.0.0.1:8080"
    assert http_url("tcp6:3030:interface=\\:\\:1") == "http://[::1]:3030"
    with pytest.raises(SimConfigError, match="tcp:PORT"):
        http_url("unix:/tmp/sim.sock")


def test_the_command_lines(capsys):
    assert cli.main(["--tui", "--clock", "virtual"]) == 2
    assert "--tui runs in real time" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--tui", "--seeds", "1-2"])
    assert exit_.value.code == 2
    assert "--tui watches one run" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        ctl.main(["--sim", "http://127.0.0.1:3030", "status"])
    assert exit_.value.code == 2
    assert "--sim goes with top" in capsys.readouterr().err
