"""Real ``twistd -n vanet-rsu|vanet-obu`` processes, each in its own network
namespace, their link interfaces (veth) joined on one bridge (issue 4, Done
means 1, 2, 4 and 7).

Each test builds the segment, starts the nodes, waits for them to converge
(polling their control endpoints), then pings over the TAPs. Processes are
killed by process group and the namespaces removed, also on failure.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading

import attrs
from twisted.trial.unittest import SynchronousTestCase

from tests import netns
from tests.vectors import load_vectors

BIN = os.path.dirname(sys.executable)
TWISTD = os.path.join(BIN, "twistd")
CONTROL_PORT = 7070
PERIOD_MS = 200
TAP_ADDRESSES = {
    "rsu": "10.48.0.1/24",
    "obu1": "10.48.0.11/24",
    "obu2": "10.48.0.12/24",
}
LINK_ADDRESSES = {  # udp: multicast needs an IPv4 address on the link
    "rsu": "192.168.77.1/24",
    "obu1": "192.168.77.11/24",
    "obu2": "192.168.77.12/24",
    "peer": "192.168.77.99/24",
}
GROUP, UDP_PORT = "239.255.48.48", 12336
MARKER = bytes.fromhex("56414e45544d41524b4552a5c3d2e1f0")
ETH_P_ALL = 0x0003


def ip_of(cidr: str) -> str:
    return cidr.split("/")[0]


def node_ini(
    name: str,
    interface: str,
    transport: str,
    tap_address: str | None,
    extra: dict[str, dict[str, str]] | None = None,
) -> str:
    sections: dict[str, dict[str, str]] = {
        "node": {"name": name},
        "link": {"transport": transport, "interface": interface},
        "tap": {"name": "vtap0"},
        "routing": {"hello_period_ms": str(PERIOD_MS)},
        "control": {"listen": f"tcp:{CONTROL_PORT}:interface=127.0.0.1"},
    }
    if tap_address:
        sections["tap"]["address"] = tap_address
    for section, keys in (extra or {}).items():
        sections.setdefault(section, {}).update(keys)
    return "".join(
        f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        for section, keys in sections.items()
    )


@attrs.define
class Node:
    name: str
    role: str
    ns: str
    log_path: str
    process: subprocess.Popen

    def status(self) -> dict:
        code, body = netns.http_get(self.ns, CONTROL_PORT, "/status")
        if code != 200:
            raise ValueError(f"/status answered {code}")
        return json.loads(body)

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.process.poll() is None


def start_node(
    testcase: SynchronousTestCase,
    workdir: str,
    ns: str,
    interface: str,
    role: str,
    name: str,
    transport: str = "packet",
    tap_address: str | None = None,
    extra: dict[str, dict[str, str]] | None = None,
    python: str | None = None,
    twistd_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Node:
    """``twistd -n vanet-ROLE --config NAME.ini`` in ``ns``; returns once its
    control endpoint answers. Stopped (process group) in the test's cleanup."""
    config = os.path.join(workdir, f"{name}.ini")
    with open(config, "w", encoding="utf-8") as f:
        f.write(node_ini(name, interface, transport, tap_address, extra))
    log_path = os.path.join(workdir, f"{name}.log")
    if python is None:
        argv = [TWISTD]
    else:
        argv = [python, "-c", "from twisted.scripts.twistd import run; run()"]
    argv += ["-n", "--pidfile=", *twistd_args, f"vanet-{role}", "--config", config]
    process = netns.use(
        testcase, netns.process_in(ns, argv, log_path, cwd=workdir, env=env)
    )
    node = Node(name, role, ns, log_path, process)

    def ready():
        if not node.alive():
            raise AssertionError(
                f"{name} exited with {process.returncode}:\n{node.log_tail()}"
            )
        return node.status()

    try:
        netns.wait_for(ready, 30, f"{name}'s control endpoint")
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- {name} log ---\n{node.log_tail()}") from None
    return node


