"""NodeService and NodeEngine in memory: an RSU and two OBUs on a ``Hub``,
with ``MemoryTap`` devices and a ``task.Clock`` (docs/protocol.md §3–§7).

These drive the same service life cycle as twistd (``privilegedStartService``
opens the devices, ``startService`` starts them) with the devices injected.
"""

from __future__ import annotations

import json
import random
import struct

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from tests.vectors import load_vectors
from vanet.mac import BROADCAST, format_mac
from vanet.node.config import node_config_from_mapping
from vanet.node.control import control_site
from vanet.node.factory import NodeFactory
from vanet.node.service import NodeService
from vanet.tap.memory import MemoryTap
from vanet.transport.memory import Hub, MemoryPort

PERIOD_S = 0.2
RSU = bytes.fromhex("020000000001")
OBU1 = bytes.fromhex("020000000011")
OBU2 = bytes.fromhex("020000000012")
OBU3 = bytes.fromhex("020000000013")
# Hosts behind each node's TAP (the inner frames' source MACs).
HOST_RSU = bytes.fromhex("0a0000000001")
HOST_OBU1 = bytes.fromhex("0a0000000011")
HOST_OBU2 = bytes.fromhex("0a0000000012")

_HEARTBEAT = struct.Struct("!6s6s2sBB16sII6s")


def ethernet(dst: bytes, src: bytes, payload: bytes) -> bytes:
    """An inner Ethernet frame (EtherType 0x88b5, local experimental)."""
    return dst + src + b"\x88\xb5" + payload


def heartbeat(src: bytes, source: bytes, seq: int, hops: int) -> bytes:
    duration = (seq * 200).to_bytes(16, "big")
    return _HEARTBEAT.pack(BROADCAST, src, b"00", 0, 0, duration, seq, hops, source)


class FailingPort(MemoryPort):
    """A memory port whose sends to ``refuse`` raise, as a dead NIC would,
    and that hears nothing from the nodes in ``deaf_to`` (out of range)."""

    refuse: bytes | None = None
    write_refusals: frozenset | set = frozenset()
    deaf_to: frozenset | set = frozenset()

    def receive(self, frame: bytes) -> None:
        if bytes(frame[6:12]) in self.deaf_to:
            return
        super().receive(frame)

    def write(self, frame) -> None:
        dst = bytes(frame[:6])
        if dst == self.refuse or dst in self.write_refusals:
            raise OSError(101, "Network is unreachable")
        super().write(frame)


class Network:
    """RSU + OBUs as NodeServices on one Hub, all on one Clock."""

    def __init__(self, testcase: SynchronousTestCase) -> None:
        self.clock = task.Clock()
        self.hub = Hub()
        self.services: dict[str, NodeService] = {}
        self.ports: dict[str, FailingPort] = {}
        self.taps: dict[str, MemoryTap] = {}
        self._testcase = testcase

    def add(self, role: str, name: str, mac: bytes) -> NodeService:
        config = node_config_from_mapping(
            {
                "node": {"name": name, "mac": format_mac(mac)},
                "link": {"transport": "memory"},
                "routing": {"hello_period_ms": int(PERIOD_S * 1000)},
                "control": {"listen": "none"},
            },
            f"{name}.test",
            role,
        )

        def open_port(config):
            port = self.ports[name] = FailingPort(name, mac, self.hub)
            return port

        def open_tap(config):
            tap = self.taps[name] = MemoryTap(f"tap-{name}", mac)
            return tap

        node = NodeService(
            NodeFactory(config), self.clock, open_port=open_port, open_tap=open_tap
        )
        node.privilegedStartService()
        node.startService()
        self._testcase.addCleanup(node.stopService)
        self.services[name] = node
        return node

    def run(self, seconds: float) -> None:
        # Step by step: one big advance fires a LoopingCall only once.
        steps = int(round(seconds / (PERIOD_S / 4)))
        self.clock.pump([PERIOD_S / 4] * steps)

    def status(self, name: str) -> dict:
        return self.services[name].engine.status()


