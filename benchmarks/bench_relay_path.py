"""The netns simulator's relay, per frame, layer by layer (needs root).

    sudo python benchmarks/bench_relay_path.py [--quick] [--mtu 1436]

What ``vanet-sim`` netns mode does with one frame from a node, on real
PACKET_MMAP rings, without iperf or node processes: in a scratch
namespace, two veth pairs (``ra``/``xa``, ``rb``/``xb``); the relay's
ports are ``PacketPort``s on ``ra`` and ``rb`` (as ``NetnsSimulation``
opens them), a link ``a -> b`` with no delay or loss joins them in a
``RelayChannel``. A raw socket on ``xa`` sends a burst of frames (what
node a would send, addressed to node b: a full-size upstream frame of the
TAP MTU + 56 bytes, or a 122-byte ACK); the kernel puts them in ``ra``'s
receive ring; then one wake-up is timed, cumulatively:

- ``ring drain``: ``PacketRings.drain`` with an empty handler;
- ``+ port``: ``PacketPort``'s wake-up (the frame checks and counters)
  with a protocol that does nothing;
- ``+ channel``: ``_RelayProtocol`` and ``RelayChannel.transmit`` (dst
  filter, counters, the link's draw) to a receiver that does nothing;
- ``relay, general``: the relay as it is, down to the copy into ``rb``'s
  transmit ring (``_RelayPort.receive``, ``PacketPort.write``);
- ``relay, fast path``: the same with the relay's fast path
  (``RelayChannel.relay_path``), if the commit has one;
- ``flush``: ``rb``'s transmit ring sent, one system call for the burst
  (the kernel's veth and the receive ring of a socket on ``xb``);
- ``epoll reactor``: the same burst through a real epoll reactor's
  iterations (wake-up, the relay, the flush at the end of the turn); less
  the relay and the flush above, Twisted's share per frame at that burst
  size (a difference of medians: rough).

Each burst is timed right after the kernel took it in and after a short
sleep, so the relay starts with cold caches, as it does during a flow
(woken after the nodes and iperf3 ran on the same cores): the figures are
well above what a warm ``timeit`` loop of the same calls gives.

Median ns a frame over the repeats; a burst of ``--burst`` frames (default
100, what the relay takes a wake-up during an iperf3 flow through one hop,
counted with ``perf stat`` on its system calls).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time

ETHERTYPE = b"\x30\x30"
NODE_A = bytes.fromhex("020000000a0a")
NODE_B = bytes.fromhex("020000000b0b")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@contextlib.contextmanager
def scratch_netns(mtu: int):
    """A namespace with veth pairs ra/xa and rb/xb up, of ``mtu``."""
    name = f"vbr-{os.getpid()}"
    sh("ip", "netns", "add", name)
    try:
        for a, b in (("ra", "xa"), ("rb", "xb")):
            sh(
                "ip",
                "-n",
                name,
                "link",
                "add",
                a,
                "mtu",
                str(mtu),
                "type",
                "veth",
                "peer",
                "name",
                b,
                "mtu",
                str(mtu),
            )
            sh("ip", "-n", name, "link", "set", a, "up")
            sh("ip", "-n", name, "link", "set", b, "up")
        yield name
    finally:
        sh("ip", "netns", "del", name)


class _Call:
    def __init__(self, f, args) -> None:
        self.f, self.args, self.live = f, args, True

    def active(self) -> bool:
        return self.live

    def cancel(self) -> None:
        self.live = False


class StillReactor:
    """Enough of a reactor for the ports and the channel, driven by hand:
    readers are not polled, ``callLater`` calls wait in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[_Call] = []
        self.seconds = time.time

    def addReader(self, reader) -> None:
        pass

    def removeReader(self, reader) -> None:
        pass

    def removeWriter(self, writer) -> None:
        pass

    def callLater(self, delay, f, *args):
        call = _Call(f, args)
        self.calls.append(call)
        return call

    def run_calls(self) -> None:
        calls, self.calls = self.calls, []
        for call in calls:
            if call.live:
                call.f(*call.args)


class NullProtocol:
    def makeConnection(self, transport) -> None:
        pass

    def doStop(self) -> None:
        pass

    def datagramReceived(self, frame, addr) -> None:
        pass


class NullReceiver:
    def __init__(self, name: str, mac: bytes) -> None:
        self.name, self.mac = name, mac

    def receive(self, frame) -> None:
        pass


