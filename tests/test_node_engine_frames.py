"""NodeEngine's per-frame path: what it counts, what it sends, and that a
route decision is logged once (by the engine, under the node's name), and
that a data frame whose send failed is resent through the new next hop.

An OBU engine sits on a ``Hub`` beside a plain ``MemoryPort`` that plays
its neighbours: it injects frames and records what the engine sends.
"""

from __future__ import annotations

import json
import struct
from types import SimpleNamespace

from twisted.internet import task
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from tests.vectors import load_vectors
from vanet.mac import BROADCAST, format_mac
from vanet.node.config import node_config_from_mapping
from vanet.node.engine import RECENT_EVENTS, NodeEngine
from vanet.node.factory import NodeFactory
from vanet.node.link import LinkProtocol
from vanet.routing.actions import ForwardDownstream, RouteEvent, SendDownstream
from vanet.transport.memory import Hub, MemoryPort
from vanet.wire import parse

OBU = bytes.fromhex("020000000021")
RSU = bytes.fromhex("020000000001")
NEIGHBOUR = bytes.fromhex("020000000022")
_HEARTBEAT = struct.Struct("!6s6s2sBB16sII6s")


def heartbeat(src: bytes, seq: int, hops: int = 1) -> bytes:
    duration = (seq * 1000).to_bytes(16, "big")
    return _HEARTBEAT.pack(BROADCAST, src, b"00", 0, 0, duration, seq, hops, RSU)


def upstream(dst: bytes, src: bytes, origin: bytes, payload: bytes) -> bytes:
    return dst + src + b"\x30\x30\x01\x00" + origin + payload