def three_nodes(testcase) -> Network:
    net = Network(testcase)
    net.add("rsu", "rsu", RSU)
    net.add("obu", "obu1", OBU1)
    net.add("obu", "obu2", OBU2)
    net.run(6 * PERIOD_S)
    return net


class ConvergenceTests(SynchronousTestCase):
    def test_obus_pick_the_rsu_and_the_rsu_learns_both(self):
        net = three_nodes(self)
        for name in ("obu1", "obu2"):
            status = net.status(name)
            self.assertEqual(status["upstream"], format_mac(RSU))
            self.assertEqual(status["gateway"], format_mac(RSU))
        routes = net.status("rsu")["routes"]
        self.assertEqual(set(routes), {format_mac(OBU1), format_mac(OBU2)})
        for vehicle in (OBU1, OBU2):
            self.assertEqual(routes[format_mac(vehicle)]["hops"], 1)
            self.assertEqual(
                routes[format_mac(vehicle)]["next_hop"], format_mac(vehicle)
            )

    def test_stop_service_detaches_and_closes_the_tap(self):
        net = three_nodes(self)
        node = net.services["obu1"]
        port, tap = net.ports["obu1"], net.taps["obu1"]
        node.stopService()
        self.assertNotIn(port, net.hub.ports)
        self.assertTrue(tap.closed)
        sent = port.counters.sent
        net.run(2 * PERIOD_S)
        self.assertEqual(port.counters.sent, sent, "a stopped node kept sending")


