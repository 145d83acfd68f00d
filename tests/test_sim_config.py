"""Simulator topologies: our INI format, the older YAML format, the examples."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import parse_mac, stable_local_mac
from vanet.node.config import node_config_from_mapping
from vanet.sim.channel import ChannelParams
from vanet.sim.loader import SimConfigError, load_topology
from vanet.sim.topology import Topology

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
VP_3NODE = EXAMPLES / "vp-yaml" / "vp-3node" / "simulator.yaml"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def accepted_by_node_loader(topology: Topology) -> None:
    """Every node's keys pass the node config loader (as the runner uses it)."""
    for node in topology.nodes.values():
        config = node.node_config()
        config.setdefault("link", {})["transport"] = "memory"
        node_config_from_mapping(config, str(topology.source), node.role)


class TmpDirMixin:
    def _tmp(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="vanet-sim-config-")).resolve()
        self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        return path


class IniTests(TmpDirMixin, SynchronousTestCase):
    GOOD = """\
        [sim]
        mode = inprocess
        http = tcp:0:interface=127.0.0.1
        seed = 42
        clock = virtual
        duration_s = 30

        [node:r1]
        role = RSU
        routing.hello_period_ms = 500
        tap.address = 10.0.0.1/24
        security.key_file = keys/net.key

        [node:o1]
        role = obu
        routing.strategy = hops
        node.mac = 02:00:00:00:00:01

        [node:o2]
        role = obu

        [link:r1<>o1]
        latency_ms = 5
        jitter_ms = 1   # a comment
        loss = 0.1

        [link:o1>o2]
        latency_ms = 7

        [traffic:up]
        from = o2
        to = r1
        rate_per_s = 12.5
        size = 300
        """

    def load(self, text: str, name: str = "sim.ini") -> Topology:
        return load_topology(write(self._tmp(), name, text))

    def test_full_file(self) -> None:
        topology = self.load(self.GOOD)
        sim = topology.sim
        self.assertEqual(
            (sim.mode, sim.http, sim.seed, sim.clock, sim.duration_s),
            ("inprocess", "tcp:0:interface=127.0.0.1", 42, "virtual", 30.0),
        )
        self.assertEqual(list(topology.nodes), ["r1", "o1", "o2"])
        r1, o1, o2 = topology.nodes.values()
        self.assertEqual((r1.role, o1.role, o2.role), ("rsu", "obu", "obu"))
        self.assertEqual(r1.config["routing"]["hello_period_ms"], "500")
        self.assertEqual(r1.config["tap"]["address"], "10.0.0.1/24")
        self.assertEqual(o1.config["routing"]["strategy"], "hops")
        # relative key files are taken from the topology file's folder
        key_file = Path(r1.config["security"]["key_file"])
        self.assertEqual(key_file, topology.source.parent / "keys" / "net.key")
        # MACs: given, or derived from the name
        self.assertEqual(o1.mac, parse_mac("02:00:00:00:00:01"))
        self.assertEqual(o2.mac, stable_local_mac("o2"))
        self.assertEqual(
            dict(topology.links),
            {
                ("r1", "o1"): ChannelParams(5, 1, 0.1),
                ("o1", "r1"): ChannelParams(5, 1, 0.1),
                ("o1", "o2"): ChannelParams(7),
            },
        )
        (flow,) = topology.flows
        self.assertEqual(
            (flow.name, flow.src, flow.dst, flow.rate_per_s, flow.size),
            ("up", "o2", "r1", 12.5, 300),
        )
        self.assertEqual(topology.neighbours("o1"), ["r1", "o2"])
        self.assertEqual([n.name for n in topology.rsus()], ["r1"])

    def test_defaults(self) -> None:
        topology = self.load("[node:a]\nrole = obu\n")
        sim = topology.sim
        self.assertEqual(
            (sim.mode, sim.http, sim.seed, sim.clock, sim.duration_s),
            ("inprocess", "tcp:3030:interface=127.0.0.1", None, "real", None),
        )
        self.assertEqual(dict(topology.links), {})
        self.assertEqual(topology.nodes["a"].node_config(), {"node": {"name": "a"}})

    def test_http_none(self) -> None:
        topology = self.load("[sim]\nhttp = none\n[node:a]\nrole = obu\n")
        self.assertIsNone(topology.sim.http)

    def assertConfigError(self, text: str, *fragments: str) -> None:
        with self.assertRaises(SimConfigError, msg=text) as caught:
            self.load(text, name="bad.ini")
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        self.assertIn("bad.ini", message)
        for fragment in fragments:
            self.assertIn(fragment, message, msg=text)

    def test_errors_name_file_section_key_and_what_is_allowed(self) -> None:
        node = "[node:a]\nrole = obu\n[node:b]\nrole = rsu\n"
        cases = [
            (node + "[link:a>zz]\n", "[link:a>zz]", "unknown node 'zz'", "a, b"),
            (
                node + "[link:a<>b]\nlatency_ms = fast\n",
                "[link:a<>b]",
                "latency_ms",
                "'fast'",
            ),
            (node + "[link:a<>b]\nloss = 2\n", "loss = '2'", "between 0 and 1"),
            (node + "[link:a<>b]\nlatency_ms = -3\n", "latency_ms = '-3'", ">= 0"),
            (
                node + "[link:a<>b]\nbandwidth = 5\n",
                "bandwidth",
                "latency_ms, jitter_ms, loss",
            ),
            (node + "[link:a-b]\n", "[link:a-b]", "[link:A>B]"),
            (node + "[link:a>a]\n", "two different nodes"),
            (
                node + "[link:a<>b]\n[link:a>b]\n",
                "[link:a>b]",
                "already defined in [link:a<>b]",
            ),
            ("[node:a]\nrole = car\n", "[node:a] role = 'car'", "rsu, obu"),
            ("[node:a]\n", "[node:a] role", "required"),
            (
                "[node:a]\nrole = obu\nstrategy = hops\n",
                "[node:a] strategy",
                "section.key",
            ),
            ("[node:a]\nrole = obu\nnode.mac = 12:34\n", "node.mac = '12:34'", "MAC"),
            ("[node:a/b]\nrole = obu\n", "'a/b'", "letters, digits"),
            (node + "[nodes:c]\n", "[nodes:c]", "[node:NAME]"),
            (
                "[sim]\nmode = cloud\n" + node,
                "[sim] mode = 'cloud'",
                "inprocess, netns",
            ),
            ("[sim]\nclock = virtual\n" + node, "[sim] duration_s", "clock = virtual"),
            ("[sim]\nseed = x\n" + node, "[sim] seed = 'x'", "whole number"),
            ("[sim]\nduration_s = 0\n" + node, "duration_s = '0'", "> 0"),
            ("[sim]\nspeed = 2\n" + node, "[sim] speed", "mode, http, seed"),
            (
                node + "[traffic:t]\nfrom = a\nto = q\nrate_per_s = 1\n",
                "[traffic:t] to = 'q'",
                "unknown node",
            ),
            (
                node + "[traffic:t]\nfrom = a\nto = b\n",
                "[traffic:t] rate_per_s",
                "required",
            ),
            (
                node + "[traffic:t]\nfrom = a\nto = b\nrate_per_s = 1\nsize = 10\n",
                "size = '10'",
                "38 to",
            ),
            (
                node + "[traffic:t]\nfrom = a\nto = b\nrate_per_s = 0\n",
                "rate_per_s = '0'",
                "> 0",
            ),
            ("[sim]\nseed = 1\n", "no [node:NAME]"),
            ("role = obu\n", "section"),
            ("[node:a]\nrole = obu\nrole = rsu\n", "role"),
        ]
        for text, *fragments in cases:
            self.assertConfigError(text, *fragments)

    def test_missing_file(self) -> None:
        with self.assertRaises(SimConfigError) as caught:
            load_topology(self._tmp() / "absent.ini")
        self.assertIn("absent.ini", str(caught.exception))

    def test_format_sniffed_without_suffix(self) -> None:
        folder = self._tmp()
        ini = write(folder, "topo", "# a comment\n[node:a]\nrole = obu\n")
        self.assertEqual(list(load_topology(ini).nodes), ["a"])
        write(folder, "a.yaml", "node_type: obu\n")
        yml = write(folder, "topo2", "nodes:\n  a:\n    config_path: a.yaml\n")
        self.assertEqual(load_topology(yml).nodes["a"].role, "obu")