def write_key(workdir: str) -> str:
    path = os.path.join(workdir, "vanet.key")
    with open(path, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(path, 0o600)
    return path


@attrs.define
class Network:
    segment: netns.Segment
    nodes: dict[str, Node]
    workdir: str


def start_network(
    testcase: SynchronousTestCase,
    transport: str = "packet",
    encryption: bool = False,
    extra_members: tuple[str, ...] = (),
) -> Network:
    """An RSU and two OBUs on one bridged segment, converged."""
    netns.skip_unless_root_netns()
    netns.skip_unless_tun()
    workdir = os.path.abspath(testcase.mktemp())
    os.makedirs(workdir)
    members = ("rsu", "obu1", "obu2", *extra_members)
    addresses = LINK_ADDRESSES if transport == "udp" else None
    seg = netns.use(testcase, netns.segment(members, addresses))
    extra = {}
    if encryption:
        extra["security"] = {"encryption": "yes", "key_file": write_key(workdir)}
    nodes = {}
    for name in ("rsu", "obu1", "obu2"):
        nodes[name] = start_node(
            testcase,
            workdir,
            seg.namespaces[name],
            seg.interfaces[name],
            "rsu" if name == "rsu" else "obu",
            name,
            transport,
            TAP_ADDRESSES[name],
            extra,
        )
    wait_converged(nodes)
    return Network(seg, nodes, workdir)


def wait_converged(nodes: dict[str, Node], timeout: float = 20) -> None:
    rsu = nodes["rsu"]
    rsu_mac = rsu.status()["mac"]
    obus = [node for name, node in nodes.items() if name != "rsu"]

    def converged():
        if any(obu.status()["upstream"] != rsu_mac for obu in obus):
            return False
        routes = rsu.status()["routes"]
        return all(obu.status()["mac"] in routes for obu in obus)

    netns.wait_for(
        converged, timeout, "the OBUs to pick the RSU and the RSU to learn them"
    )


def ping(ns: str, address: str, count: int = 100, pattern: bytes | None = None) -> int:
    """Replies received for ``count`` pings 10 ms apart."""
    # Resolve ARP through the tunnel first: the count then measures the path.
    netns.wait_for(
        lambda: (
            netns.run_in(ns, ["ping", "-c", "1", "-W", "1", address]).returncode == 0
        ),
        15,
        f"a first ping reply from {address} in {ns}",
        interval=0.1,
    )
    argv = ["ping", "-q", "-c", str(count), "-i", "0.01", "-W", "2", "-s", "120"]
    if pattern is not None:
        argv += ["-p", pattern.hex()]
    result = netns.run_in(ns, [*argv, address], timeout=60)
    for line in result.stdout.splitlines():
        if "received" in line:
            return int(line.split(",")[1].split()[0])
    raise AssertionError(f"no ping summary: {result.stdout}{result.stderr}")


class Capture:
    """Every frame seen on any interface of namespace ``ns`` (the bridge's),
    read by a thread with an AF_PACKET socket."""

    def __init__(self, ns: str) -> None:
        self.frames: list[bytes] = []
        self._sock = netns.ns_socket(
            ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)
        )
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Capture:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.frames.append(self._sock.recv(65536))
            except TimeoutError:
                continue
            except OSError:
                return


class TwoHopPingMixin:
    """Ping every way through real nodes; check the marker on the wire."""

    transport = "packet"

    def ping_all_ways(self, network: Network) -> None:
        ns = network.segment.namespaces
        ways = [
            ("obu1", "rsu"),
            ("obu2", "rsu"),
            ("rsu", "obu1"),
            ("rsu", "obu2"),
            ("obu1", "obu2"),
            ("obu2", "obu1"),
        ]
        for source, target in ways:
            received = ping(ns[source], ip_of(TAP_ADDRESSES[target]), 100, MARKER)
            self.assertGreaterEqual(received, 99, f"{source} -> {target}")
        for node in network.nodes.values():
            self.assertTrue(node.alive(), f"{node.name} died:\n{node.log_tail()}")

    def test_ping_every_way_and_marker_visible_in_the_clear(self):
        network = start_network(self, self.transport)
        with Capture(network.segment.bridge_namespace) as capture:
            self.ping_all_ways(network)
        self.assertTrue(
            any(MARKER in frame for frame in capture.frames),
            "without encryption the ping marker should be visible on the segment",
        )

    def test_encrypted_ping_every_way_and_no_plaintext_on_the_segment(self):
        network = start_network(self, self.transport, encryption=True)
        with Capture(network.segment.bridge_namespace) as capture:
            self.ping_all_ways(network)
        overlay = [f for f in capture.frames if b"\x30\x30\x01" in f]
        self.assertGreater(len(overlay), 600, "the capture saw the tunnelled traffic")
        leaked = [frame for frame in capture.frames if MARKER in frame]
        self.assertEqual(leaked, [], "plaintext marker seen on the segment")


