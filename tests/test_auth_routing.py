"""Signed routing end to end (docs/protocol.md §2.7): routes form over
signed heartbeats and replies in the routing cores (``CoreNetwork``),
node engines on a memory hub, and the in-process simulator; forged,
plain and replayed frames are counted by name and change nothing; a
node without authentication keeps today's wire; the config rules."""

from __future__ import annotations

from pathlib import Path

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from tests.test_auth_gate import (
    KEYS,
    OUTSIDER,
    frame,
    patched,
    signed_heartbeat,
    view,
)
from vanet.auth import AuthGate, first_seq
from vanet.discovery import load_strategy
from vanet.identity import Identity, TrustStore
from vanet.mac import BROADCAST, format_mac
from vanet.node.config import ConfigError, node_config_from_mapping
from vanet.node.factory import NodeFactory
from vanet.node.testing import CoreNetwork
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.rsu import RsuRoutingCore
from vanet.sim.clock import VirtualClock
from vanet.sim.inprocess import Simulation, run_virtual
from vanet.sim.loader import load_ini
from vanet.sim.topology import SimConfigError
from vanet.transport.memory import Hub, MemoryPort
from vanet.wire import parse, writer_for

RSU = bytes.fromhex("020000000001")
OBU1 = bytes.fromhex("020000000011")
OBU2 = bytes.fromhex("020000000012")
PLAIN = bytes.fromhex("020000000013")
SIGNED_SIZES = {175, 148}


def trusted(*macs: bytes) -> dict[bytes, tuple[Identity, TrustStore]]:
    identities = {mac: Identity.generate() for mac in macs}
    shared = TrustStore.of(
        {mac: ("rsu" if mac == RSU else "obu", i) for mac, i in identities.items()}
    )
    return {mac: (i, TrustStore(shared.entries)) for mac, i in identities.items()}