class TunnelTests(SynchronousTestCase):
    def test_broadcast_from_an_obu_reaches_the_rsu_and_the_other_obu(self):
        net = three_nodes(self)
        frame = ethernet(BROADCAST, HOST_OBU1, b"hello everyone")
        net.taps["obu1"].inject(frame)
        self.assertIn(frame, net.taps["rsu"].written)
        self.assertIn(frame, net.taps["obu2"].written)
        self.assertNotIn(frame, net.taps["obu1"].written)

    def test_unicast_both_ways_after_learning(self):
        net = three_nodes(self)
        net.taps["obu1"].inject(ethernet(BROADCAST, HOST_OBU1, b"who has"))
        reply = ethernet(HOST_OBU1, HOST_RSU, b"is at")
        net.taps["rsu"].inject(reply)
        self.assertEqual(net.taps["obu1"].written[-1], reply)
        self.assertNotIn(reply, net.taps["obu2"].written)
        # OBU2 -> OBU1 through the RSU, which learnt HOST_OBU1 behind OBU1.
        across = ethernet(HOST_OBU1, HOST_OBU2, b"across")
        net.taps["obu2"].inject(across)
        self.assertEqual(net.taps["obu1"].written[-1], across)
        self.assertNotIn(across, net.taps["rsu"].written)
        clients = net.status("rsu")["clients"]
        self.assertIn(format_mac(HOST_OBU1), json.dumps(clients))

    def test_encrypted_nodes_tunnel_and_the_hub_never_sees_plaintext(self):
        key_dir = self.mktemp()
        import os

        os.makedirs(key_dir)
        key_file = os.path.join(key_dir, "vanet.key")
        with open(key_file, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(key_file, 0o600)
        net = Network(self)
        seen: list[bytes] = []
        transmit = net.hub.transmit
        net.hub.transmit = lambda sender, frame: (
            seen.append(frame),
            transmit(sender, frame),
        )[1]

        def add(role, name, mac):
            config = node_config_from_mapping(
                {
                    "node": {"name": name, "mac": format_mac(mac)},
                    "link": {"transport": "memory"},
                    "routing": {"hello_period_ms": 200},
                    "security": {"encryption": "yes", "key_file": key_file},
                    "control": {"listen": "none"},
                },
                f"{name}.test",
                role,
            )
            tap = net.taps[name] = MemoryTap(name, mac)
            node = NodeService(
                NodeFactory(config),
                net.clock,
                open_port=lambda c: MemoryPort(name, mac, net.hub),
                open_tap=lambda c: tap,
            )
            node.startService()
            self.addCleanup(node.stopService)
            net.services[name] = node

        add("rsu", "rsu", RSU)
        add("obu", "obu1", OBU1)
        add("obu", "obu2", OBU2)
        net.run(6 * PERIOD_S)
        marker = b"SECRET-MARKER-0123456789"
        frame = ethernet(BROADCAST, HOST_OBU1, marker)
        net.taps["obu1"].inject(frame)
        self.assertIn(frame, net.taps["obu2"].written)
        self.assertIn(frame, net.taps["rsu"].written)
        self.assertTrue(seen)
        self.assertFalse([f for f in seen if marker in f])


def two_ways_up(testcase) -> tuple[Network, bytes, bytes]:
    """OBU2 out of the RSU's range, reaching it through OBU1 or OBU3 (both
    one hop from the RSU: feasible next hops, docs/protocol.md §4.8).
    Returns the network, OBU2's upstream and its failover candidate."""
    net = Network(testcase)
    net.add("rsu", "rsu", RSU)
    net.add("obu", "obu1", OBU1)
    net.add("obu", "obu3", OBU3)
    net.add("obu", "obu2", OBU2)
    net.ports["obu2"].deaf_to = {RSU}
    net.ports["rsu"].deaf_to = {OBU2}
    net.run(6 * PERIOD_S)
    candidates = [
        bytes.fromhex(c["next_hop"].replace(":", ""))
        for c in net.status("obu2")["candidates"]
    ]
    testcase.assertEqual(sorted(candidates), sorted([OBU1, OBU3]))
    return net, candidates[0], candidates[1]


class FailoverTests(SynchronousTestCase):
    def test_send_failure_promotes_the_next_candidate(self):
        net, primary, second = two_ways_up(self)
        # The primary can no longer be reached from OBU2's NIC.
        net.ports["obu2"].refuse = primary
        net.taps["obu2"].inject(ethernet(BROADCAST, HOST_OBU2, b"lost"))
        status = net.status("obu2")
        self.assertEqual(status["upstream"], format_mac(second))
        self.assertEqual(status["drops"].get("send_failed"), 1)
        # The next frame goes up through the second and reaches the RSU's TAP.
        frame = ethernet(BROADCAST, HOST_OBU2, b"via the second")
        net.taps["obu2"].inject(frame)
        self.assertIn(frame, net.taps["rsu"].written)
        name = "obu1" if second == OBU1 else "obu3"
        self.assertGreaterEqual(
            net.status(name)["counters"].get("upstream_forwarded", 0), 1
        )

    def test_the_frame_that_found_the_primary_dead_is_resent(self):
        net, primary, second = two_ways_up(self)
        net.ports["obu2"].refuse = primary
        frame = ethernet(BROADCAST, HOST_OBU2, b"first after the failure")
        net.taps["obu2"].inject(frame)
        # Sent again at once through the promoted candidate.
        self.assertIn(frame, net.taps["rsu"].written)
        status = net.status("obu2")
        self.assertEqual(status["upstream"], format_mac(second))
        self.assertEqual(status["drops"].get("send_failed"), 1)
        self.assertEqual(status["counters"].get("resent"), 1)

    def test_a_frame_is_resent_once_at_most(self):
        net, primary, second = two_ways_up(self)
        # Neither way up works: one failure, one resend that fails too.
        net.ports["obu2"].refuse = primary
        net.ports["obu2"].write_refusals = {primary, second}
        net.taps["obu2"].inject(ethernet(BROADCAST, HOST_OBU2, b"nowhere"))
        status = net.status("obu2")
        self.assertEqual(status["drops"].get("send_failed"), 2)
        self.assertEqual(status["counters"].get("resent"), 1)


class MalformedFrameTests(SynchronousTestCase):
    def test_invalid_frames_are_counted_and_heartbeats_still_answered(self):
        net = Network(self)
        net.add("obu", "obu1", OBU1)
        peer = MemoryPort("peer", RSU, net.hub)
        received: list[bytes] = []

        class Collect:
            def makeConnection(self, transport):
                pass

            def datagramReceived(self, frame, addr):
                received.append(bytes(frame))

            def doStop(self):
                pass

        peer.startListening(Collect())
        invalid = [bytes.fromhex(v["hex"]) for v in load_vectors()["invalid"]]
        rng = random.Random(4)
        noise = [
            OBU1 + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
            for _ in range(200)
        ]
        # Random bytes after our MAC: keep only those that are malformed (a
        # random 0x3030 marker with valid types is possible, if unlikely).
        from vanet.wire import parse

        noise = [n for n in noise if not parse(n)]
        for frame in invalid + noise:
            # Every frame addressed to the OBU, so none is filtered as not ours.
            net.ports["obu1"].receive(OBU1 + frame[6:] if len(frame) >= 6 else frame)
        drops = net.status("obu1")["drops"]
        self.assertEqual(drops.get("malformed"), len(invalid) + len(noise))
        peer.write(heartbeat(RSU, RSU, seq=0, hops=1))
        replies = [f for f in received if f[:6] == RSU and f[15] == 1]
        self.assertEqual(len(replies), 1)
        self.assertEqual(replies[0][6:12], OBU1)


class ControlEndpointTests(SynchronousTestCase):
    def render(self, site, path: bytes) -> tuple[bytes, str]:
        request = DummyRequest(path.lstrip(b"/").split(b"/"))
        request.method = b"GET"
        resource = site.getResourceFor(request)
        body = resource.render(request)
        if body is not None and not isinstance(body, int):
            request.write(body)
        content_type = request.responseHeaders.getRawHeaders(b"content-type")[0]
        return b"".join(request.written), content_type.decode()

    def test_status_json_and_metrics_text(self):
        net = three_nodes(self)
        site = control_site(net.services["rsu"].engine.status)
        body, content_type = self.render(site, b"/status")
        self.assertEqual(content_type, "application/json")
        status = json.loads(body)
        self.assertEqual(status["role"], "rsu")
        self.assertEqual(status["name"], "rsu")
        self.assertEqual(status["mac"], format_mac(RSU))
        self.assertEqual(status["strategy"], "latency")
        self.assertEqual(set(status["routes"]), {format_mac(OBU1), format_mac(OBU2)})
        self.assertIn("drops", status)
        self.assertGreater(status["counters"]["frames_out"], 0)

        body, content_type = self.render(site, b"/metrics")
        self.assertTrue(content_type.startswith("text/plain; version=0.0.4"))
        text = body.decode()
        self.assertIn("# TYPE vanet_route_hops gauge", text)
        self.assertIn(f'target="{format_mac(OBU1)}"', text)
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name_and_labels, value = line.rsplit(" ", 1)
                float(value)  # every sample's value is a number

    def test_obu_status_shows_upstream_and_candidates(self):
        net = three_nodes(self)
        body, _ = self.render(
            control_site(net.services["obu1"].engine.status), b"/status"
        )
        status = json.loads(body)
        self.assertEqual(status["role"], "obu")
        self.assertEqual(status["upstream"], format_mac(RSU))
        self.assertEqual(status["candidates"][0]["next_hop"], format_mac(RSU))

    def test_unknown_path_is_404(self):
        net = three_nodes(self)
        site = control_site(net.services["rsu"].engine.status)
        request = DummyRequest([b"nope"])
        resource = site.getResourceFor(request)
        resource.render(request)
        self.assertEqual(request.responseCode, 404)


class KernelDropsTests(SynchronousTestCase):
    render = ControlEndpointTests.render

    def test_frames_the_kernel_dropped_show_under_drops(self):
        # What a ring port counts (tp_drops of a full ring; frames cut to
        # fit it) reaches /status and /metrics as the node serves them.
        net = three_nodes(self)
        counters = net.ports["rsu"].counters
        counters.recv_dropped, counters.oversize = 7, 2
        site = control_site(net.services["rsu"].engine.status)
        status = json.loads(self.render(site, b"/status")[0])
        self.assertEqual(status["drops"]["link_recv_dropped"], 7)
        self.assertEqual(status["drops"]["link_oversize"], 2)
        text = self.render(site, b"/metrics")[0].decode()
        (line,) = [
            line
            for line in text.splitlines()
            if line.startswith("vanet_drops_total{") and "link_recv_dropped" in line
        ]
        self.assertTrue(line.endswith(" 7"), line)