class ExampleTests(SynchronousTestCase):
    def test_highway(self) -> None:
        topology = load_topology(EXAMPLES / "highway.ini")
        rsus, obus = topology.rsus(), topology.obus()
        self.assertEqual(len(rsus), 2)
        self.assertEqual(len(obus), 8)
        # every link goes both ways, with no loss, and everyone is connected
        for (a, b), params in topology.links.items():
            self.assertIn((b, a), topology.links)
            self.assertEqual(params.loss, 0)
        reached, todo = set(), [rsus[0].name]
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo.extend(topology.neighbours(name))
        self.assertEqual(reached, set(topology.nodes))
        # neighbour links are 2-20 ms; some longer-range ones are weaker
        latencies = sorted({p.latency_ms for p in topology.links.values()})
        self.assertEqual(min(latencies), 2)
        self.assertTrue(any(lat > 20 for lat in latencies))
        self.assertGreaterEqual(len(topology.flows), 3)
        kinds = {
            (topology.nodes[f.src].role, topology.nodes[f.dst].role)
            for f in topology.flows
        }
        self.assertIn(("obu", "rsu"), kinds)
        self.assertIn(("obu", "obu"), kinds)
        accepted_by_node_loader(topology)

    def test_chain(self) -> None:
        topology = load_topology(EXAMPLES / "chain.ini")
        self.assertEqual(
            {name: node.role for name, node in topology.nodes.items()},
            {"rsu": "rsu", "obu1": "obu", "obu2": "obu"},
        )
        self.assertEqual(topology.links["rsu", "obu1"].latency_ms, 2)
        self.assertEqual(topology.links["obu1", "obu2"].latency_ms, 2)
        self.assertEqual(topology.links["obu2", "obu1"].latency_ms, 2)
        self.assertEqual(topology.links["rsu", "obu2"].latency_ms, 50)
        self.assertEqual(topology.links["obu2", "rsu"].latency_ms, 50)
        accepted_by_node_loader(topology)