class CoreNetworkTests(SynchronousTestCase):
    """RSU - OBU1 - OBU2 over 2 ms links, and a slow 50 ms RSU - OBU2 link."""

    def build(self, authenticate: bool, path: str = "zero-copy") -> CoreNetwork:
        net = CoreNetwork(path=path)
        self.addCleanup(net.stop)
        strategy = load_strategy("latency")
        keys = self.keys = trusted(RSU, OBU1, OBU2)
        for mac in (RSU, OBU1, OBU2):
            if mac == RSU:
                core = RsuRoutingCore(mac, strategy, started=0.0)
            else:
                core = ObuRoutingCore(mac, strategy)
            identity, trust = keys[mac]
            role = "rsu" if mac == RSU else "obu"
            net.add(
                core, AuthGate(mac, role, identity, trust) if authenticate else None
            )
        net.link(RSU, OBU1, 2)
        net.link(OBU1, OBU2, 2)
        net.link(RSU, OBU2, 50)
        net.start(1.0)
        net.run(3.0)
        return net

    def outcome(self, net: CoreNetwork) -> dict:
        now = net.clock.seconds()
        rsu = net.cores[RSU]
        return {
            "obu2 upstream": net.cores[OBU2].upstream,
            "obu2 gateway": net.cores[OBU2].gateway,
            "rsu routes": {
                t: (r["next_hop"], r["hops"])
                for t, r in rsu.status(now)["routes"].items()
            },
            "obu1 route to obu2": net.cores[OBU1].route_to(OBU2, now),
        }

    def test_signed_routes_are_the_plain_routes(self):
        signed, plain = self.build(True), self.build(False)
        self.assertEqual(self.outcome(signed), self.outcome(plain))
        self.assertEqual(
            self.outcome(signed)["rsu routes"],
            {
                format_mac(OBU1): (format_mac(OBU1), 1),
                format_mac(OBU2): (format_mac(OBU1), 2),
            },
        )
        # Every control frame went signed, and nothing was refused.
        self.assertEqual({len(f) for _, _, f in signed.sent}, SIGNED_SIZES)
        self.assertEqual({len(f) for _, _, f in plain.sent}, {46, 52})
        for mac, gate in signed.gates.items():
            self.assertEqual(dict(gate.drops), {}, format_mac(mac))
        self.assertGreater(signed.gates[RSU].counters["reply_verified"], 0)
        # Each heartbeat was verified once per OBU, its copies by chain only.
        obu2 = signed.gates[OBU2].counters
        self.assertEqual(
            obu2["heartbeat_verified"], signed.gates[RSU].counters["heartbeat_signed"]
        )
        self.assertGreater(obu2["heartbeat_copy_checked"], 0)

    def test_the_legacy_writers_sign_alike(self):
        signed, legacy = self.build(True), self.build(True, "legacy")
        self.assertEqual(self.outcome(legacy), self.outcome(signed))
        self.assertEqual({len(f) for _, _, f in legacy.sent}, SIGNED_SIZES)
        for gate in legacy.gates.values():
            self.assertEqual(dict(gate.drops), {})

    def test_a_restarted_rsu_is_followed_and_its_held_heartbeat_passed_on(self):
        net = self.build(True)
        strategy = load_strategy("latency")
        # The RSU restarts half a period after its heartbeat seq 3: it
        # numbers its heartbeats by its clock again (docs/protocol.md
        # §2.7), from seq 3 with duration 0, same key.
        net.run(0.5)
        now = net.clock.seconds()
        restart_seq = first_seq(now, 1.0)
        self.assertEqual(restart_seq, 3)  # the last seq the RSU sent, again
        identity, trust = self.keys[RSU]
        net.add(
            RsuRoutingCore(RSU, strategy, started=now, first_seq=first_seq(now, 1.0)),
            AuthGate(RSU, "rsu", identity, trust),
        )
        net.run(3.0)
        # OBU1 held the first new heartbeat aside, believed the restart at
        # the second, and passed the first on under the RSU's signature:
        # OBU2 followed in the same period.
        restarted = {
            mac: [t for t, _ in net.events_of(mac, "source_restarted")]
            for mac in (OBU1, OBU2)
        }
        self.assertEqual(len(restarted[OBU1]), 1, restarted)
        self.assertEqual(len(restarted[OBU2]), 1, restarted)
        self.assertLess(restarted[OBU2][0] - restarted[OBU1][0], 0.1)
        for mac, gate in net.gates.items():
            self.assertFalse(
                {"bad_signature", "bad_chain", "unknown_heartbeat"} & set(gate.drops),
                (format_mac(mac), dict(gate.drops)),
            )
        self.assertNotIn("heartbeat_not_relayed_unsignable", net.gates[OBU1].counters)
        # The new seq 3 (duration < 1 s) does not fit seq 3 as held: OBU1
        # relays it only when it passes on what it held aside.
        passed_on = [
            (msg.seq, msg.hops)
            for _, mac, data in net.sent
            if mac == OBU1
            for msg in parse(data)
            if msg.kind == "signed_heartbeat"
            and msg.seq == restart_seq
            and msg.duration_ms < 1000
        ]
        self.assertEqual(passed_on, [(restart_seq, 2)])
        now = net.clock.seconds()
        self.assertEqual(net.cores[RSU].route_to(OBU2, now), OBU1)
        self.assertEqual(net.cores[OBU2].upstream, OBU1)


class _Recorder:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def makeConnection(self, transport) -> None:
        pass

    def doStop(self) -> None:
        pass

    def datagramReceived(self, frame, addr) -> None:
        self.frames.append(bytes(frame))


class _SniffedHub(Hub):
    """A hub whose every frame an attacker also captures (a radio medium)."""

    def __init__(self) -> None:
        super().__init__()
        self.captured: list[bytes] = []

    def transmit(self, sender, frame: bytes) -> None:
        self.captured.append(bytes(frame))
        super().transmit(sender, frame)


def node_config(name: str, mac: bytes, role: str, authenticate: bool):
    return node_config_from_mapping(
        {
            "node": {"name": name, "mac": format_mac(mac)},
            "link": {"transport": "memory"},
            "control": {"listen": "none"},
            "routing": {"hello_period_ms": "1000"},
            "security": {"authenticate": "yes" if authenticate else "no"},
        },
        f"{name}.ini",
        role,
        keys_given=authenticate,
    )