def inner(mtu: int, size: int, burst: int, repeats: int) -> list[tuple[str, float]]:
    """Run in the scratch namespace: every stage's median ns a frame."""
    from vanet.sim import netns as simnetns
    from vanet.sim.channel import ChannelParams, RelayChannel
    from vanet.transport.packet import PacketPort
    from vanet.transport.ring import PacketRings

    frame = NODE_B + NODE_A + ETHERTYPE + bytes(size - 14)
    inject = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x3030))
    inject.bind(("xa", 0x3030))
    # What stands for node b's receive ring: frames the relay sends land here.
    sink = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x3030))
    sink.bind(("xb", 0x3030))
    sink_rings = PacketRings.setup(sink, mtu + 18)

    def fill() -> None:
        sink_rings.drain(lambda view, wire_len: None, 1 << 20)
        for _ in range(burst):
            inject.send(frame)
        time.sleep(0.005)  # the receive side may run in a softirq later

    def build(reactor, protocol_for):
        ports = {n: PacketPort.open(f"r{n}", io="ring") for n in "ab"}
        medium = RelayChannel(reactor, 1, {("a", "b"): ChannelParams()})
        relays = {}
        for n, mac in (("a", NODE_A), ("b", NODE_B)):
            relays[n] = simnetns._RelayPort(n, mac, ports[n])
        protocol = protocol_for(medium, relays)
        ports["a"].startListening(protocol, reactor)
        ports["b"].startListening(NullProtocol(), reactor)
        return ports, medium, relays

    has_fast = hasattr(RelayChannel, "relay_path")

    def relay_protocol(medium, port, fast: bool):
        # A commit before the fast path has no ``fast`` argument.
        if has_fast:
            return simnetns._RelayProtocol(medium, port, fast=fast)
        return simnetns._RelayProtocol(medium, port)

    def stage(protocol_for) -> tuple[float, float]:
        reactor = StillReactor()
        ports, medium, relays = build(reactor, protocol_for)
        try:
            runs, flushes = [], []
            for _ in range(repeats):
                fill()
                t0 = time.perf_counter_ns()
                ports["a"].doRead()
                t1 = time.perf_counter_ns()
                ports["b"].flush()
                t2 = time.perf_counter_ns()
                reactor.calls.clear()
                got = ports["a"].counters.received
                runs.append((t1 - t0) / burst)
                flushes.append((t2 - t1) / burst)
            assert got == burst * repeats, (got, burst * repeats)
            return statistics.median(runs), statistics.median(flushes)
        finally:
            for port in ports.values():
                port.stopListening()

    rows: list[tuple[str, float]] = []
    rings_only = []
    reader = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x3030))
    reader.bind(("ra", 0x3030))
    rings = PacketRings.setup(reader, mtu + 18)
    try:
        for _ in range(repeats):
            fill()
            t0 = time.perf_counter_ns()
            got = rings.drain(lambda view, wire_len: None, burst)
            rings_only.append((time.perf_counter_ns() - t0) / burst)
            assert got == burst, got
    finally:
        rings.close()
        reader.close()
    rows.append(("ring drain, empty handler", statistics.median(rings_only)))
    rows.append(("+ port, null protocol", stage(lambda m, r: NullProtocol())[0]))

    def to_null(medium, relays):
        medium.attach(relays["a"])
        medium.attach(NullReceiver("b", NODE_B))
        return relay_protocol(medium, relays["a"], False)

    rows.append(("+ channel, null receiver", stage(to_null)[0]))

    def general(medium, relays):
        for relay in relays.values():
            medium.attach(relay)
        return relay_protocol(medium, relays["a"], False)

    relay_ns, flush_ns = stage(general)
    rows.append(("relay, general path", relay_ns))
    if has_fast:

        def fast(medium, relays):
            for relay in relays.values():
                medium.attach(relay)
            return relay_protocol(medium, relays["a"], True)

        fast_ns, flush_ns = stage(fast)
        rows.append(("relay, fast path", fast_ns))
    else:
        fast_ns = relay_ns
    rows.append(("flush (one send a burst)", flush_ns))

    # The same burst through a real reactor: wake-up, relay, flush.
    from twisted.internet import epollreactor

    reactor = epollreactor.EPollReactor()
    ports = {n: PacketPort.open(f"r{n}", io="ring") for n in "ab"}
    medium = RelayChannel(reactor, 1, {("a", "b"): ChannelParams()})
    relays = {
        n: simnetns._RelayPort(n, mac, ports[n])
        for n, mac in (("a", NODE_A), ("b", NODE_B))
    }
    for relay in relays.values():
        medium.attach(relay)
    ports["a"].startListening(relay_protocol(medium, relays["a"], True), reactor)
    ports["b"].startListening(NullProtocol(), reactor)
    try:
        runs = []
        for _ in range(repeats):
            fill()
            sent = ports["b"].counters.sent
            t0 = time.perf_counter_ns()
            while ports["b"].counters.sent < sent + burst:
                reactor.iterate(0)
            runs.append((time.perf_counter_ns() - t0) / burst)
        rows.append(("epoll reactor: wake-up, relay, flush", statistics.median(runs)))
        rows.append(
            (
                "  less relay and flush above",
                statistics.median(runs) - fast_ns - flush_ns,
            )
        )
    finally:
        for port in ports.values():
            port.stopListening()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--mtu", type=int, default=1436, help="TAP MTU (1436)")
    parser.add_argument("--burst", type=int, default=100, help="frames a wake-up")
    parser.add_argument("--inner", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = 15 if args.quick else 101
    link_mtu = args.mtu + 56
    if args.inner:
        size, burst, repeats = args.inner
        for name, ns in inner(link_mtu, size, burst, repeats):
            print(f"{name}\t{ns}")
        return 0
    if os.geteuid() != 0:
        print("needs root (a scratch network namespace)", file=sys.stderr)
        return 2
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.abspath(__file__)),
    ).stdout.strip()
    print(
        f"bench_relay_path: commit {commit}, TAP MTU {args.mtu}, {args.burst} "
        f"frames a wake-up x {repeats}, median ns/frame"
    )
    columns = {}
    for label, size in (("data", link_mtu + 14), ("ack", 66 + 56)):
        with scratch_netns(link_mtu) as ns:
            out = subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    sys.executable,
                    os.path.abspath(__file__),
                    "--mtu",
                    str(args.mtu),
                    "--inner",
                    str(size),
                    str(args.burst),
                    str(repeats),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        columns[f"{label} {size} B"] = [
            (name, float(v))
            for name, _, v in (row.rpartition("\t") for row in out.splitlines())
        ]
    heads = list(columns)
    print(f"{'layer':<34}" + "".join(f"{h:>16}" for h in heads))
    for i, (name, _) in enumerate(columns[heads[0]]):
        print(f"{name:<34}" + "".join(f"{columns[h][i][1]:16.0f}" for h in heads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