class LegacyYamlTests(TmpDirMixin, SynchronousTestCase):
    def test_vp_yaml_three_node_example(self) -> None:
        topology = load_topology(VP_3NODE)
        self.assertEqual(
            {name: node.role for name, node in topology.nodes.items()},
            {"n1": "rsu", "n2": "obu", "n3": "obu"},
        )
        n1 = topology.nodes["n1"]
        self.assertEqual(n1.config["tap"]["address"], "10.0.0.1/24")
        self.assertEqual(n1.config["routing"]["hello_period_ms"], "5000")
        self.assertEqual(n1.config["routing"]["hello_history"], "10")
        self.assertEqual(n1.config["routing"]["cached_candidates"], "3")
        self.assertEqual(n1.config["security"]["encryption"], "false")
        self.assertEqual(topology.nodes["n3"].config["tap"]["address"], "10.0.0.3/24")
        # OBUs time out neighbours in heartbeat periods: they get the RSU's
        self.assertEqual(
            topology.nodes["n2"].config["routing"]["hello_period_ms"], "5000"
        )
        links = topology.links
        self.assertEqual(links["n1", "n2"], ChannelParams(10, 0, 0))
        self.assertEqual(links["n2", "n1"], ChannelParams(10, 0, 0))
        self.assertEqual(links["n1", "n3"], ChannelParams(50, 0, 0.01))
        self.assertEqual(links["n3", "n1"], ChannelParams(50, 0, 0.01))
        self.assertEqual(links["n2", "n3"], ChannelParams(20, 0, 0))
        self.assertEqual(len(links), 6)
        self.assertEqual(topology.sim.mode, "inprocess")
        accepted_by_node_loader(topology)

    def test_other_topology_in_the_same_format(self) -> None:
        folder = self._tmp()
        (folder / "cfg").mkdir()
        write(
            folder / "cfg",
            "gw.yaml",
            """\
            node_type: RSU
            hello_history: 4
            hello_periodicity: 250
            ip: 192.168.5.1/16
            enable_encryption: true
            cached_candidates: 2
            bind: eth0
            """,
        )
        write(
            folder / "cfg",
            "car.yaml",
            "node_type: obu\nhello_history: '7'\nip: 192.168.5.9\n",
        )
        topo = write(
            folder,
            "sim.yaml",
            """\
            nodes:
              gw: {config_path: cfg/gw.yaml}
              car: {config_path: cfg/car.yaml}
            topology:
              gw:
                car: {latency: "100", loss: "0.5", jitter: "3"}
              car:
                gw: {latency: 4}
            """,
        )
        topology = load_topology(topo)
        gw, car = topology.nodes["gw"], topology.nodes["car"]
        self.assertEqual(gw.role, "rsu")
        self.assertEqual(gw.config["tap"]["address"], "192.168.5.1/16")
        self.assertEqual(gw.config["security"]["encryption"], "true")
        self.assertEqual(gw.config["routing"]["cached_candidates"], "2")
        self.assertEqual(gw.config["routing"]["hello_period_ms"], "250")
        self.assertEqual(car.config["routing"]["hello_history"], "7")
        self.assertEqual(car.config["routing"]["hello_period_ms"], "250")
        self.assertEqual(car.config["tap"]["address"], "192.168.5.9/24")
        # directed: gw -> car is the slow, lossy one
        self.assertEqual(topology.links["gw", "car"], ChannelParams(100, 3, 0.5))
        self.assertEqual(topology.links["car", "gw"], ChannelParams(4))

    def test_config_path_relative_to_working_directory(self) -> None:
        work = self._tmp()
        (work / "nodes").mkdir()
        write(work / "nodes", "a.yaml", "node_type: Rsu\nhello_periodicity: 100\n")
        (work / "topologies").mkdir()
        topo = write(
            work / "topologies",
            "t.yaml",
            "nodes:\n  a:\n    config_path: nodes/a.yaml\ntopology: {}\n",
        )
        old = os.getcwd()
        os.chdir(work)
        self.addCleanup(os.chdir, old)
        self.assertEqual(load_topology(topo).nodes["a"].role, "rsu")

    def assertYamlError(self, files: dict[str, str], *fragments: str) -> None:
        folder = self._tmp()
        for name, text in files.items():
            write(folder, name, text)
        with self.assertRaises(SimConfigError) as caught:
            load_topology(folder / "sim.yaml")
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for fragment in fragments:
            self.assertIn(fragment, message)

    def test_errors(self) -> None:
        rsu = "node_type: Rsu\nhello_periodicity: 100\n"
        two = "nodes:\n  a: {config_path: a.yaml}\n  b: {config_path: b.yaml}\n"
        self.assertYamlError(
            {
                "sim.yaml": two + "topology: {a: {c: {latency: 1}}}\n",
                "a.yaml": rsu,
                "b.yaml": rsu,
            },
            "sim.yaml",
            "topology.a.c",
            "unknown node",
        )
        self.assertYamlError(
            {
                "sim.yaml": two + "topology: {a: {b: {latency: soon}}}\n",
                "a.yaml": rsu,
                "b.yaml": rsu,
            },
            "topology.a.b.latency",
            "'soon'",
        )
        self.assertYamlError(
            {"sim.yaml": two, "a.yaml": "node_type: Rsu\n", "b.yaml": rsu},
            "a.yaml",
            "hello_periodicity",
            "required for an RSU",
        )
        self.assertYamlError(
            {"sim.yaml": two, "a.yaml": "node_type: Car\n", "b.yaml": rsu},
            "a.yaml",
            "Rsu, Obu",
        )
        self.assertYamlError(
            {"sim.yaml": two, "a.yaml": rsu},
            "nodes.b.config_path = 'b.yaml'",
            "no such file",
        )
        self.assertYamlError({"sim.yaml": "topology: {}\n"}, "sim.yaml", "nodes:")
        self.assertYamlError({"sim.yaml": "nodes: [\n"}, "sim.yaml", "invalid YAML")