class EngineTests(SynchronousTestCase):
    """A signed RSU and OBU, a plain OBU and an attacker's port on one hub."""

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1_764_500_000.25)  # a wall clock's seconds
        hub = self.hub = _SniffedHub()
        keys = trusted(RSU, OBU1)
        self.engines = {}
        for name, mac, role, auth in (
            ("rsu", RSU, "rsu", True),
            ("obu", OBU1, "obu", True),
            ("plain", PLAIN, "obu", False),
        ):
            identity, trust = keys.get(mac, (None, None))
            factory = NodeFactory(
                node_config(name, mac, role, auth), identity=identity, trust=trust
            )
            engine = factory.build_engine(mac, self.clock)
            port = MemoryPort(name, mac, hub)
            port.startListening(factory.buildProtocol(engine))
            engine.attach(port, None)
            engine.start()
            self.addCleanup(engine.stop)
            self.engines[name] = engine
        self.attacker = MemoryPort("attacker", OUTSIDER, hub)
        self.heard = _Recorder()
        self.attacker.startListening(self.heard)
        for _ in range(40):
            self.clock.advance(0.1)

    def state(self) -> dict:
        rsu, obu = self.engines["rsu"].status(), self.engines["obu"].status()
        return {
            "obu upstream": obu["upstream"],
            "obu gateway": obu["gateway"],
            "rsu routes": {
                t: (r["next_hop"], r["hops"]) for t, r in rsu["routes"].items()
            },
        }

    def test_routes_form_over_signed_frames_only(self):
        rsu, obu = format_mac(RSU), format_mac(OBU1)
        self.assertEqual(
            self.state(),
            {"obu upstream": rsu, "obu gateway": rsu, "rsu routes": {obu: (obu, 1)}},
        )
        sent = [f for f in self.hub.captured if f[6:12] in (RSU, OBU1)]
        self.assertEqual({len(f) for f in sent}, SIGNED_SIZES)
        status = self.engines["rsu"].status()
        self.assertTrue(status["authenticate"])
        # Numbered by its clock (docs/protocol.md §2.7), not from 0.
        first = min(parse(f)[0].seq for f in self.hub.captured if f[15] == 2)
        self.assertEqual(first, first_seq(1_764_500_000.25, 1.0))

    def test_data_makes_routes_only_without_authentication(self):
        # docs/protocol.md §4.5: data is not signed, so a signing RSU takes
        # routes from verified replies only; a plain one also from data.
        now = self.clock.seconds()
        signed = self.engines["rsu"].routing
        self.assertEqual(signed.on_data_seen(OUTSIDER, OUTSIDER, now), [])
        self.assertIsNone(signed.route_to(OUTSIDER, now))
        factory = NodeFactory(node_config("rsu", RSU, "rsu", False))
        plain = factory.build_engine(RSU, self.clock).routing
        plain.heartbeat(now)
        self.assertEqual(
            [e.event for e in plain.on_data_seen(OUTSIDER, OUTSIDER, now)],
            ["route_discovered"],
        )
        self.assertEqual(plain.route_to(OUTSIDER, now), OUTSIDER)

    def test_a_plain_node_and_a_signed_one_do_not_route_for_each_other(self):
        plain = self.engines["plain"].status()
        self.assertIsNone(plain["upstream"])
        self.assertGreater(plain["drops"]["unhandled_signed_heartbeat"], 0)
        self.assertFalse(plain["authenticate"])
        self.assertNotIn(format_mac(PLAIN), self.engines["rsu"].status()["routes"])

    def test_forged_plain_and_replayed_frames_are_counted_and_change_nothing(self):
        before = self.state()
        captured_reply = next(
            f for f in self.hub.captured if f[15] == 3 and f[6:12] == OBU1
        )
        captured_hb = next(f for f in self.heard.frames if f[15] == 2)
        invented = AuthGate(OUTSIDER, "rsu", KEYS[OUTSIDER], TrustStore())
        hb = view(captured_hb)
        plain_hb = frame(
            writer_for("heartbeat").write, OUTSIDER, hb.duration_ms, hb.seq + 1, 1, RSU
        )
        forged = {
            # The real RSU's next seq, sent early: unsignable.
            "unsigned": plain_hb,
            "unknown_key": signed_heartbeat(invented, 1, OUTSIDER),
            "bad_signature": patched(patched(captured_hb, 6, OUTSIDER), 111, bytes(64)),
            "bad_chain": patched(patched(captured_hb, 6, OUTSIDER), 79, bytes(32)),
        }
        for data in forged.values():
            self.attacker.write(data)
        self.attacker.write(patched(captured_reply, 6, OUTSIDER))  # a replay
        for _ in range(30):
            self.clock.advance(0.1)
        self.assertEqual(self.state(), before)
        obu_drops = self.engines["obu"].status()["drops"]
        for reason in forged:
            self.assertGreaterEqual(obu_drops.get(reason, 0), 1, (reason, obu_drops))
        self.assertEqual(self.engines["rsu"].status()["drops"].get("replay"), 1)