class PacketTransportTests(TwoHopPingMixin, SynchronousTestCase):
    transport = "packet"

    def test_vanetctl_prints_the_rsus_routes(self):
        network = start_network(self, "packet")
        vanetctl = os.path.join(BIN, "vanetctl")
        argv = (
            [vanetctl]
            if os.path.exists(vanetctl)
            else [sys.executable, "-m", "vanet.ctl"]
        )
        url = f"http://127.0.0.1:{CONTROL_PORT}"
        result = netns.run_in(
            network.segment.namespaces["rsu"], [*argv, "--url", url, "routes"]
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.strip().splitlines()
        self.assertIn("TARGET", lines[0])
        self.assertIn("HOPS", lines[0])
        for obu in ("obu1", "obu2"):
            mac = network.nodes[obu].status()["mac"]
            row = [line for line in lines[1:] if line.startswith(mac)]
            self.assertEqual(len(row), 1, f"{obu} ({mac}) missing:\n{result.stdout}")
        # --json for scripts: the same routes, parseable.
        result = netns.run_in(
            network.segment.namespaces["rsu"], [*argv, "--url", url, "--json", "routes"]
        )
        routes = json.loads(result.stdout)
        self.assertEqual(
            set(routes), {network.nodes[o].status()["mac"] for o in ("obu1", "obu2")}
        )


class UdpTransportTests(TwoHopPingMixin, SynchronousTestCase):
    transport = "udp"


# -- malformed frames at a running node (Done means 4) ----------------------

OBU_MAC = bytes.fromhex("020000000001")  # the vectors' usual dst
PEER_MAC = bytes.fromhex("0200000000aa")
_HEARTBEAT = struct.Struct("!6s6s2sBB16sII6s")


def peer_heartbeat(seq: int) -> bytes:
    duration = (seq * PERIOD_MS).to_bytes(16, "big")
    return _HEARTBEAT.pack(
        b"\xff" * 6, PEER_MAC, b"\x30\x30", 0, 0, duration, seq, 1, PEER_MAC
    )


def malformed_noise(rng: random.Random, count: int) -> list[bytes]:
    """Frames for ``OBU_MAC`` that docs/protocol.md §2 makes invalid: a wrong
    marker, an unknown type or subtype, or a body shorter than its part."""
    frames = []
    for i in range(count):
        src = bytes([0x02]) + rng.randbytes(5)
        tail = rng.randbytes(rng.randrange(0, 60))
        case = i % 3
        if case == 0:
            marker = rng.randbytes(2)
            while marker == b"\x30\x30":
                marker = rng.randbytes(2)
            frames.append(OBU_MAC + src + marker + tail)
        elif case == 1:
            ptype = rng.randrange(2, 256)
            frames.append(OBU_MAC + src + b"\x30\x30" + bytes([ptype]) + tail)
        else:
            # Known type, subtype, body cut short of its fixed part.
            ptype, subtype = rng.choice([(0, 0), (0, 1), (1, 0), (1, 1)])
            fixed = {(0, 0): 30, (0, 1): 36, (1, 0): 6, (1, 1): 12}[ptype, subtype]
            body = rng.randbytes(rng.randrange(0, fixed))
            frames.append(OBU_MAC + src + b"\x30\x30" + bytes([ptype, subtype]) + body)
    return frames


class MalformedFrameTests(SynchronousTestCase):
    def test_node_counts_malformed_frames_and_still_answers(self):
        netns.skip_unless_root_netns()
        netns.skip_unless_tun()
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        seg = netns.use(
            self,
            netns.segment(
                ("obu", "peer"),
                {"obu": LINK_ADDRESSES["obu1"], "peer": LINK_ADDRESSES["peer"]},
            ),
        )
        node = start_node(
            self,
            workdir,
            seg.namespaces["obu"],
            seg.interfaces["obu"],
            "obu",
            "obu",
            "udp",
            TAP_ADDRESSES["obu1"],
            {"node": {"mac": "02:00:00:00:00:01"}},
        )
        sock = netns.ns_socket(
            seg.namespaces["peer"], socket.AF_INET, socket.SOCK_DGRAM
        )
        self.addCleanup(sock.close)
        peer_ip = ip_of(LINK_ADDRESSES["peer"])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((GROUP, UDP_PORT))
        sock.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_ADD_MEMBERSHIP,
            socket.inet_aton(GROUP) + socket.inet_aton(peer_ip),
        )
        sock.setsockopt(
            socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(peer_ip)
        )
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.settimeout(0.2)

        invalid = [bytes.fromhex(v["hex"]) for v in load_vectors()["invalid"]]
        # One vector is "sent" by 02:00:00:00:00:01: from us, the node would
        # rightly take it for its own echo. Same bytes, sent by the peer.
        invalid = [
            f[:6] + PEER_MAC + f[12:] if f[6:12] == OBU_MAC else f for f in invalid
        ]
        noise = malformed_noise(random.Random(4), 300)
        for frame in invalid + noise:
            sock.sendto(frame, (GROUP, UDP_PORT))
        # Shorter than dst+src: a runt at the link; the rest reach the parser.
        runts = sum(1 for f in invalid + noise if len(f) < 12)
        malformed = len(invalid) + len(noise) - runts

        def counted():
            drops = node.status()["drops"]
            total = drops.get("malformed", 0) + drops.get("link_runts", 0)
            return drops if total >= malformed + runts else None

        try:
            drops = netns.wait_for(counted, 10, "the malformed frames to be counted")
        except AssertionError as e:
            status = node.status()
            raise AssertionError(
                f"{e}: want {malformed} malformed and {runts} runts; drops "
                f"{status['drops']}, counters {status['counters']}"
            ) from None
        self.assertEqual(drops.get("malformed", 0), malformed, drops)
        self.assertEqual(drops.get("link_runts", 0), runts, drops)
        self.assertTrue(node.alive(), node.log_tail())

        # It still answers a heartbeat with a reply to us, from itself.
        reply = None
        for seq in range(20):
            sock.sendto(peer_heartbeat(seq), (GROUP, UDP_PORT))
            try:
                while reply is None:
                    frame = sock.recv(2048)
                    if frame[:6] == PEER_MAC and frame[14:16] == b"\x00\x01":
                        reply = frame
            except TimeoutError:
                continue
            break
        self.assertIsNotNone(reply, "no heartbeat reply after the malformed frames")
        self.assertEqual(reply[6:12], OBU_MAC)
        self.assertEqual(reply[46:52], OBU_MAC)
        self.assertTrue(node.alive(), node.log_tail())
