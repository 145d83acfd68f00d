"""Where the seed recipe's ping spends its time, segment by segment (root).

    sudo python scripts/trace_ping.py [--pings 10000] [--keep DIR] [--sched]
    python scripts/trace_ping.py --analyze DIR   # again, on kept captures

It builds the recipe of ``benchmarks/bench_dataplane.py`` (``vanet-sim``
netns mode, 1 RSU + 5 OBUs in a star, 1 ms links, encryption off), then
captures with ``tcpdump`` (nanosecond kernel time stamps, CLOCK_REALTIME
in every namespace) at the six interfaces a ping crosses: the OBU's TAP
and ``eth0``, the relay's two veth ends (``vs-OBU``, ``vs-RSU``), the
RSU's ``eth0`` and TAP, while one OBU runs ``ping -i 0.001`` to the RSU's
TAP address. Every request and reply is matched by ICMP type and seq
(found inside the overlay frame), which gives eleven segments per ping:

- ``obu tap>link`` / ``rsu tap>link``: a node reading its TAP and sending
  on its link; ``rsu link>tap`` / ``obu link>tap`` the other way;
- ``veth``: from one end of a veth to the other (the kernel);
- ``relay hold``: from the relay's veth in to its veth out; the link's
  1 ms is in it, the rest is the relay's (reading, its timer, writing);
- ``rsu stack``: the RSU host's kernel answering the echo.

With the recipe's processes it also records, through a ``sitecustomize``
put on their ``PYTHONPATH`` (nothing in the package changes): every GC
pause of the simulator and the nodes (``gc.callbacks``), and in the
simulator when each frame reached ``RelayChannel.transmit`` and how late
each link timer fired against its head frame's due time. ``--sched``
adds ``perf sched record`` (same clock) for the scheduling delay of the
node and relay processes.

The report: each segment's median over all pings and over the slowest
1 % (by ping's own round trip), what the slowest 1 % have in excess, and
which segment holds most of each one's excess. Namespaces and processes
are removed on every exit (also on SIGTERM); ``--keep DIR`` keeps the
captures and logs for ``--analyze``. Development tool: it follows the
relay's method names (``RelayChannel.transmit``, ``_deliver_link``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (capture, ICMP type) in the order a ping passes them: 8 echo request,
# 0 echo reply.
POINTS = (
    ("obu_tap", 8),
    ("obu_eth", 8),
    ("sim_obu", 8),
    ("sim_rsu", 8),
    ("rsu_eth", 8),
    ("rsu_tap", 8),
    ("rsu_tap", 0),
    ("rsu_eth", 0),
    ("sim_rsu", 0),
    ("sim_obu", 0),
    ("obu_eth", 0),
    ("obu_tap", 0),
)
SEGMENTS = (
    "obu tap>link",
    "veth obu>relay",
    "relay hold req",
    "veth relay>rsu",
    "rsu link>tap",
    "rsu stack",
    "rsu tap>link",
    "veth rsu>relay",
    "relay hold rep",
    "veth relay>obu",
    "obu link>tap",
)
LINK_S = 0.001  # the recipe's links

# Put on the recipe's processes' PYTHONPATH: GC pauses in every one, the
# relay's transmit times and timer lateness in the simulator. Written at
# exit (twistd and vanet-sim exit normally on SIGTERM).
SITECUSTOMIZE = r"""
import os
_dir = os.environ.get("VANET_TRACE_DIR")
if _dir:
    import atexit, gc, sys, time
    _gc = []
    _relay = []
    _began = [0]
    _ns = time.time_ns

    def _on_gc(phase, info):
        if phase == "start":
            _began[0] = _ns()
        else:
            _gc.append((_began[0], _ns() - _began[0], info["generation"]))

    # Without captures (--no-capture) nothing is recorded: only the
    # experiments' settings below apply.
    _record = bool(os.environ.get("VANET_TRACE_RECORD"))
    if _record:
        gc.callbacks.append(_on_gc)

    # Reactor iterations of 0.2 ms or more: from epoll's return to the
    # next wait, what the process did instead of reading its next frame.
    from twisted.internet import epollreactor as _epoll

    _returned = [0]
    _depth = [0]

    def _timed(do_poll):
        def doPoll(self, timeout):
            if _depth[0]:  # a subclass's doPoll calling its base's
                return do_poll(self, timeout)
            entered = _ns()
            if _returned[0] and entered - _returned[0] >= 200_000:
                _relay.append(("B", _returned[0], entered - _returned[0]))
            _depth[0] += 1
            try:
                return do_poll(self, timeout)
            finally:
                _depth[0] -= 1
                _returned[0] = now = _ns()
                # A wait that ended 0.1 ms or more after its timeout: how
                # late the reactor woke for its next timed call.
                if timeout and now - entered - timeout * 1e9 >= 100_000:
                    _relay.append(("W", entered, int(timeout * 1e9), now - entered))

        return doPoll

    _classes = [_epoll.EPollReactor]
    try:
        from vanet.sim.reactor import PreciseEPollReactor

        _classes.append(PreciseEPollReactor)
    except ImportError:
        pass  # a vanet without it
    for _class in _classes if _record else ():
        _class.doPoll = _class.doIteration = _timed(_class.doPoll)

    def _echo_seq(frame):
        head = bytes(frame[:200])
        i = head.find(b"\x08\x00\x45")
        while i >= 0:
            ip = i + 2
            if len(head) >= ip + 28 and head[ip + 9] == 1:
                icmp = ip + (head[ip] & 15) * 4
                if head[icmp] in (0, 8) and head[icmp + 1] == 0:
                    return head[icmp], int.from_bytes(head[icmp + 6 : icmp + 8], "big")
            i = head.find(b"\x08\x00\x45", i + 1)
        return None

    if "vanet.sim.cli" in sys.orig_argv:
        from vanet.sim import channel as _channel

        _transmit = _channel.RelayChannel.transmit
        _deliver = _channel.RelayChannel._deliver_link

        def transmit(self, sender, frame):
            now = _ns()
            key = _echo_seq(frame) if len(frame) < 200 else None
            if key is not None:
                _relay.append(("T", now, key[0], key[1]))
            return _transmit(self, sender, frame)

        def _deliver_link(self, link):
            now = _ns()
            if link.queue:
                _relay.append(("L", now, int(link.queue[0][0] * 1e9), len(link.queue)))
            return _deliver(self, link)

        if _record:
            _channel.RelayChannel.transmit = transmit
            _channel.RelayChannel._deliver_link = _deliver_link

        from vanet.sim import node_feed as _feed

        _message = _feed._EventReader._message
        _start = _feed.NodeStatusFeed.start
        _no_poll = bool(os.environ.get("VANET_TRACE_NO_POLL"))

        def _status_read(self, message):
            _relay.append(("P", _ns()))  # a node's pushed status, read
            return _message(self, message)

        def _feed_start(self, names):
            if not _no_poll:
                return _start(self, names)

        _feed._EventReader._message = _status_read
        _feed.NodeStatusFeed.start = _feed_start

    def _dump():
        with open(os.path.join(_dir, f"proc-{os.getpid()}.txt"), "w") as f:
            f.write(" ".join(sys.orig_argv) + "\n")
            reactor = sys.modules.get("twisted.internet.reactor")
            f.write(f"R {type(reactor).__name__}\n")
            for start, took, gen in _gc:
                f.write(f"G {start} {took} {gen}\n")
            for row in _relay:
                f.write(" ".join(map(str, row)) + "\n")

    atexit.register(_dump)
    if any("twistd" in arg for arg in sys.orig_argv):
        # twistd ends a node stopped by SIGTERM with that signal again,
        # which skips atexit.
        from twisted.application import app as _app

        _exit_with = _app._exitWithSignal

        def _exitWithSignal(sig):
            _dump()
            _exit_with(sig)

        _app._exitWithSignal = _exitWithSignal