class ConfigTests(SynchronousTestCase):
    def test_authenticate_needs_identity_and_trust(self):
        with self.assertRaises(ConfigError) as caught:
            node_config_from_mapping(
                {
                    "node": {"name": "n"},
                    "link": {"transport": "memory"},
                    "security": {"authenticate": "yes"},
                },
                "obu.ini",
                "obu",
            )
        self.assertEqual(
            str(caught.exception),
            "obu.ini: [security] identity is missing: it is required when "
            "authenticate = yes (the node's private key file: make one with "
            "vanet-keygen)",
        )
        with self.assertRaises(ConfigError) as caught:
            node_config_from_mapping(
                {
                    "node": {"name": "n"},
                    "link": {"transport": "memory"},
                    "security": {"authenticate": "yes", "identity": "/x/n.key"},
                },
                "obu.ini",
                "obu",
            )
        self.assertIn("[security] trust is missing", str(caught.exception))
        with self.assertRaises(ConfigError) as caught:
            node_config_from_mapping(
                {"node": {"name": "n"}, "security": {"authenticate": "maybe"}},
                "obu.ini",
                "obu",
            )
        self.assertIn("[security] authenticate = 'maybe'", str(caught.exception))

    def test_the_factory_refuses_authentication_without_keys(self):
        config = node_config("n", OBU1, "obu", True)
        with self.assertRaises(ConfigError) as caught:
            NodeFactory(config)
        self.assertEqual(
            str(caught.exception),
            "n.ini: [security] identity is missing: it is required when "
            "authenticate = yes",
        )

    def test_without_authentication_the_wire_is_as_before(self):
        clock = task.Clock()
        clock.advance(1_764_500_000.25)
        factory = NodeFactory(node_config("rsu", RSU, "rsu", False))
        engine = factory.build_engine(RSU, clock)
        self.assertIsNone(engine.gate)
        sent = []
        engine.attach(
            type("Port", (), {"write": lambda self, f: sent.append(bytes(f))})(), None
        )
        engine.send_heartbeat()
        expected = bytearray()
        n = writer_for("heartbeat").write(expected, RSU, 0, 0, 1, RSU)
        self.assertEqual(sent, [bytes(expected[:n])])
        self.assertEqual(len(sent[0]), 46)
        self.assertEqual(sent[0][:6], BROADCAST)


TOPOLOGY = """
[sim]
clock = virtual
duration_s = 12
seed = 3
http = none
{extra}
[node:rsu]
role = rsu
routing.hello_period_ms = 1000
[node:a]
role = obu
routing.hello_period_ms = 1000
[node:b]
role = obu
routing.hello_period_ms = 1000
[link:rsu<>a]
latency_ms = 2
[link:a<>b]
latency_ms = 2
[traffic:ab]
from = b
to = rsu
rate_per_s = 20
"""


class SimulatorTests(SynchronousTestCase):
    def run_sim(self, extra: str) -> Simulation:
        topology = load_ini(Path("auth.ini"), TOPOLOGY.format(extra=extra))
        simulation = Simulation(topology, VirtualClock())
        self.addCleanup(simulation.stopService)
        run_virtual(simulation, 12)
        return simulation

    def test_a_signed_simulation_runs_as_the_plain_one(self):
        signed = self.run_sim("authenticate = yes")
        plain = self.run_sim("")
        statuses = signed.node_statuses()
        self.assertTrue(all(s["authenticate"] for s in statuses.values()))
        self.assertEqual(statuses["b"]["upstream"], statuses["a"]["mac"])
        self.assertGreater(statuses["b"]["counters"]["heartbeat_verified"], 0)
        self.assertGreater(statuses["rsu"]["counters"]["reply_verified"], 0)
        for name, status in statuses.items():
            self.assertFalse(
                {"unsigned", "bad_signature", "unknown_key", "bad_chain"}
                & set(status["drops"]),
                name,
            )
        carried = [
            sum(link["frames_delivered"] for link in sim.medium.channel_table())
            for sim in (signed, plain)
        ]
        self.assertEqual(carried[0], carried[1])

    def test_authenticate_is_for_the_in_process_mode(self):
        with self.assertRaises(SimConfigError) as caught:
            load_ini(
                Path("auth.ini"),
                TOPOLOGY.format(extra="authenticate = yes\nmode = netns"),
            )
        self.assertIn(
            "[sim] authenticate = 'yes': in-process mode only", str(caught.exception)
        )
        with self.assertRaises(SimConfigError):
            load_ini(Path("auth.ini"), TOPOLOGY.format(extra="authenticate = perhaps"))
