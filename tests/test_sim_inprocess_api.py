"""The HTTP API over a real in-process simulation (examples/chain.ini run on
a virtual clock): what ``curl`` would show a user."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers
from twisted.web.test.requesthelper import DummyRequest
from zope.interface.verify import verifyObject

from vanet.sim.api import ISimulation, SimulationAPI, api_site
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation
from vanet.sim.loader import load_topology

CHAIN = Path(__file__).resolve().parents[1] / "examples" / "chain.ini"


def running_chain(test) -> Simulation:
    """examples/chain.ini after three heartbeat periods."""
    simulation = Simulation(load_topology(CHAIN), VirtualClock())
    simulation.startService()
    test.addCleanup(simulation.stopService)
    simulation.clock.run_until(3.0)
    return simulation


class Reply:
    def __init__(self, request: DummyRequest) -> None:
        self.code = request.responseCode or 200
        self.body = b"".join(request.written)
        self.content_type = request.responseHeaders.getRawHeaders(b"content-type")[0]

    def json(self):
        return json.loads(self.body)


def call(api: SimulationAPI, method: str, path: str, body: bytes = b"") -> Reply:
    request = DummyRequest([part.encode() for part in path.lstrip("/").split("/")])
    request.method = method.encode()
    request.uri = path.encode()
    request.content = BytesIO(body)
    result = api.render(request)
    request.write(result)
    return Reply(request)


class InProcessApiTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.simulation = running_chain(self)
        self.api = SimulationAPI(self.simulation)

    def get(self, path: str):
        reply = call(self.api, "GET", path)
        self.assertEqual(reply.code, 200, reply.body)
        return reply

    def channel(self, a: str, b: str) -> dict:
        matches = [
            c
            for c in self.get("/api/v1/channels").json()
            if (c["from"], c["to"]) == (a, b)
        ]
        self.assertEqual(len(matches), 1)
        return matches[0]

    def test_simulation_provides_the_interface(self) -> None:
        self.assertTrue(verifyObject(ISimulation, self.simulation))

    def test_node_info_names_the_upstream(self) -> None:
        info = {entry["name"]: entry for entry in self.get("/api/v1/node_info").json()}
        self.assertEqual(set(info), {"rsu", "obu1", "obu2"})
        self.assertEqual(info["obu2"]["role"], "obu")
        self.assertEqual(info["obu2"]["upstream"]["node"], "obu1")
        self.assertEqual(info["obu2"]["upstream"]["mac"], info["obu1"]["mac"])
        self.assertEqual(info["obu2"]["upstream"]["hops"], 2)
        self.assertEqual(info["obu1"]["upstream"]["node"], "rsu")
        self.assertEqual(info["rsu"]["role"], "rsu")

    def test_root_node_info_is_the_older_shape_of_the_same_facts(self) -> None:
        ours = {entry["name"]: entry for entry in self.get("/api/v1/node_info").json()}
        older = self.get("/node_info").json()
        self.assertEqual(set(older), {"rsu", "obu1", "obu2"})
        self.assertEqual(
            older["rsu"],
            {"node_type": "rsu", "mac": ours["rsu"]["mac"], "upstream": None},
        )
        # chain.ini: 2 ms a hop, so 4 ms and 8 ms round trips via the RSU
        for name, (via, hops, rtt_us) in {
            "obu1": ("rsu", 1, 4000),
            "obu2": ("obu1", 2, 8000),
        }.items():
            self.assertEqual(older[name]["node_type"], "obu")
            self.assertEqual(older[name]["mac"], ours[name]["mac"])
            self.assertEqual(
                older[name]["upstream"],
                {
                    "hops": hops,
                    "mac": ours[via]["mac"],
                    "node_name": via,
                    "rssi_dbm": None,  # fixed links: no radio
                    "latency_us": rtt_us,
                },
            )
            self.assertEqual(ours[name]["upstream"]["hops"], hops)
            self.assertEqual(ours[name]["upstream"]["node"], via)
            self.assertEqual(round(ours[name]["rtt_ms"] * 1000), rtt_us)

    def test_positions_without_mobility_are_empty_in_both_shapes(self) -> None:
        self.assertEqual(self.get("/api/v1/positions").json(), {})
        self.assertEqual(self.get("/positions").json(), {})

    def test_post_channel_new_form(self) -> None:
        body = json.dumps({"latency_ms": 7.5, "jitter_ms": 1, "loss": 0.25})
        reply = call(self.api, "POST", "/api/v1/channel/obu1/obu2", body.encode())
        self.assertEqual(reply.code, 200, reply.body)
        channel = self.channel("obu1", "obu2")
        self.assertEqual(
            (channel["latency_ms"], channel["jitter_ms"], channel["loss"]),
            (7.5, 1.0, 0.25),
        )
        # One direction only: the way back is unchanged.
        self.assertEqual(self.channel("obu2", "obu1")["latency_ms"], 2.0)
        self.assertEqual(self.simulation.medium.params("obu1", "obu2").loss, 0.25)

    def test_post_channel_older_string_form(self) -> None:
        body = b'{"latency": "100", "loss": "0.0", "jitter": "3"}'
        reply = call(self.api, "POST", "/channel/obu1/obu2", body)
        self.assertEqual(reply.code, 200, reply.body)
        channel = self.channel("obu1", "obu2")
        self.assertEqual(
            (channel["latency_ms"], channel["jitter_ms"], channel["loss"]),
            (100.0, 3.0, 0.0),
        )

    def test_cutting_the_chain_over_the_api_moves_obu2(self) -> None:
        for a, b in (("obu1", "obu2"), ("obu2", "obu1")):
            reply = call(self.api, "POST", f"/channel/{a}/{b}", b'{"loss": 1.0}')
            self.assertEqual(reply.code, 200, reply.body)
        self.simulation.clock.run_until(self.simulation.clock.seconds() + 2.0)
        info = self.get("/node_info").json()  # the older shape
        self.assertEqual(info["obu2"]["upstream"]["node_name"], "rsu")
        ours = {entry["name"]: entry for entry in self.get("/api/v1/node_info").json()}
        self.assertEqual(ours["obu2"]["upstream"]["node"], "rsu")

    def test_topology_is_a_netjson_graph(self) -> None:
        graph = self.get("/api/v1/topology").json()
        self.assertEqual(graph["type"], "NetworkGraph")
        self.assertEqual(
            {node["id"] for node in graph["nodes"]}, {"rsu", "obu1", "obu2"}
        )
        roles = {node["id"]: node["properties"]["role"] for node in graph["nodes"]}
        self.assertEqual(roles, {"rsu": "rsu", "obu1": "obu", "obu2": "obu"})
        pairs = {frozenset((link["source"], link["target"])) for link in graph["links"]}
        self.assertEqual(
            pairs,
            {
                frozenset(p)
                for p in (("rsu", "obu1"), ("obu1", "obu2"), ("rsu", "obu2"))
            },
        )
        costs = {
            (link["source"], link["target"]): link["cost"] for link in graph["links"]
        }
        self.assertEqual(costs.get(("rsu", "obu2"), costs.get(("obu2", "rsu"))), 50.0)

    def test_metrics_are_prometheus_text(self) -> None:
        reply = self.get("/api/v1/metrics")
        self.assertTrue(reply.content_type.startswith(b"text/plain"))
        text = reply.body.decode()
        samples = [
            line for line in text.splitlines() if line and not line.startswith("#")
        ]
        self.assertTrue(samples)
        for line in samples:
            name_and_labels, value = line.rsplit(" ", 1)
            float(value)  # every sample ends with a number
            self.assertRegex(name_and_labels, r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$")
        self.assertIn("# TYPE ", text)
        self.assertIn('"obu2"', text)

    def test_stats_count_frames(self) -> None:
        stats = self.get("/stats").json()
        for name in ("rsu", "obu1", "obu2"):
            self.assertGreater(stats[name]["frames_out"], 0, name)
            self.assertGreater(stats[name]["frames_in"], 0, name)

    def test_unknown_node_is_404(self) -> None:
        reply = call(self.api, "POST", "/api/v1/channel/obu1/nobody", b'{"loss": 0}')
        self.assertEqual(reply.code, 404)
        self.assertIn("nobody", reply.json()["error"])
        self.assertEqual(call(self.api, "GET", "/channel/nobody/obu1").code, 404)

    def test_bad_body_is_400(self) -> None:
        for body in (b"not json", b'{"loss": 2}', b'{"latency": "fast"}', b"[]"):
            reply = call(self.api, "POST", "/api/v1/channel/obu1/obu2", body)
            self.assertEqual(reply.code, 400, body)
            self.assertTrue(reply.json()["error"], body)
        # Nothing was changed by the bad requests.
        self.assertEqual(self.channel("obu1", "obu2")["latency_ms"], 2.0)
        self.assertEqual(self.channel("obu1", "obu2")["loss"], 0.0)


class RealHttpTests(TestCase):
    """The same API over TCP on 127.0.0.1 with the real reactor (the
    simulation itself keeps its virtual clock)."""

    @defer.inlineCallbacks
    def setUp(self):
        self.simulation = running_chain(self)
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        self.port = yield endpoint.listen(api_site(self.simulation))
        self.addCleanup(self.port.stopListening)
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"
        self.agent = Agent(reactor)

    @defer.inlineCallbacks
    def request(self, method: str, path: str, body: bytes | None = None):
        producer = None if body is None else FileBodyProducer(BytesIO(body))
        headers = Headers({b"content-type": [b"application/json"]})
        response = yield self.agent.request(
            method.encode(), (self.base + path).encode(), headers, producer
        )
        data = yield readBody(response)
        return response.code, data

    @defer.inlineCallbacks
    def test_node_info_and_post_channel(self):
        code, data = yield self.request("GET", "/api/v1/node_info")
        self.assertEqual(code, 200)
        info = {entry["name"]: entry for entry in json.loads(data)}
        self.assertEqual(info["obu2"]["upstream"]["node"], "obu1")
        code, data = yield self.request(
            "POST", "/api/v1/channel/obu1/obu2", b'{"latency": "30", "loss": "0.5"}'
        )
        self.assertEqual(code, 200, data)
        code, data = yield self.request("GET", "/channels")
        self.assertEqual(code, 200)
        channel = next(
            c for c in json.loads(data) if (c["from"], c["to"]) == ("obu1", "obu2")
        )
        self.assertEqual((channel["latency_ms"], channel["loss"]), (30.0, 0.5))
        code, data = yield self.request("GET", "/api/v1/node_info/extra")
        self.assertEqual(code, 404)