class Recorder:
    """The far end of the hub: keeps every frame it hears."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def makeConnection(self, transport) -> None:
        pass

    def doStop(self) -> None:
        pass

    def datagramReceived(self, frame, addr) -> None:
        self.frames.append(frame)


class EngineFramesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.hub = Hub()
        config = node_config_from_mapping(
            {
                "node": {"name": "obu-under-test", "mac": format_mac(OBU)},
                "link": {"transport": "memory"},
                "control": {"listen": "none"},
            },
            "engine.test",
            "obu",
        )
        factory = NodeFactory(config)
        self.engine = factory.build_engine(OBU, self.clock)
        self.port = MemoryPort("obu", OBU, self.hub)
        self.port.startListening(factory.buildProtocol(self.engine))
        self.peer = MemoryPort("peer", NEIGHBOUR, self.hub)
        self.recorder = Recorder()
        self.peer.startListening(self.recorder)
        self.logged: list[dict] = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    def test_link_protocol_is_wired(self) -> None:
        self.assertIsInstance(self.port.protocol, LinkProtocol)

    def test_route_events_logged_once_under_the_node_name(self) -> None:
        self.peer.write(heartbeat(NEIGHBOUR, 0))
        route_logs = [e for e in self.logged if "route_event" in e]
        names = [e["route_event"] for e in route_logs]
        self.assertIn("upstream_selected", names)
        # One line per decision, whoever would log it: no decision twice.
        for name in names:
            mentions = [e for e in self.logged if name in e.values()]
            self.assertEqual(len(mentions), 1, mentions)
        self.assertEqual({e["node"] for e in route_logs}, {"obu-under-test"})
        status = self.engine.status()
        self.assertEqual(status["events"]["upstream_selected"], 1)
        self.assertEqual(set(status["events"]), set(names))
        # Each count is shown once: under "events", not again in "counters".
        self.assertFalse(set(status["events"]) & set(status["counters"]))
        self.assertEqual(status["counters"]["heartbeat_new"], 1)

    def test_status_shows_the_latest_route_events_newest_first(self) -> None:
        self.peer.write(heartbeat(NEIGHBOUR, 0))
        self.clock.advance(2.5)
        recent = self.engine.status()["recent_events"]
        logged = [e["route_event"] for e in self.logged if "route_event" in e]
        self.assertEqual([e["event"] for e in recent], logged[::-1])
        selected = next(e for e in recent if e["event"] == "upstream_selected")
        self.assertEqual(selected["s_ago"], 2.5)
        json.dumps(recent)  # served as JSON as it is
        # Bounded however busy the node is; the newest kept.
        self.engine.execute(
            RouteEvent("route_changed", {"target": str(i)}) for i in range(100)
        )
        recent = self.engine.status()["recent_events"]
        self.assertEqual(len(recent), RECENT_EVENTS)
        self.assertEqual(recent[0]["target"], "99")

    def test_counts_what_it_received_and_sent(self) -> None:
        hb = heartbeat(NEIGHBOUR, 0)
        self.peer.write(hb)
        # Not for us: a unicast upstream to somebody else on the same hub.
        other = upstream(RSU, NEIGHBOUR, NEIGHBOUR, b"x" * 20)
        self.port.receive(other)
        # Our own frame echoed back.
        echo = upstream(OBU, OBU, OBU, b"y" * 20)
        self.port.receive(echo)
        self.port.receive(b"\x00" * 20)  # malformed
        status = self.engine.status()
        counters = status["counters"]
        sizes = [len(hb), len(other), len(echo), 20]
        self.assertEqual(counters["frames_in"], 4)
        self.assertEqual(counters["bytes_in"], sum(sizes))
        self.assertEqual(counters["not_for_us"], 1)
        self.assertEqual(counters["own_echo"], 1)
        self.assertEqual(status["drops"]["malformed"], 1)
        # A rebroadcast and a reply went out, and were counted.
        self.assertEqual(counters["frames_out"], len(self.recorder.frames))
        self.assertEqual(counters["frames_out"], 2)
        self.assertEqual(
            counters["bytes_out"], sum(len(f) for f in self.recorder.frames)
        )
        self.assertNotIn("tap_in", counters)

    def test_signed_frames_are_dropped_by_name_when_not_handled(self) -> None:
        # A node that does not authenticate drops the signed control
        # messages (docs/protocol.md §2.7), counted, and stays unharmed.
        vectors = {v["name"]: v for v in load_vectors()["valid"]}
        for name in ("signed_rsu_heartbeat", "signed_heartbeat_reply"):
            frame = bytearray.fromhex(vectors[name]["hex"])
            frame[0:6] = OBU if name.endswith("reply") else BROADCAST
            self.port.receive(bytes(frame))
        drops = self.engine.status()["drops"]
        self.assertEqual(drops["unhandled_signed_heartbeat"], 1)
        self.assertEqual(drops["unhandled_signed_heartbeat_reply"], 1)
        self.assertEqual(self.recorder.frames, [])
        self.assertIsNone(self.engine.routing.upstream)
        self.assertNotIn("link_handler_errors", drops)

    def test_sent_frames_are_snapshots_of_the_reused_buffer(self) -> None:
        self.peer.write(heartbeat(NEIGHBOUR, 0))
        self.peer.write(heartbeat(NEIGHBOUR, 1))
        kinds = [(m.kind, m.seq) for f in self.recorder.frames for m in parse(f)]
        self.assertEqual(
            kinds,
            [
                ("heartbeat", 0),
                ("heartbeat_reply", 0),
                ("heartbeat", 1),
                ("heartbeat_reply", 1),
            ],
        )
        for frame in self.recorder.frames:
            self.assertIs(type(frame), bytes)

    def test_frame_larger_than_the_buffer_is_relayed_whole(self) -> None:
        self.peer.write(heartbeat(NEIGHBOUR, 0))
        self.assertEqual(self.engine.routing.upstream, NEIGHBOUR)
        self.recorder.frames.clear()
        for size in (3000, 40, 5000):
            payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
            # From a vehicle downstream of us, toward our upstream.
            self.port.receive(upstream(OBU, RSU, RSU, payload))
            (sent,) = self.recorder.frames
            self.recorder.frames.clear()
            self.assertEqual(sent, upstream(NEIGHBOUR, OBU, RSU, payload))
        self.assertEqual(self.engine.status()["counters"]["upstream_forwarded"], 3)


class FailingPort:
    """A link port whose sends to ``dead`` fail; keeps what it sent."""

    mac = OBU

    def __init__(self, dead: bytes) -> None:
        self.dead = dead
        self.sent: list[bytes] = []

    def write(self, frame) -> None:
        if bytes(frame[:6]) == self.dead:
            raise OSError("no route to host")
        self.sent.append(bytes(frame))


class Rerouting:
    """A routing core stand-in: after a failed send, ``route_to`` answers
    the backup next hop."""

    on_message = None  # not asked here

    def __init__(self, backup: bytes) -> None:
        self.backup = backup
        self.failed: list[bytes] = []

    def on_send_failed(self, next_hop, now):
        self.failed.append(next_hop)
        return []

    def route_to(self, target, now):
        return self.backup


class ResendTests(SynchronousTestCase):
    """A data frame whose send failed goes once more through the next hop
    the routing core names after the failure, with only its dst changed."""

    def test_downstream_frames_are_resent_through_the_new_next_hop(self) -> None:
        vehicle, backup = bytes.fromhex("020000000031"), bytes.fromhex("020000000032")
        routing = Rerouting(backup)
        engine = NodeEngine(
            name="rsu",
            role="rsu",
            mac=RSU,
            routing=routing,
            dataplane=SimpleNamespace(on_upstream=None, on_downstream=None),
            clock=task.Clock(),
            hello_period_s=1.0,
        )
        port = FailingPort(dead=NEIGHBOUR)
        engine.attach(port, None)
        engine.execute([SendDownstream(RSU, vehicle, b"p" * 20, NEIGHBOUR)])
        (relayed,) = parse(port.sent[0])
        self.assertEqual(
            (relayed.kind, relayed.dst, relayed.src, relayed.destination),
            ("downstream", backup, RSU, vehicle),
        )
        engine.execute([ForwardDownstream(relayed, NEIGHBOUR)])
        (again,) = parse(port.sent[1])
        self.assertEqual(
            (again.dst, again.src, again.destination), (backup, RSU, vehicle)
        )
        self.assertEqual(routing.failed, [NEIGHBOUR, NEIGHBOUR])
        self.assertEqual(engine.resent, 2)