"""


def load_bench():
    """``benchmarks/bench_dataplane.py`` as a module (its recipe set-up)."""
    path = ROOT / "benchmarks" / "bench_dataplane.py"
    spec = importlib.util.spec_from_file_location("bench_dataplane", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- captures ----------------------------------------------------------------


def read_pcap(path: Path):
    """(ns since the epoch, frame) of every record of a pcap file."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    (magic,) = struct.unpack_from("<I", data)
    scale = {0xA1B23C4D: 1, 0xA1B2C3D4: 1000}.get(magic)
    if scale is None:
        raise ValueError(f"{path}: not a little-endian pcap file")
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, size, _ = struct.unpack_from("<IIII", data, offset)
        offset += 16
        if offset + size > len(data):
            break  # cut short when tcpdump stopped
        yield sec * 1_000_000_000 + frac * scale, data[offset : offset + size]
        offset += size


def echo_key(frame: bytes) -> tuple[int, int] | None:
    """(ICMP type, seq) of the echo request or reply in ``frame``, at any
    depth (a TAP frame, or one inside an overlay frame); else ``None``."""
    i = frame.find(b"\x08\x00\x45")
    while i >= 0:
        ip = i + 2
        if len(frame) >= ip + 28 and frame[ip + 9] == 1:
            icmp = ip + (frame[ip] & 15) * 4
            if len(frame) >= icmp + 8 and frame[icmp] in (0, 8) and not frame[icmp + 1]:
                return frame[icmp], int.from_bytes(frame[icmp + 6 : icmp + 8], "big")
        i = frame.find(b"\x08\x00\x45", i + 1)
    return None


