"""A node's per-frame cost, layer by layer, without iperf.

    python benchmarks/bench_node_path.py [--quick] [--mtu 1436] [--profile N]
    sudo python benchmarks/bench_node_path.py --kernel   # + system calls

Three real engines (``NodeFactory``, default config, encryption off) in a
chain RSU - relay OBU - leaf OBU on an in-memory medium run heartbeats
until every route is up; then each engine gets a null link port and a
null TAP (they take the frame and return) and is fed pre-built frames
through the entry points the transports use (``LinkProtocol.
datagramReceived`` for link frames, ``NodeEngine.tap_frame`` for TAP
frames). The frames are what a TCP flow through the overlay carries: a
full-size data segment one way, a 66-byte ACK the other.

For each path, ns a frame (median of repeats) for:

- ``parse``: ``wire.parse`` of the frame;
- ``dataplane``: the data plane's decision on the parsed view (routing
  lookup, client table, the action objects), or ``on_tap_frame``;
- ``writer``: the zero-copy writer of the frame it sends (where it sends);
- ``total``: the whole engine call with null port and TAP;
- ``engine``: ``total`` less the three above: dispatch, counting, the
  send buffer's view and the port/TAP call.

``--kernel`` (root) adds what the kernel costs a frame, measured the same
way in a throw-away namespace: ``os.write`` of a frame to a TAP, ``send``
on an AF_PACKET socket on a veth, a PACKET_MMAP transmit ring's ``put``
and its ``flush`` per frame (as the packet port does) and the ring's
``drain`` of received frames with an empty handler.

``--profile N`` runs each path under cProfile and prints its N costliest
functions. Figures move with the machine's load; compare runs made side by
side.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import socket
import statistics
import subprocess
import sys
import time
from collections import deque

from twisted.internet import task
from zope.interface import implementer

from vanet.interfaces import IMedium
from vanet.mac import format_mac
from vanet.node.config import node_config_from_mapping
from vanet.node.factory import NodeFactory
from vanet.node.link import LinkProtocol
from vanet.transport.memory import MemoryPort
from vanet.wire import parse, writer_for

RSU = bytes.fromhex("020000000001")
RELAY = bytes.fromhex("020000000011")
LEAF = bytes.fromhex("020000000022")
# Hosts: behind the RSU's TAP, and behind the leaf OBU's TAP.
HOST_RSU = bytes.fromhex("0a0000000001")
HOST_LEAF = bytes.fromhex("0a0000000022")


@implementer(IMedium)
class Chain:
    """Ports in a row; a frame reaches the ports next to its sender (its
    ``dst`` or every neighbour for a group address), queued like ``Hub``."""

    def __init__(self) -> None:
        self.ports: list = []
        self._queue: deque = deque()
        self._busy = False

    def attach(self, port) -> None:
        self.ports.append(port)

    def detach(self, port) -> None:
        self.ports.remove(port)

    def transmit(self, sender, frame: bytes) -> None:
        self._queue.append((sender, frame))
        if self._busy:
            return
        self._busy = True
        try:
            while self._queue:
                sender, frame = self._queue.popleft()
                i = self.ports.index(sender)
                for port in self.ports[max(0, i - 1) : i + 2]:
                    if port is not sender and (frame[0] & 1 or frame[:6] == port.mac):
                        port.receive(frame)
        finally:
            self._busy = False


class NullPort:
    """A link port that takes a frame and returns (``ILinkPort.write``)."""

    def write(self, frame) -> None:
        pass


class NullTap:
    def write(self, frame) -> None:
        pass


def ether(dst: bytes, src: bytes, size: int) -> bytes:
    """An Ethernet frame of ``size`` bytes (IPv4 ethertype, filler body)."""
    body = bytes(range(256)) * (size // 256 + 1)
    return dst + src + b"\x08\x00" + body[: size - 14]


def build() -> dict:
    """The three engines with every route up, then on null port and TAP."""
    clock = task.Clock()
    chain = Chain()
    engines = {}
    for name, role, mac in (
        ("rsu", "rsu", RSU),
        ("relay", "obu", RELAY),
        ("leaf", "obu", LEAF),
    ):
        config = node_config_from_mapping(
            {
                "node": {"name": name, "mac": format_mac(mac)},
                "link": {"transport": "memory"},
                "control": {"listen": "none"},
            },
            "bench",
            role,
        )
        factory = NodeFactory(config)
        engine = factory.build_engine(mac, clock)
        port = MemoryPort(name, mac, chain)
        port.startListening(factory.buildProtocol(engine))
        engines[name] = engine
    rsu, relay, leaf = engines["rsu"], engines["relay"], engines["leaf"]
    for e in engines.values():
        e.start()
    for _ in range(500):
        clock.advance(0.01)
    for e in engines.values():
        e.stop()
    # The hosts are known where they live: the leaf's host at the RSU
    # (from an upstream frame), the RSU's host at the RSU (from its TAP).
    leaf.attach(leaf.port, NullTap())
    rsu.attach(rsu.port, NullTap())
    leaf.tap_frame(ether(HOST_RSU, HOST_LEAF, 60))
    rsu.tap_frame(ether(HOST_LEAF, HOST_RSU, 60))
    assert relay.routing.upstream == RSU, "relay has no upstream"
    assert leaf.routing.upstream == RELAY, "leaf has no upstream"
    assert rsu.routing.route_to(LEAF, 0) == RELAY, "RSU has no route to leaf"
    assert relay.routing.route_to(LEAF, 0) == LEAF, "relay has no route to leaf"
    assert rsu.dataplane.clients.lookup(HOST_LEAF, clock.seconds()) == LEAF
    for e in engines.values():
        e.attach(NullPort(), NullTap())
    return engines


def paths(engines: dict, mtu: int) -> list[tuple]:
    """(name, engine, entry, input, dataplane call, writer call) per path:
    what one frame costs where a TCP flow through the overlay goes."""
    rsu, relay, leaf = engines["rsu"], engines["relay"], engines["leaf"]
    data = ether(HOST_RSU, HOST_LEAF, mtu + 14)
    ack = ether(HOST_LEAF, HOST_RSU, 66)
    buf = bytearray(2048)
    up_w = writer_for("upstream").write
    down_w = writer_for("downstream").write
    fwd_w = writer_for("upstream_forward").write

    def frame(write, *args) -> bytes:
        b = bytearray()
        n = write(b, *args)
        return bytes(b[:n])

    up_at_rsu = frame(up_w, LEAF, data, RELAY, RSU)
    up_at_relay = frame(up_w, LEAF, data, LEAF, RELAY)
    down_at_relay = frame(down_w, RSU, LEAF, ack, RSU, RELAY)
    down_at_leaf = frame(down_w, RSU, LEAF, ack, RELAY, LEAF)
    out = []
    for name, engine, kind, frm, sent in (
        ("leaf: TAP data -> upstream", leaf, "tap", data, None),
        ("relay: upstream -> forward", relay, "link", up_at_relay, "forward"),
        ("rsu: upstream -> TAP", rsu, "link", up_at_rsu, None),
        ("rsu: TAP ack -> downstream", rsu, "tap", ack, None),
        ("relay: downstream -> forward", relay, "link", down_at_relay, "forward"),
        ("leaf: downstream -> TAP", leaf, "link", down_at_leaf, None),
    ):
        now = engine.clock.seconds()
        dp = engine.dataplane
        if kind == "tap":
            entry = engine.tap_frame
            view = None
            decide = (dp.on_tap_frame, frm, now)
        else:
            entry = LinkProtocol(engine).datagramReceived
            (view,) = parse(frm)
            handler = dp.on_upstream if view.kind == "upstream" else dp.on_downstream
            decide = (handler, view, now)
        (action,) = [a for a in decide[0](*decide[1:]) if hasattr(a, "next_hop")] or [
            None
        ]
        # Where the engine takes a data plane's fast path, that is what
        # it asks (vanet.dataplane.obu, "fast paths").
        if kind == "tap":
            names = ("tunnel_now",)
        elif view.kind == "upstream":
            names = ("relay_upstream", "upstream_or_frame")
        else:
            names = ("relay_downstream",)
        for fast in filter(None, (getattr(dp, name, None) for name in names)):
            result = fast(*decide[1:])
            if result is not None and type(result) is not list:
                decide = (fast, *decide[1:])
        if sent == "forward":
            write = (fwd_w, buf, view, engine.mac, action.next_hop)
        elif kind == "tap":
            if engine.role == "rsu":
                a = action
                write = (
                    down_w,
                    buf,
                    a.origin,
                    a.destination,
                    a.payload,
                    engine.mac,
                    a.next_hop,
                )
            else:
                write = (
                    up_w,
                    buf,
                    action.origin,
                    action.payload,
                    engine.mac,
                    action.next_hop,
                )
        else:
            write = None
        out.append((name, engine, entry, frm, kind, decide, write))
    return out


def per_frame(fn, args, n: int, repeats: int) -> float:
    """Median ns a call of ``fn(*args)`` over ``repeats`` runs of ``n``."""
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn(*args)
        runs.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(runs)


def measure(engines: dict, mtu: int, n: int, repeats: int) -> list[tuple]:
    rows = []
    for name, _engine, entry, frm, kind, decide, write in paths(engines, mtu):
        parse_ns = 0.0 if kind == "tap" else per_frame(parse, (frm,), n, repeats)
        dp_ns = per_frame(decide[0], decide[1:], n, repeats)
        w_ns = per_frame(write[0], write[1:], n, repeats) if write else 0.0
        total = per_frame(entry, (frm,) if kind == "tap" else (frm, None), n, repeats)
        rows.append(
            (
                name,
                len(frm),
                parse_ns,
                dp_ns,
                w_ns,
                total - parse_ns - dp_ns - w_ns,
                total,
            )
        )
    return rows


def profile(engines: dict, mtu: int, n: int, top: int) -> None:
    for name, _engine, entry, frm, kind, _d, _w in paths(engines, mtu):
        args = (frm,) if kind == "tap" else (frm, None)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            entry(*args)
        prof.disable()
        print(f"\n-- cProfile: {name}, {n} frames --")
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)


# -- the kernel's part (root) ------------------------------------------------


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@contextlib.contextmanager
def scratch_netns():
    """A namespace with a veth pair (vbnA, vbnB) up in it; deleted after."""
    name = f"vbn-{os.getpid()}"
    sh("ip", "netns", "add", name)
    try:
        sh(
            "ip",
            "-n",
            name,
            "link",
            "add",
            "vbnA",
            "mtu",
            "9100",
            "type",
            "veth",
            "peer",
            "name",
            "vbnB",
            "mtu",
            "9100",
        )
        sh("ip", "-n", name, "link", "set", "vbnA", "up")
        sh("ip", "-n", name, "link", "set", "vbnB", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def kernel_rows(mtu: int, n: int, repeats: int) -> list[tuple[str, float]]:
    """``kernel`` run in a scratch namespace (a child process: this
    Python cannot move itself between namespaces)."""
    with scratch_netns() as ns:
        out = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                __file__,
                "--kernel-inner",
                "--mtu",
                str(mtu),
                "--frames",
                str(n),
                "--repeats",
                str(repeats),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    rows = []
    for line in out.splitlines():
        name, _, ns_ = line.rpartition("\t")
        rows.append((name, float(ns_)))
    return rows


def kernel(mtu: int, n: int, repeats: int) -> list[tuple[str, float]]:
    from vanet.tap.linux import LinuxTap
    from vanet.transport.packet import PacketPort
    from vanet.transport.ring import PacketRings

    buf = bytearray()
    size = writer_for("upstream").write(
        buf, LEAF, ether(RSU, LEAF, mtu + 14), RELAY, RSU
    )
    link_frame = bytes(buf[:size])  # an upstream frame, EtherType 0x3030
    rows = []
    if True:
        tap = LinuxTap.open("vbntap", mtu, "10.98.0.1/24")
        try:
            inner = ether(tap.mac, HOST_LEAF, mtu + 14)
            rows.append(
                (
                    "os.write to a TAP",
                    per_frame(os.write, (tap.fileno(), inner), n, repeats),
                )
            )
        finally:
            tap.close()
        port = PacketPort.open("vbnA", io="socket")
        try:
            send = port._sock.send
            rows.append(
                ("send on AF_PACKET (veth)", per_frame(send, (link_frame,), n, repeats))
            )
        finally:
            port._sock.close()
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x3030))
        sock.bind(("vbnA", 0x3030))
        rings = PacketRings.setup(sock, 9100 + 18)
        try:
            put, flush = rings.put, rings.flush

            puts, flushes = [], []
            for _ in range(repeats):
                put_ns = flush_ns = 0
                for _ in range(n // 64):
                    t0 = time.perf_counter_ns()
                    for _ in range(64):
                        put(link_frame)
                    t1 = time.perf_counter_ns()
                    flush()
                    t2 = time.perf_counter_ns()
                    put_ns += t1 - t0
                    flush_ns += t2 - t1
                frames = n // 64 * 64
                puts.append(put_ns / frames)
                flushes.append(flush_ns / frames)
            rows.append(("ring put (copy into a slot)", statistics.median(puts)))
            rows.append(("ring flush, 64 frames a call", statistics.median(flushes)))

            def put_each(frame) -> None:
                put(frame)
                flush()

            rows.append(
                (
                    "ring put + flush every frame",
                    per_frame(put_each, (link_frame,), n, repeats),
                )
            )
            flush()
        finally:
            rings.close()
            sock.close()
        # Receive: frames sent into vbnB arrive in vbnA's receive ring.
        rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x3030))
        rx.bind(("vbnA", 0x3030))
        rings = PacketRings.setup(rx, 9100 + 18)
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x3030))
        tx.bind(("vbnB", 0x3030))
        try:
            batch = 256
            runs = []
            for _ in range(repeats):
                for _ in range(batch):
                    tx.send(link_frame)
                time.sleep(0.02)  # the receive side runs in a softirq later
                t0 = time.perf_counter_ns()
                got = rings.drain(lambda view, wire_len: None, batch)
                runs.append((time.perf_counter_ns() - t0) / max(got, 1))
            rows.append(
                (f"ring drain, empty handler ({got}/wake-up)", statistics.median(runs))
            )
        finally:
            rings.close()
            rx.close()
            tx.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames")
    parser.add_argument("--mtu", type=int, default=1436, help="TAP MTU (1436)")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile top N")
    parser.add_argument("--kernel", action="store_true", help="system calls (root)")
    parser.add_argument("--kernel-inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n, repeats = (2000, 5) if args.quick else (20000, 7)
    if args.kernel_inner:
        for name, ns in kernel(args.mtu, args.frames, args.repeats):
            print(f"{name}\t{ns}")
        return 0
    engines = build()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    ).stdout.strip()
    print(
        f"bench_node_path: commit {commit}, TAP MTU {args.mtu}, {n} frames x "
        f"{repeats}, median ns/frame, Python {sys.version.split()[0]}"
    )
    print(
        f"\n{'path':30} {'bytes':>6} {'parse':>7} {'datapl':>7} {'writer':>7} "
        f"{'engine':>7} {'total':>7}"
    )
    for name, size, p, d, w, e, t in measure(engines, args.mtu, n, repeats):
        print(f"{name:30} {size:6} {p:7.0f} {d:7.0f} {w:7.0f} {e:7.0f} {t:7.0f}")
    if args.kernel:
        if os.geteuid() != 0:
            print("--kernel needs root", file=sys.stderr)
            return 2
        print(f"\nkernel, frames of TAP MTU {args.mtu}: ns/frame")
        rows = kernel_rows(args.mtu, n, repeats)
        rows.insert(
            0, ("an empty Python call, for scale", per_frame(len, (b"",), n, repeats))
        )
        for name, ns in rows:
            print(f"{name:44} {ns:7.0f}")
    if args.profile:
        profile(engines, args.mtu, n, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
