"""The web view's server side: layout, event stream, shipped files, and the
simulator's site (the browser itself: tests/test_web_browser.py)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from twisted.internet import task
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from tests.test_sim_api import FakeSimulation
from vanet.sim.api import api_site
from vanet.web.assets import FILES, read_asset
from vanet.web.layout import graph_layout
from vanet.web.sim import PUSH_INTERVAL_S, SimulationView
from vanet.web.stream import EventStream

HIGHWAY = Path(__file__).resolve().parents[1] / "examples" / "highway.ini"


def get(site, path: str, accept: bytes = b"*/*") -> DummyRequest:
    request = DummyRequest([part.encode() for part in path.lstrip("/").split("/")])
    request.method = b"GET"
    request.requestHeaders.setRawHeaders(b"accept", [accept])
    resource = site.getResourceFor(request)
    body = resource.render(request)
    if isinstance(body, bytes):
        request.write(body)
    return request


def body(request: DummyRequest) -> bytes:
    return b"".join(request.written)


def header(request: DummyRequest, name: bytes) -> str:
    return request.responseHeaders.getRawHeaders(name)[0].decode()


def sse_messages(request: DummyRequest) -> list[dict]:
    """The ``snapshot`` messages written so far."""
    text = body(request).decode()
    found = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        if lines and lines[0] == "event: snapshot":
            data = [line[6:] for line in lines if line.startswith("data: ")]
            found.append(json.loads("".join(data)))
    return found


class LayoutTests(SynchronousTestCase):
    HIGHWAY = ["w", "a", "b", "c", "d", "e"]

    def chain(self):
        names = self.HIGHWAY
        return names, [(names[i], names[i + 1]) for i in range(len(names) - 1)]

    def test_the_same_topology_gives_the_same_picture(self):
        names, edges = self.chain()
        first = graph_layout(names, edges)
        again = graph_layout(names, list(reversed([(b, a) for a, b in edges])))
        self.assertEqual(first, again)

    def test_a_chain_is_drawn_left_to_right_in_its_order(self):
        names, edges = self.chain()
        layout = graph_layout(names, edges)
        xs = [layout[name][0] for name in names]
        self.assertEqual(xs, sorted(xs))
        self.assertEqual((xs[0], xs[-1]), (0.0, 1.0))
        # Long side horizontal, everything in the unit square.
        for x, y in layout.values():
            self.assertTrue(0 <= x <= 1 and 0 <= y <= 1)
        self.assertLess(max(y for _, y in layout.values()), 0.5)

    def test_hop_distance_is_drawn_as_distance(self):
        # A square with one diagonal: the two ends of the missing diagonal
        # (2 hops) end up farther apart than any linked pair.
        names = ["a", "b", "c", "d"]
        edges = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "c")]
        layout = graph_layout(names, edges)

        def dist(p, q):
            (x1, y1), (x2, y2) = layout[p], layout[q]
            return ((x1 - x2) ** 2 + (y1 - y2) ** 2) ** 0.5

        self.assertGreater(dist("b", "d"), max(dist(p, q) for p, q in edges))

    def test_unlinked_nodes_and_small_graphs(self):
        self.assertEqual(graph_layout([], []), {})
        self.assertEqual(graph_layout(["only"], []), {"only": (0.5, 0.0)})
        layout = graph_layout(["a", "b", "c"], [("a", "b"), ("a", "zz")])
        self.assertEqual(len(set(layout.values())), 3)  # nobody on top of another


class EventStreamTests(SynchronousTestCase):
    def setUp(self):
        self.clock = task.Clock()
        self.count = 0

        def snapshot():
            self.count += 1
            return {"n": self.count, "text": "two\nlines"}

        self.stream = EventStream(snapshot, self.clock, interval_s=0.5, max_listeners=2)

    def open(self) -> DummyRequest:
        request = DummyRequest([])
        request.method = b"GET"
        answer = self.stream.render(request)
        if isinstance(answer, bytes):
            request.write(answer)
        return request

    def test_snapshot_at_once_then_every_interval_one_build_for_all(self):
        first = self.open()
        self.assertEqual(
            header(first, b"content-type"), "text/event-stream; charset=utf-8"
        )
        self.assertEqual([m["n"] for m in sse_messages(first)], [1])
        second = self.open()
        self.clock.advance(0.5)
        self.clock.advance(0.5)
        self.assertEqual([m["n"] for m in sse_messages(first)], [1, 3, 4])
        self.assertEqual([m["n"] for m in sse_messages(second)], [2, 3, 4])
        self.assertEqual(sse_messages(first)[0]["text"], "two\nlines")

    def test_nothing_runs_once_every_page_is_gone(self):
        request = self.open()
        request.processingFailed(Failure(ConnectionError("page closed")))
        self.assertEqual(self.stream.listeners, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(5)
        self.assertEqual(self.count, 1)

    def test_listeners_are_bounded(self):
        self.open()
        self.open()
        third = self.open()
        self.assertEqual(third.responseCode, 503)
        self.assertIn("at most 2", json.loads(body(third))["error"])
        self.assertEqual(len(self.stream.listeners), 2)

    def test_push_soon_pushes_at_once_but_never_more_than_once_per_gap(self):
        page = self.open()
        self.clock.advance(0.1)
        self.stream.push_soon()
        self.assertEqual(len(sse_messages(page)), 1)  # not from inside the caller
        self.clock.advance(0)
        self.assertEqual([m["n"] for m in sse_messages(page)], [1, 2])
        # A storm of changes: one more push, a gap after the last.
        for _ in range(100):
            self.stream.push_soon()
        self.clock.advance(self.stream.min_gap_s - 0.001)
        self.assertEqual(len(sse_messages(page)), 2)
        self.clock.advance(0.001)
        self.assertEqual([m["n"] for m in sse_messages(page)], [1, 2, 3])
        # The periodic pushes go on as before.
        self.clock.advance(0.5 - 0.1 - self.stream.min_gap_s)
        self.assertEqual([m["n"] for m in sse_messages(page)], [1, 2, 3, 4])

    def test_push_soon_without_a_page_does_nothing(self):
        self.stream.push_soon()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        page = self.open()
        self.stream.push_soon()
        page.processingFailed(Failure(ConnectionError("page closed")))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.count, 1)

    def test_a_failing_snapshot_is_a_500_and_logged(self):
        stream = EventStream(lambda: 1 / 0, self.clock)
        request = DummyRequest([])
        request.method = b"GET"
        request.write(stream.render(request))
        self.assertEqual(request.responseCode, 500)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(stream.listeners, [])


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("src", "href") and value:
                self.refs.append(value)


class AssetTests(SynchronousTestCase):
    def test_pages_load_only_shipped_files(self):
        for page in ("sim.html", "node.html"):
            parser = _Refs()
            parser.feed(read_asset(page).decode())
            for ref in parser.refs:
                if ref.startswith("ui/"):
                    self.assertIn(ref[3:], FILES, f"{page} loads {ref}")
                else:  # the data: icon, the node's own JSON links
                    self.assertRegex(ref, r"^(data:|status$|metrics$)", page)

    def test_nothing_from_elsewhere(self):
        for name in FILES:
            text = read_asset(name).decode()
            urls = set(re.findall(r"https?://[^\s\"')]+", text))
            self.assertLessEqual(urls, {"http://www.w3.org/2000/svg"}, name)


class SimulationSiteTests(SynchronousTestCase):
    def setUp(self):
        self.sim = FakeSimulation()
        self.site = api_site(self.sim)

    def test_a_browser_gets_the_page_and_curl_the_endpoints(self):
        page = get(self.site, "/", accept=b"text/html,application/xhtml+xml,*/*")
        self.assertEqual(header(page, b"content-type"), "text/html; charset=utf-8")
        self.assertIn(b'src="ui/sim.js"', body(page))
        self.assertIn("default-src 'self'", header(page, b"content-security-policy"))
        self.assertEqual(header(page, b"x-content-type-options"), "nosniff")
        listing = get(self.site, "/")
        self.assertIn("GET /api/v1/nodes", json.loads(body(listing))["endpoints"])
        self.assertEqual(
            json.loads(body(get(self.site, "/api/v1/node_info"))), self.sim.node_info()
        )

    def test_shipped_files_and_nothing_else(self):
        script = get(self.site, "/ui/sim.js")
        self.assertEqual(
            header(script, b"content-type"), "text/javascript; charset=utf-8"
        )
        self.assertEqual(body(script), read_asset("sim.js"))
        for path in ("/ui/nope.js", "/ui/", "/ui/..", "/ui/sim.js/x", "/ui/%2e%2e"):
            self.assertEqual(get(self.site, path).responseCode, 404, path)

    def test_events_stream_a_snapshot_of_the_simulation(self):
        request = get(self.site, "/events")
        self.addCleanup(self.site.resource.events.close)
        (snapshot,) = sse_messages(request)
        names = [node["name"] for node in self.sim.node_list()]
        self.assertEqual([node["name"] for node in snapshot["nodes"]], names)
        self.assertEqual(set(snapshot["layout"]), set(names))
        self.assertEqual(snapshot["node_info"], self.sim.node_info())
        self.assertEqual(snapshot["channels"], self.sim.channels())
        self.assertEqual(set(snapshot["node_stats"]), set(names))
        self.assertEqual(PUSH_INTERVAL_S, self.site.resource.events.interval_s)


class SnapshotTests(SynchronousTestCase):
    def setUp(self):
        self.sim = FakeSimulation()
        self.view = SimulationView(self.sim, task.Clock())

    def test_cutting_a_link_does_not_move_the_nodes(self):
        before = self.view.snapshot()["layout"]
        self.sim.set_channel("n1", "n2", loss=1.0)
        self.sim.set_channel("n2", "n1", loss=1.0)
        self.assertEqual(self.view.snapshot()["layout"], before)
        self.sim.set_channel("n1", "n3", latency_ms=1.0)  # a new link: new picture
        self.assertNotEqual(self.view.snapshot()["layout"], before)

    def test_positions_are_used_when_the_nodes_have_them(self):
        listed = self.sim.node_list

        def with_positions():
            nodes = listed()
            nodes[0].update(x=10.0, y=-5)
            nodes[1]["position"] = {"x": 3, "y": 4.5}
            nodes[2].update(x="7", y=float("nan"))  # not a position
            return nodes

        self.sim.node_list = with_positions
        positions = self.view.snapshot()["positions"]
        self.assertEqual(positions, {"n1": (10.0, -5.0), "n2": (3.0, 4.5)})

    def test_positions_from_node_info(self):
        # With [mobility] the simulator gives them in /api/v1/node_info; a
        # node without one now (a vehicle off the road) has none.
        info = self.sim.node_info

        def with_positions():
            entries = info()
            entries[0]["position"] = {"x": 120.5, "y": 3.5, "speed": 28.0}
            entries[1]["position"] = None
            return entries

        self.sim.node_info = with_positions
        positions = self.view.snapshot()["positions"]
        self.assertEqual(positions, {info()[0]["name"]: (120.5, 3.5)})


class SimulationPushTests(SynchronousTestCase):
    """An in-process simulation's upstream changes reach the page at once,
    on its virtual clock."""

    def test_a_cut_upstream_is_pushed_when_it_is_left(self):
        from twisted.web import server

        from vanet.sim.api import SimulationAPI
        from vanet.sim.clock import VirtualClock
        from vanet.sim.inprocess import Simulation
        from vanet.sim.loader import load_topology
        from vanet.web.sim import simulation_site_root

        clock = VirtualClock()
        sim = Simulation(load_topology(HIGHWAY), clock)
        root = simulation_site_root(sim, SimulationAPI(sim), clock)
        sim.startService()
        self.addCleanup(sim.stopService)
        request = get(server.Site(root), "/events")
        self.addCleanup(root.events.close)
        clock.run_until(4.0)
        (obu1,) = [n for n in sim.node_info() if n["name"] == "obu1"]
        self.assertEqual(obu1["upstream"]["node"], "rsu-west")
        pushes = root.events.pushes
        sim.set_channel("obu1", "rsu-west", loss=1.0)
        sim.set_channel("rsu-west", "obu1", loss=1.0)
        cut_at = clock.seconds()
        left_at = None
        while left_at is None and clock.seconds() < cut_at + 3.0:
            clock.run_until(clock.seconds() + 0.001)
            (obu1,) = [n for n in sim.node_info() if n["name"] == "obu1"]
            upstream = obu1["upstream"]
            if upstream is None or upstream["node"] != "rsu-west":
                left_at = clock.seconds()
        self.assertIsNotNone(left_at)
        clock.run_until(left_at + 0.05)

        def left(message) -> bool:
            (obu1,) = [n for n in message["node_info"] if n["name"] == "obu1"]
            upstream = obu1["upstream"]
            return upstream is None or upstream["node"] != "rsu-west"

        shown = [
            m["time_s"]
            for m in sse_messages(request)
            if m["time_s"] >= cut_at and left(m)
        ]
        self.assertTrue(shown, "no snapshot showed obu1 leave rsu-west in time")
        # time_s counts from the site's start, as the clock does here: the
        # page is told within the push gap, not at the next periodic push.
        self.assertGreaterEqual(shown[0], left_at - 0.0015)
        self.assertLessEqual(shown[0], left_at + root.events.min_gap_s)
        self.assertGreater(root.events.pushes, pushes)


class NodePageTests(SynchronousTestCase):
    """A real node's control endpoint serves its page and pushes its status."""

    def setUp(self):
        from vanet.node.control import control_site

        self.clock = task.Clock()
        self.seen = 0

        def status():
            self.seen += 1
            return {"name": "obu1", "role": "obu", "counters": {"frames_in": self.seen}}

        self.site = control_site(status, self.clock)

    def test_a_browser_gets_the_page_and_curl_the_endpoints(self):
        page = get(self.site, "/", accept=b"text/html")
        self.assertIn(b'src="ui/node.js"', body(page))
        self.assertIn(b'src="ui/panel.js"', body(page))  # the simulator's panel
        self.assertEqual(header(page, b"x-content-type-options"), "nosniff")
        self.assertIn("/status", json.loads(body(get(self.site, "/")))["endpoints"])
        self.assertEqual(body(get(self.site, "/ui/panel.js")), read_asset("panel.js"))

    def test_an_upstream_change_is_pushed_at_once(self):
        from vanet.node.control import control_site

        listeners = []
        site = control_site(lambda: {"n": len(listeners)}, self.clock, listeners)
        request = get(site, "/events")
        self.addCleanup(site.resource.children[b"events"].close)
        (heard,) = listeners
        heard("route_changed", {})  # not drawn: waits for the next push
        self.clock.advance(0)
        self.assertEqual(len(sse_messages(request)), 1)
        heard("upstream_switched", {"upstream": "02:00:00:00:00:01"})
        self.clock.advance(0)
        self.assertEqual(len(sse_messages(request)), 2)

    def test_the_status_is_pushed_every_second_while_a_page_is_open(self):
        request = get(self.site, "/events")
        self.clock.advance(1.0)
        counts = [m["counters"]["frames_in"] for m in sse_messages(request)]
        self.assertEqual(counts, [1, 2])
        request.processingFailed(Failure(ConnectionError("page closed")))
        self.assertEqual(self.clock.getDelayedCalls(), [])