def capture_plan(rsu: str, obu: str) -> list[tuple[str, str | None, str, str]]:
    """(capture name, namespace or None for the simulator's, interface,
    filter)."""
    from vanet.sim.netns import NODE_INTERFACE, namespace_name, peer_name

    overlay = "ether proto 0x3030"
    return [
        ("obu_tap", namespace_name(obu), "vtap0", "icmp"),
        ("obu_eth", namespace_name(obu), NODE_INTERFACE, overlay),
        ("sim_obu", None, peer_name(obu), overlay),
        ("sim_rsu", None, peer_name(rsu), overlay),
        ("rsu_eth", namespace_name(rsu), NODE_INTERFACE, overlay),
        ("rsu_tap", namespace_name(rsu), "vtap0", "icmp"),
    ]


def wait_for_text(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"no {text!r} in {path} within {timeout:.0f} s")


# -- the run -----------------------------------------------------------------


def _exit_on(signum, frame) -> None:
    raise SystemExit(128 + signum)


def run(args, out: Path) -> None:
    """Start the recipe, capture one ping run into ``out``; everything it
    started is gone when this returns or raises."""
    from vanet.sim.netns import remove_stale

    bench_module = load_bench()
    hooks = out / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    os.environ["VANET_TRACE_DIR"] = str(out)
    if not args.no_capture:
        os.environ["VANET_TRACE_RECORD"] = "1"
    if args.no_status_poll:
        os.environ["VANET_TRACE_NO_POLL"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(hooks), str(ROOT), os.environ.get("PYTHONPATH")) if p
    )
    bench = bench_module.Bench(1.0, args.pings, out)
    captures = bench_module.Processes(out)
    names: list[str] = []
    try:
        # The names are known only once the simulation is up; remember
        # them for the sweep below as soon as they are.
        rsu, obus = bench.star(False)
        names = [rsu, *obus]
        if args.relay_nice is not None:
            os.setpriority(
                os.PRIO_PROCESS, bench.procs.running[0][0].pid, args.relay_nice
            )
        plan = [] if args.no_capture else capture_plan(rsu, obus[0])
        for name, ns, ifname, bpf in plan:
            argv = [
                "tcpdump",
                "-i",
                ifname,
                "-n",
                "-s",
                "256",
                "-B",
                "16384",
                "--time-stamp-precision=nano",
                "-w",
                str(out / f"{name}.pcap"),
                bpf,
            ]
            if ns:
                argv = ["ip", "netns", "exec", ns, *argv]
            captures.start(argv, f"tcpdump-{name}.log")
        for name, *_ in plan:
            wait_for_text(out / f"tcpdump-{name}.log", "listening on", 10)
        if args.sched:
            captures.start(
                [
                    "perf",
                    "sched",
                    "record",
                    "-k",
                    "CLOCK_MONOTONIC",  # CLOCK_REALTIME is refused here
                    "-o",
                    str(out / "perf.data"),
                ],
                "perf.log",
            )
            time.sleep(1)
        # perf's CLOCK_MONOTONIC to the captures' CLOCK_REALTIME
        (out / "clock.txt").write_text(f"{time.time_ns() - time.monotonic_ns()}\n")
        result = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                f"vanet-{obus[0]}",
                "ping",
                "-i",
                str(args.interval),
                "-c",
                str(args.pings),
                "-W",
                "1",
                bench_module.RECIPE_RSU,
            ],
            capture_output=True,
            text=True,
            timeout=args.pings * args.interval * 5 + 60,
        )
        (out / "ping.txt").write_text(result.stdout)
        # tcpdump writes a ring block out when it is full or a second old.
        time.sleep(1.5)
    finally:
        captures.close()  # tcpdump writes its file out on SIGTERM
        bench.close()  # the simulator stops its nodes, removes namespaces
        # Whatever a killed simulator left behind.
        for leftover in remove_stale(names):
            print(f"removed leftover {leftover}", file=sys.stderr)
    if args.sched:
        with open(out / "sched.txt", "w") as f:
            subprocess.run(
                [
                    "perf",
                    "sched",
                    "-i",
                    str(out / "perf.data"),
                    "timehist",
                    "--state",
                ],
                stdout=f,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        (out / "perf.data").unlink(missing_ok=True)


# -- the analysis ------------------------------------------------------------


def ping_rtts(path: Path) -> dict[int, float]:
    """icmp_seq -> round trip (ms) as ping printed it."""
    found = re.findall(r"icmp_seq=(\d+) .*?time=([\d.]+) ms", path.read_text())
    return {int(seq) & 0xFFFF: float(ms) for seq, ms in found}


def point_times(out: Path) -> dict[int, list[int | None]]:
    """seq -> the ns time stamp at each of POINTS (None where not seen)."""
    index = {point: i for i, point in enumerate(POINTS)}
    times: dict[int, list[int | None]] = defaultdict(lambda: [None] * len(POINTS))
    for capture in {name for name, _ in POINTS}:
        path = out / f"{capture}.pcap"
        for stamp, frame in read_pcap(path):
            key = echo_key(frame)
            if key is None:
                continue
            kind, seq = key
            slot = index[(capture, kind)]
            row = times[seq]
            if row[slot] is None:
                row[slot] = stamp
    return times


def processes(out: Path) -> dict[str, dict]:
    """What each recipe process recorded: name -> {gc, transmit, timers}."""
    found = {}
    for path in sorted(out.glob("proc-*.txt")):
        lines = path.read_text().splitlines()
        if not lines:
            continue
        argv = lines[0]
        if "vanet.sim.cli" in argv:
            name = "relay"
        else:
            match = re.search(r"/([^/ ]+)\.ini", argv)
            name = match.group(1) if match else path.stem
        gc, transmit, timers, busy, polls, waits = [], defaultdict(list), [], [], [], []
        reactor = "?"
        for line in lines[1:]:
            kind, *fields = line.split()
            if kind == "G":
                gc.append(tuple(map(int, fields)))
            elif kind == "T":
                transmit[int(fields[1]), int(fields[2])].append(int(fields[0]))
            elif kind == "L":
                timers.append(tuple(map(int, fields)))
            elif kind == "B":
                busy.append(tuple(map(int, fields)))
            elif kind == "P":
                polls.append(int(fields[0]))
            elif kind == "W":
                waits.append(tuple(map(int, fields)))
            elif kind == "R":
                reactor = fields[0]
        found[name] = {
            "pid": int(path.stem.split("-")[1]),
            "reactor": reactor,
            "gc": gc,
            "transmit": transmit,
            "timers": timers,
            "busy": busy,
            "polls": polls,
            "waits": waits,
        }
    return found


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def analyze(out: Path) -> None:
    rtts = ping_rtts(out / "ping.txt")
    times = point_times(out)
    complete = {
        seq: row
        for seq, row in times.items()
        if seq in rtts and all(t is not None for t in row)
    }
    if not complete:
        raise SystemExit(f"no ping seen at every point in {out}")
    rows = {
        seq: [(row[i + 1] - row[i]) / 1e6 for i in range(len(SEGMENTS))]
        for seq, row in complete.items()
    }
    ordered = sorted(complete, key=lambda seq: rtts[seq])
    slow = ordered[int(len(ordered) * 0.99) :]
    all_rtts = [rtts[s] for s in complete]
    print(
        f"{len(rtts)} replies, {len(complete)} seen at all 12 points; ping "
        f"round trip p50 {pct(all_rtts, 0.5):.3f} ms, p99 {pct(all_rtts, 0.99):.3f}"
        f" ms, max {max(all_rtts):.3f} ms"
    )
    print()
    print(
        f"{'segment (ms)':<18}{'p50 all':>9}{'p99 all':>9}{'p50 slow':>10}"
        f"{'mean slow':>11}{'excess':>8}"
    )
    medians = []
    for i, name in enumerate(SEGMENTS):
        values = [rows[s][i] for s in complete]
        slow_values = [rows[s][i] for s in slow]
        median = statistics.median(values)
        medians.append(median)
        mean_slow = statistics.fmean(slow_values)
        print(
            f"{name:<18}{median:9.3f}{pct(values, 0.99):9.3f}"
            f"{statistics.median(slow_values):10.3f}{mean_slow:11.3f}"
            f"{mean_slow - median:8.3f}"
        )
    outside = [rtts[s] - (complete[s][-1] - complete[s][0]) / 1e6 for s in complete]
    print(
        f"{'ping, outside TAP':<18}{statistics.median(outside):9.3f}"
        f"{pct(outside, 0.99):9.3f}"
    )
    print()
    where = Counter()
    for seq in slow:
        excess = [rows[seq][i] - medians[i] for i in range(len(SEGMENTS))]
        where[SEGMENTS[max(range(len(SEGMENTS)), key=excess.__getitem__)]] += 1
    print(
        f"slowest 1 % ({len(slow)} pings, round trip >= {rtts[slow[0]]:.3f} ms), "
        "by the segment holding most of the excess:"
    )
    for name, count in where.most_common():
        print(f"  {name:<18}{count:5d}")
    procs = processes(out)
    relay = procs.get("relay")
    if relay:
        report_relay(relay, complete, slow)
    if procs:
        first = min(row[0] for row in complete.values())
        last = max(row[-1] for row in complete.values())
        report_gc(procs, (first, last))
        report_busy(procs, complete, slow, medians)
    if (out / "sched.txt").exists():
        report_sched(out, procs, complete, slow)


def report_relay(relay: dict, complete: dict, slow: list[int]) -> None:
    """The relay hold split: read (veth in to ``transmit``), the 1 ms,
    timer lateness and write (the rest)."""
    print()
    transmit = relay["transmit"]
    parts = defaultdict(list)
    slow_set = set(slow)
    for seq, row in complete.items():
        for kind, i_in, i_out in ((8, 2, 3), (0, 8, 9)):
            # The first time the relay had it after its veth did (the
            # start-up's single pings had seq 1 too).
            seen = next(
                (t for t in transmit.get((kind, seq), ()) if t > row[i_in] - 50_000),
                None,
            )
            if seen is None:
                continue
            read = (seen - row[i_in]) / 1e6
            after = (row[i_out] - seen) / 1e6 - LINK_S * 1e3
            parts["read", seq in slow_set].append(read)
            parts["due>out", seq in slow_set].append(after)
    first = min(row[0] for row in complete.values())
    last = max(row[-1] for row in complete.values())
    print(f"relay: reactor {relay['reactor']}")
    lateness = [
        (fired - due) / 1e6
        for fired, due, _ in relay["timers"]
        if first <= fired <= last
    ]
    if lateness:
        print(
            f"relay: {len(lateness)} link timer firings, late against the head "
            f"frame's due time by p50 {pct(lateness, 0.5):.3f} ms, p90 "
            f"{pct(lateness, 0.9):.3f}, p99 {pct(lateness, 0.99):.3f}, max "
            f"{max(lateness):.3f} ms"
        )
    waits = [w for w in relay["waits"] if first <= w[0] <= last]
    if waits:
        over = [(actual - asked) / 1e6 for _, asked, actual in waits]
        short = sum(1 for _, asked, _ in waits if asked < 1_000_000)
        print(
            f"relay: {len(waits)} reactor waits overshot their timeout by >= 0.1 "
            f"ms ({short} of them asked < 1 ms): p50 {pct(over, 0.5):.3f} ms, p99 "
            f"{pct(over, 0.99):.3f}, max {max(over):.3f}"
        )
    for part in ("read", "due>out"):
        for is_slow in (False, True):
            values = parts[part, is_slow]
            if values:
                label = "slowest 1 %" if is_slow else "all others"
                print(
                    f"relay {part:<8} ({label}): p50 {pct(values, 0.5):.3f} ms, "
                    f"p99 {pct(values, 0.99):.3f}, mean {statistics.fmean(values):.3f}"
                )


def report_gc(procs: dict, window: tuple[int, int]) -> None:
    first, last = window
    print()
    print("GC pauses while the pings ran (count by generation; total, longest ms):")
    for name, data in sorted(procs.items()):
        gc = [g for g in data["gc"] if first <= g[0] <= last]
        if not gc:
            print(f"  {name:<10} none")
            continue
        by_gen = Counter(gen for _, _, gen in gc)
        longest = max(took for _, took, _ in gc) / 1e6
        total = sum(took for _, took, _ in gc) / 1e6
        gens = ", ".join(f"gen{g} {n}" for g, n in sorted(by_gen.items()))
        print(f"  {name:<10} {gens}; {total:.1f} ms, longest {longest:.3f} ms")


def report_busy(
    procs: dict, complete: dict, slow: list[int], medians: list[float]
) -> None:
    """Long reactor iterations per process, what they follow, and which of
    the slowest pings' late segments they (or GC pauses) overlap."""
    first = min(row[0] for row in complete.values())
    last = max(row[-1] for row in complete.values())
    polls = sorted(procs.get("relay", {}).get("polls", ()))
    print()
    print(
        "reactor iterations of >= 0.2 ms while the pings ran (count, >= 1 ms, "
        "longest ms, share ending within 20 ms after a status read):"
    )
    for name, data in sorted(procs.items()):
        busy = [b for b in data["busy"] if first <= b[0] <= last]
        if not busy:
            print(f"  {name:<10} none")
            continue
        # by its end: the read may be what the iteration runs
        after_poll = sum(1 for start, d in busy if _since(polls, start + d) < 20e6)
        print(
            f"  {name:<10} {len(busy):5d} {sum(1 for _, d in busy if d >= 1e6):5d}"
            f" {max(d for _, d in busy) / 1e6:7.3f}   "
            f"{after_poll / len(busy) * 100:5.1f} %"
        )
    if polls:
        near = sum(1 for seq in slow if _since(polls, complete[seq][-1]) < 20e6)
        # By chance: the share of the pings' time that lies within 20 ms
        # after some status read (reads come evenly or in bursts).
        reads = [t for t in polls if first - 20e6 <= t <= last]
        covered = sum(
            min(20e6, max(0, min(b, last) - max(a, first)))
            for a, b in zip(reads, [*reads[1:], last + 20e6])
        )
        print(
            f"slowest 1 %: {near} of {len(slow)} end within 20 ms after a status "
            f"read ({len(reads)} reads: "
            f"{min(1.0, covered / max(1, last - first)) * 100:.0f} % by chance)"
        )
    rsu = next((n for n in procs if n.startswith("r") and n != "relay"), None)
    obus = sorted(n for n in procs if n.startswith("o"))
    owner = {
        "obu tap>link": obus[0] if obus else None,
        "obu link>tap": obus[0] if obus else None,
        "relay hold req": "relay",
        "relay hold rep": "relay",
        "rsu link>tap": rsu,
        "rsu tap>link": rsu,
        "rsu stack": None,
    }
    causes = Counter()
    for seq in slow:
        row = complete[seq]
        for i, segment in enumerate(SEGMENTS):
            a, b = row[i], row[i + 1]
            if (b - a) / 1e6 - medians[i] < 0.25 or owner.get(segment) is None:
                continue
            data = procs.get(owner[segment], {})
            if any(s < b and s + d > a for s, d in data.get("busy", ())):
                cause = "long iteration"
            elif any(s < b and s + d > a for s, d, _ in data.get("gc", ())):
                cause = "GC"
            else:
                cause = "neither (waiting to run?)"
            causes[f"{segment}: {cause}"] += 1
    print("slowest 1 %, segments >= 0.25 ms over their median, by what overlaps:")
    for text, count in causes.most_common():
        print(f"  {count:4d}  {text}")


def _since(marks: list[int], t: int) -> float:
    """ns since the last of the sorted ``marks`` at or before ``t``."""
    import bisect

    i = bisect.bisect_right(marks, t)
    return t - marks[i - 1] if i else float("inf")


def report_sched(out: Path, procs: dict, complete: dict, slow: list[int]) -> None:
    """From ``perf sched timehist``: how long each of our processes waited
    to run once woken, and what held the two CPUs during the slowest
    pings."""
    offset = int((out / "clock.txt").read_text())
    pattern = re.compile(
        r"^\s*(\d+)\.(\d+)\s+\[(\d+)\]\s+(.+?)\[(\d+)(?:/\d+)?\]\s+"
        r"([\d.]+)\s+([\d.]+)\s+([\d.]+)"
    )
    names = {}
    for path in out.glob("proc-*.txt"):
        pid = int(path.stem.split("-")[1])
        names[pid] = next(
            (n for n, d in procs.items() if d.get("pid") == pid), str(pid)
        )
    runs = []  # (start ns, end ns, cpu, task, sched delay ms)
    for line in (out / "sched.txt").read_text(errors="replace").splitlines():
        match = pattern.match(line)
        if not match:
            continue
        sec, frac, cpu, comm, tid, _, delay, run = match.groups()
        end = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9]) + offset
        task = names.get(int(tid), comm.strip())
        runs.append((end - int(float(run) * 1e6), end, int(cpu), task, float(delay)))
    if not runs:
        print("\nsched: nothing parsed")
        return
    first = min(row[0] for row in complete.values())
    last = max(row[-1] for row in complete.values())
    print()
    print("waiting to run once woken (perf sched), ms: p50, p99, max, > 0.25 ms")
    by_task = defaultdict(list)
    for start, _end, _, task, delay in runs:
        if first <= start <= last:
            by_task[task].append(delay)
    for task in sorted(set(names.values()) | {"ping", "tcpdump"}):
        delays = by_task.get(task)
        if delays:
            print(
                f"  {task:<10}{pct(delays, 0.5):7.3f}{pct(delays, 0.99):7.3f}"
                f"{max(delays):7.3f}{sum(1 for d in delays if d > 0.25):6d}"
            )
    held = Counter()
    for seq in slow:
        a, b = complete[seq][0], complete[seq][-1]
        for start, end, _, task, _ in runs:
            if start < b and end > a:
                held[task] += (min(b, end) - max(a, start)) / 1e6
    total = sum((complete[s][-1] - complete[s][0]) / 1e6 for s in slow) * 2
    print(
        "CPU time during the slowest 1 % pings, share of both CPUs' time "
        "(the rest idle):"
    )
    for task, ms in held.most_common(12):
        print(f"  {task:<16}{ms / total * 100:6.1f} %")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=10000)
    parser.add_argument("--interval", type=float, default=0.001)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep captures here")
    parser.add_argument("--sched", action="store_true", help="perf sched record too")
    parser.add_argument(
        "--no-status-poll",
        action="store_true",
        help="experiment: the simulator reads no status from its nodes",
    )
    parser.add_argument(
        "--relay-nice",
        type=int,
        metavar="N",
        help="experiment: renice the simulator (the relay) to N once it is up",
    )
    parser.add_argument(
        "--no-capture",
        action="store_true",
        help="no captures and no recording: the ping's figures alone, with "
        "the experiments' settings (to compare them without the tracing's "
        "own load)",
    )
    parser.add_argument("--analyze", type=Path, metavar="DIR", help="analyze only")
    args = parser.parse_args(argv)
    if args.analyze:
        analyze(args.analyze)
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces, TAP devices, tcpdump)", file=sys.stderr)
        return 2
    for tool in ("ip", "ping", "tcpdump", *(("perf",) if args.sched else ())):
        if shutil.which(tool) is None:
            print(f"needs {tool}", file=sys.stderr)
            return 2
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _exit_on)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        out = args.keep
    else:
        out = Path(tempfile.mkdtemp(prefix="vanet-trace-ping-"))
    os.chmod(out, 0o755)
    try:
        run(args, out)
        if args.no_capture:
            rtts = sorted(ping_rtts(out / "ping.txt").values())
            print(
                f"{len(rtts)} replies of {args.pings}: p50 {pct(rtts, 0.5):.2f} ms, "
                f"p90 {pct(rtts, 0.9):.2f}, p99 {pct(rtts, 0.99):.2f}, max "
                f"{rtts[-1]:.2f}"
            )
        else:
            analyze(out)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
