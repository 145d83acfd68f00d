"""The simulator's HTTP API, over a fake simulation."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

from twisted.internet import defer, reactor, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers
from twisted.web.test.requesthelper import DummyRequest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from vanet.mac import format_mac, stable_local_mac
from vanet.sim.api import ISimulation, SimulationAPI, api_site
from vanet.sim.api_compat import bearing, latency_us, older_positions
from vanet.sim.channel import ChannelMedium, ChannelParams


@implementer(ISimulation)
class FakeSimulation:
    """Three nodes over a real ChannelMedium; node data are canned."""

    def __init__(self) -> None:
        self.names = {"n1": "rsu", "n2": "obu", "n3": "obu"}
        self.medium = ChannelMedium(
            task.Clock(),
            seed=1,
            links={
                ("n1", "n2"): ChannelParams(10),
                ("n2", "n1"): ChannelParams(10),
                ("n2", "n3"): ChannelParams(20, 1, 0.5),
            },
        )
        self.fail_with: Exception | None = None

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def node_list(self):
        self._maybe_fail()
        return [
            {"name": name, "role": role, "mac": format_mac(stable_local_mac(name))}
            for name, role in self.names.items()
        ]

    def node_info(self):
        info = self.node_list()
        info[1]["upstream"] = {
            "mac": format_mac(stable_local_mac("n1")),
            "node": "n1",
            "hops": 1,
        }
        info[1]["rtt_ms"] = 20.5
        return info

    def node_status(self, name):
        if name not in self.names:
            raise KeyError(name)
        return {"name": name, "role": self.names[name], "routes": {}}

    def stats(self):
        return {
            name: {**self.medium.node_stats(name), "drops": {"no_upstream": 0}}
            for name in self.names
        }

    def channels(self):
        return self.medium.channel_table()

    def set_channel(self, a, b, **params):
        for name in (a, b):
            if name not in self.names:
                raise KeyError(name)
        self.medium.set_params(a, b, **params)
        return None

    def topology_graph(self):
        return {"type": "NetworkGraph", "protocol": "vanet", "nodes": [], "links": []}

    def metrics(self):
        return "# TYPE vanet_up gauge\nvanet_up 1\n"


class Response:
    def __init__(self, request: DummyRequest) -> None:
        self.code = request.responseCode or 200
        self.body = b"".join(request.written)
        self.headers = request.responseHeaders

    @property
    def content_type(self) -> str:
        return self.headers.getRawHeaders(b"content-type")[0].decode()

    def json(self):
        return json.loads(self.body)


def call(api, method: str, path: str, body: bytes | None = None, headers=None):
    segments = [part.encode() for part in path.lstrip("/").split("/")]
    request = DummyRequest(segments)
    request.method = method.encode()
    request.uri = path.encode()
    request.content = BytesIO(body or b"")
    for name, value in (headers or {}).items():
        request.requestHeaders.setRawHeaders(name, [value])
    result = api.render(request)
    if isinstance(result, bytes):
        request.write(result)
    return Response(request)


class ApiTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.sim = FakeSimulation()
        self.api = SimulationAPI(self.sim)

    def get_json(self, path: str):
        response = call(self.api, "GET", path)
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(response.content_type, "application/json")
        return response.json()

    def post(self, path: str, body, **headers):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return call(self.api, "POST", path, raw, headers)

    def channel(self, a: str, b: str) -> dict:
        (entry,) = [
            c for c in self.get_json("/channels") if (c["from"], c["to"]) == (a, b)
        ]
        return entry

    def test_fake_provides_the_interface(self) -> None:
        self.assertTrue(verifyObject(ISimulation, self.sim))

    def test_get_endpoints_under_prefix_and_root(self) -> None:
        for name, expected in [
            ("nodes", self.sim.node_list()),
            ("stats", self.sim.stats()),
            ("channels", self.sim.channels()),
            ("topology", self.sim.topology_graph()),
        ]:
            self.assertEqual(self.get_json(f"/api/v1/{name}"), expected)
            self.assertEqual(self.get_json(f"/{name}"), expected)
            self.assertEqual(self.get_json(f"/{name}/"), expected)
        self.assertEqual(self.get_json("/api/v1/node_info"), self.sim.node_info())
        self.assertEqual(self.get_json("/api/v1/node_info/"), self.sim.node_info())
        upstream = self.get_json("/api/v1/node_info")[1]["upstream"]
        self.assertEqual((upstream["node"], upstream["hops"]), ("n1", 1))

    def test_root_node_info_is_the_older_shape(self) -> None:
        mac = {n["name"]: n["mac"] for n in self.sim.node_list()}
        expected = {
            "n1": {"node_type": "rsu", "mac": mac["n1"], "upstream": None},
            "n2": {
                "node_type": "obu",
                "mac": mac["n2"],
                "upstream": {
                    "hops": 1,
                    "mac": mac["n1"],
                    "node_name": "n1",
                    "rssi_dbm": None,  # no radio from positions here
                    "latency_us": 20500,  # rtt_ms 20.5
                },
            },
            "n3": {"node_type": "obu", "mac": mac["n3"], "upstream": None},
        }
        self.assertEqual(self.get_json("/node_info"), expected)
        self.assertEqual(self.get_json("/node_info/"), expected)
        self.assertIn(
            "GET /node_info (the older implementation's shape)",
            self.get_json("/")["endpoints"],
        )

    def test_no_positions_endpoint_for_a_simulation_without_one(self) -> None:
        for path in ("/positions", "/api/v1/positions"):
            self.assertEqual(call(self.api, "GET", path).code, 404)

    def test_metrics_are_prometheus_text(self) -> None:
        for path in ("/metrics", "/api/v1/metrics"):
            response = call(self.api, "GET", path)
            self.assertEqual(response.code, 200)
            self.assertTrue(
                response.content_type.startswith("text/plain; version=0.0.4")
            )
            self.assertEqual(response.body, b"# TYPE vanet_up gauge\nvanet_up 1\n")

    def test_index_lists_endpoints(self) -> None:
        self.assertIn("GET /api/v1/nodes", self.get_json("/")["endpoints"])
        self.assertIn("GET /api/v1/nodes", self.get_json("/api/v1")["endpoints"])

    def test_get_one_channel(self) -> None:
        entry = self.get_json("/api/v1/channel/n2/n3")
        self.assertEqual((entry["latency_ms"], entry["loss"]), (20.0, 0.5))

    def test_post_a_subset(self) -> None:
        response = self.post("/api/v1/channel/n2/n3", {"latency_ms": 7.5})
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(response.json()["latency_ms"], 7.5)
        entry = self.channel("n2", "n3")
        self.assertEqual(
            (entry["latency_ms"], entry["jitter_ms"], entry["loss"]), (7.5, 1.0, 0.5)
        )
        # the reverse direction is another channel, untouched
        self.assertEqual(self.channel("n1", "n2")["latency_ms"], 10.0)

    def test_post_the_older_string_form(self) -> None:
        response = self.post(
            "/channel/n1/n2", {"latency": "100", "loss": "0.25", "jitter": "3"}
        )
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(
            self.sim.medium.params("n1", "n2"), ChannelParams(100, 3, 0.25)
        )

    def test_post_creates_a_missing_channel(self) -> None:
        response = self.post("/channel/n3/n1", {"loss": 0})
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(self.channel("n3", "n1")["loss"], 0.0)

    def test_bad_requests(self) -> None:
        before = self.sim.medium.params("n2", "n3")
        for body, fragment in [
            (b"{not json", "JSON"),
            (b"[1, 2]", "JSON object"),
            ({}, "nothing to change"),
            ({"bandwidth": 5}, "unknown key 'bandwidth'"),
            ({"latency": "fast"}, "latency must be a number"),
            ({"loss": True}, "loss must be a number"),
            ({"loss": None}, "loss must be a number"),
            ({"latency": 5, "latency_ms": 6}, "twice"),
            ({"loss": 2}, "loss"),  # the simulation's ValueError
            ({"latency_ms": -1}, "latency_ms"),
            (b'{"loss": NaN}', "finite"),
        ]:
            response = self.post("/api/v1/channel/n2/n3", body)
            self.assertEqual(response.code, 400, body)
            self.assertEqual(response.content_type, "application/json")
            self.assertIn(fragment, response.json()["error"], body)
        self.assertEqual(self.sim.medium.params("n2", "n3"), before)

    def test_unknown_nodes_and_paths_are_404(self) -> None:
        for path in ("/channel/n2/zz", "/api/v1/channel/zz/n1"):
            response = self.post(path, {"loss": 0.5})
            self.assertEqual(response.code, 404)
            self.assertIn("zz", response.json()["error"])
        response = call(self.api, "GET", "/channel/zz/n1")
        self.assertEqual(response.code, 404)
        self.assertIn("unknown node 'zz'", response.json()["error"])
        response = call(self.api, "GET", "/channel/n3/n1")  # both known, no link
        self.assertEqual(response.code, 404)
        for path in ("/nope", "/api/v2/nodes", "/api/v1/channel/n1", "/nodes/n1"):
            response = call(self.api, "GET", path)
            self.assertEqual(response.code, 404, path)
            self.assertIn("error", response.json())

    def test_one_nodes_status(self) -> None:
        for path in ("/api/v1/node/n2", "/node/n2", "/node/n2/"):
            self.assertEqual(self.get_json(path), self.sim.node_status("n2"))
        response = call(self.api, "GET", "/node/zz")
        self.assertEqual(response.code, 404)
        self.assertIn("unknown node 'zz'", response.json()["error"])
        response = call(self.api, "POST", "/node/n2", b"{}")
        self.assertEqual(response.code, 405)

    def test_wrong_method_is_405(self) -> None:
        for method, path, allow in [
            ("POST", "/nodes", "GET, HEAD"),
            ("DELETE", "/api/v1/channels", "GET, HEAD"),
            ("PUT", "/channel/n1/n2", "GET, HEAD, POST"),
            ("POST", "/metrics", "GET, HEAD"),
        ]:
            response = call(self.api, method, path, b"{}")
            self.assertEqual(response.code, 405, path)
            self.assertEqual(response.headers.getRawHeaders(b"allow"), [allow.encode()])
            self.assertIn(method, response.json()["error"])

    def test_cross_origin_post_refused(self) -> None:
        response = self.post(
            "/channel/n1/n2",
            {"loss": 1},
            **{"origin": b"http://evil.example", "host": b"127.0.0.1:3030"},
        )
        self.assertEqual(response.code, 403)
        self.assertEqual(self.sim.medium.params("n1", "n2").loss, 0)
        same = self.post(
            "/channel/n1/n2",
            {"loss": 1},
            **{"origin": b"http://127.0.0.1:3030", "host": b"127.0.0.1:3030"},
        )
        self.assertEqual(same.code, 200)

    def test_simulation_errors_are_500_and_logged(self) -> None:
        self.sim.fail_with = RuntimeError("broken")
        response = call(self.api, "GET", "/nodes")
        self.assertEqual(response.code, 500)
        self.assertIn("error", response.json())
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class OverHttpTests(TestCase):
    """The same API over a real listening socket."""

    @defer.inlineCallbacks
    def test_get_and_post(self):
        sim = FakeSimulation()
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            api_site(sim)
        )
        self.addCleanup(port.stopListening)
        base = f"http://127.0.0.1:{port.getHost().port}"
        agent = Agent(reactor)

        response = yield agent.request(b"GET", f"{base}/api/v1/nodes".encode())
        body = yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertEqual([n["name"] for n in json.loads(body)], ["n1", "n2", "n3"])

        response = yield agent.request(
            b"POST",
            f"{base}/channel/n2/n3".encode(),
            Headers({b"content-type": [b"application/json"]}),
            FileBodyProducer(
                BytesIO(b'{"latency": "100", "loss": "1.0", "jitter": "0"}')
            ),
        )
        body = yield readBody(response)
        self.assertEqual(response.code, 200, body)
        self.assertEqual(sim.medium.params("n2", "n3"), ChannelParams(100, 0, 1.0))

        response = yield agent.request(
            b"POST",
            f"{base}/api/v1/channel/n2/ghost".encode(),
            None,
            FileBodyProducer(BytesIO(b'{"loss": 0}')),
        )
        body = yield readBody(response)
        self.assertEqual(response.code, 404)
        self.assertIn("ghost", json.loads(body)["error"])


class OlderShapeTests(SynchronousTestCase):
    """The converters behind the root's older shapes."""

    def test_bearing_is_the_compass_heading(self) -> None:
        # ours: clockwise from north (+y); 90 is east (+x)
        for heading, expected in [
            (0.0, 0.0),
            (90.0, 90.0),
            (270.0, 270.0),
            (-90.0, 270.0),
            (360.0, 0.0),
            (359.99, 0.0),
        ]:
            self.assertEqual(bearing(heading), expected, heading)

    def test_latency_us_is_rtt_ms_in_whole_microseconds(self) -> None:
        self.assertEqual(latency_us(4.0), 4000)
        self.assertEqual(latency_us(8.0004), 8000)
        self.assertEqual(latency_us(0.0006), 1)
        self.assertIsNone(latency_us(None))

    def test_positions_with_and_without_lat_lon(self) -> None:
        ours = {
            "car": {
                "x": 10.0,
                "y": 2.0,
                "speed": 25.5,
                "heading": 90.0,
                "lat": 52.5,
                "lon": 13.3,
            },
            "rsu": {"x": 0.0, "y": -5.0, "speed": 0.0, "heading": 0.0},
        }
        self.assertEqual(
            older_positions(ours),
            {
                "car": {"lat": 52.5, "lon": 13.3, "speed": 25.5, "bearing": 90.0},
                "rsu": {
                    "lat": None,
                    "lon": None,
                    "x": 0.0,
                    "y": -5.0,
                    "speed": 0.0,
                    "bearing": 0.0,
                },
            },
        )


class OlderShapeDocsTests(SynchronousTestCase):
    """docs/simulator.md lists both shapes side by side, every key each
    answers."""

    def test_the_docs_table_lists_both_shapes(self) -> None:
        doc = (
            Path(__file__).resolve().parents[1] / "docs" / "simulator.md"
        ).read_text()
        start = doc.index("### The older implementation's shapes at the root")
        section = doc[start : doc.index("\n## ", start)]
        for path in (
            "GET /api/v1/node_info",
            "GET /node_info",
            "GET /api/v1/positions",
            "GET /positions",
        ):
            self.assertIn(f"`{path}`", section)
        fake = FakeSimulation()
        api = SimulationAPI(fake)
        older = call(api, "GET", "/node_info").json()["n2"]
        positions = older_positions(
            {"a": {"x": 1.0, "y": 2.0, "speed": 3.0, "heading": 4.0}}
        )["a"]
        keys = {*older, *older["upstream"], *positions}
        keys |= {"name", "role", "node", "rtt_ms", "heading"}  # ours
        for key in keys:
            # as `key`, or within one such as `upstream.key`
            self.assertRegex(section, rf"`([\w.]+\.)?{key}`", key)
