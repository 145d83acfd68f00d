"""The data path, every figure side by side in one run (needs root).

    sudo python benchmarks/bench_dataplane.py [--quick] [--seconds S]

Table 1, at TAP MTU 1436 and 9000, iperf3 TCP between two namespaces:

- ``veth``: a bare veth pair (the kernel's ceiling);
- ``forwarder``: the reference, a bare single-process Python TAP<->TAP
  forwarder (read, write, nothing else; ``forward`` below);
- ``overlay veth``: two twistd nodes (RSU, OBU) on a direct veth pair,
  iperf3 through their TAPs; again with ``[link] io = socket`` (no rings);
- ``sim 1 hop`` and ``sim 3 hops``: the same through ``vanet-sim`` netns
  mode (RSU - OBU and RSU - OBU - OBU - OBU, no delay or loss);

each overlay figure with its ratio to the forwarder. For each, the CPU
of our processes a frame carried (user + system), the simulator's own
process (its relay) apart, and the whole machine's busy CPU a frame (every
process, iperf3 and softirq work) with the share of the cores left idle:
what bounds a path on this machine.

Table 2, the seed's recipe through ``vanet-sim`` netns mode (1 RSU, 5 OBUs
in a star, 1 ms links): one iperf3 flow; ``ping -i 0.001 -c 10000`` (loss,
p50, p99); five parallel iperf3 flows, one from each OBU (sum, minimum,
Jain's fairness index); all of it with encryption off and on, and the
ratio on/off.

``--five-flows N`` runs only the recipe's five parallel flows, N times in
one simulator, with each flow's retransmits and every drop counter on the
way (the nodes' rings and the interfaces): where five flows part.

Absolute figures move with the load on a shared machine; the ratios within
one run much less. ``--quick`` is a smoke run (1 s flows, 300 pings).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MTUS = (1436, 9000)
#: the recipe's RSU TAP address, which the OBUs ping
RECIPE_RSU = "10.73.0.1"
# What a TAP frame of MTU m needs on the link (docs/protocol.md §9).
LINK_MARGIN = 56


def sh(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, check=check, capture_output=True, text=True, timeout=timeout
    )


def tag() -> str:
    return secrets.token_hex(2)


def twistd() -> list[str]:
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


# -- measurements ------------------------------------------------------------


def iperf_server(ns: str, address: str, port: int = 5201) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "iperf3",
            "-s",
            "-1",
            "-B",
            address,
            "-p",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return server


#: iperf3's congestion control for every flow (``--congestion``); None:
#: the system's default (net.ipv4.tcp_congestion_control).
CONGESTION: str | None = None


def iperf_client(
    ns: str, address: str, seconds: float, port: int = 5201
) -> subprocess.Popen:
    return subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "iperf3",
            "-c",
            address,
            "-p",
            str(port),
            "-t",
            str(seconds),
            "-J",
            *(("-C", CONGESTION) if CONGESTION else ()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def received_mbps(client: subprocess.Popen, seconds: float) -> float:
    return flow_report(client, seconds)[0]


def flow_report(client: subprocess.Popen, seconds: float) -> tuple[float, int]:
    """Receiver-side Mbit/s and the sender's retransmits of one flow."""
    out, _ = client.communicate(timeout=seconds + 30)
    try:
        end = json.loads(out)["end"]
        return (
            end["sum_received"]["bits_per_second"] / 1e6,
            end["sum_sent"].get("retransmits", 0),
        )
    except (ValueError, KeyError):
        return 0.0, 0


def iperf(server_ns: str, client_ns: str, address: str, seconds: float) -> float:
    """Receiver-side TCP throughput, Mbit/s (0 when the flow failed)."""
    server = iperf_server(server_ns, address)
    try:
        return received_mbps(iperf_client(client_ns, address, seconds), seconds)
    finally:
        server.kill()
        server.wait()


def parallel_iperf(
    server_ns: str, clients: list[str], address: str, seconds: float
) -> list[float]:
    """One flow from each namespace in ``clients`` at once, Mbit/s each."""
    return [mbps for mbps, _ in parallel_flows(server_ns, clients, address, seconds)]


def parallel_flows(
    server_ns: str, clients: list[str], address: str, seconds: float
) -> list[tuple[float, int]]:
    """``parallel_iperf`` with each flow's retransmits."""
    servers = [iperf_server(server_ns, address, 5201 + i) for i in range(len(clients))]
    try:
        running = [
            iperf_client(ns, address, seconds, 5201 + i) for i, ns in enumerate(clients)
        ]
        return [flow_report(c, seconds) for c in running]
    finally:
        for server in servers:
            server.kill()
            server.wait()


def jain(values: list[float]) -> float:
    """Jain's fairness index: 1 when all are equal, 1/n when one has all."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 0.0


def ping(ns: str, address: str, count: int) -> dict:
    """``ping -i 0.001``: loss and round-trip percentiles (ms)."""
    result = sh(
        "ip",
        "netns",
        "exec",
        ns,
        "ping",
        "-i",
        "0.001",
        "-c",
        str(count),
        "-W",
        "1",
        address,
        check=False,
        timeout=count * 0.01 + 60,
    )
    times = sorted(float(t) for t in re.findall(r"time=([\d.]+) ms", result.stdout))
    if not times:
        nan = float("nan")
        return {"loss": 1.0, "p50": nan, "p90": nan, "p99": nan, "max": nan}
    return {
        "loss": 1 - len(times) / count,
        "p50": times[len(times) // 2],
        "p90": times[min(len(times) - 1, int(len(times) * 0.9))],
        "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
        "max": times[-1],
    }


def wait_ping(ns: str, address: str, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            sh(
                "ip",
                "netns",
                "exec",
                ns,
                "ping",
                "-c",
                "1",
                "-W",
                "1",
                address,
                check=False,
            ).returncode
            == 0
        ):
            return
        time.sleep(0.3)
    raise RuntimeError(f"{address} not reachable from {ns} within {timeout:.0f} s")


# -- set-ups -----------------------------------------------------------------


class Namespaces:
    """Namespaces made here; all deleted on close."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, prefix: str) -> str:
        name = f"vbd-{prefix}{tag()}"
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def veth(self, a: str, b: str, mtu: int, addresses=(None, None)) -> tuple[str, str]:
        t = tag()
        if_a, if_b = f"vbda{t}", f"vbdb{t}"
        sh(
            "ip",
            "link",
            "add",
            if_a,
            "netns",
            a,
            "mtu",
            str(mtu),
            "type",
            "veth",
            "peer",
            "name",
            if_b,
            "netns",
            b,
            "mtu",
            str(mtu),
        )
        for ns, dev, address in ((a, if_a, addresses[0]), (b, if_b, addresses[1])):
            if address:
                sh("ip", "-n", ns, "addr", "add", address, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        return if_a, if_b

    def close(self) -> None:
        for name in self.names:
            sh("ip", "netns", "del", name, check=False)
        self.names.clear()


class Processes:
    """Processes started here (each in its own group); all ended on close."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[tuple[subprocess.Popen, object]] = []

    def start(self, argv: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.workdir / log_name, "wb")  # noqa: SIM115 - closed in close()
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.workdir,
        )
        self.running.append((process, log))
        return process

    def close(self) -> None:
        for process, _ in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, log in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()
        self.running.clear()


_TICK = os.sysconf("SC_CLK_TCK")


def session_cpu(sessions: set[int]) -> tuple[float, float]:
    """User and system CPU seconds of every live process in ``sessions``
    (each process we start leads its own: a simulator's nodes count with
    it)."""
    user = system = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # After the command's closing parenthesis: state, ppid, pgrp,
        # session, ..., utime and stime are fields 14 and 15 of the line.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) in sessions:
            user += int(fields[11])
            system += int(fields[12])
    return user / _TICK, system / _TICK


def process_cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of one process (0, 0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0.0, 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def machine_cpu() -> tuple[float, float]:
    """The machine's busy and idle CPU seconds (all cores, /proc/stat): busy
    is every process and the kernel's softirq work, iperf3 included."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / _TICK, idle / _TICK


def forward(fd_a: int, fd_b: int) -> None:
    """The reference forwarder: a frame read from one TAP is written to the
    other, nothing else (one read and one write system call a frame)."""
    peer = {fd_a: fd_b, fd_b: fd_a}
    poller = select.epoll()
    poller.register(fd_a, select.EPOLLIN)
    poller.register(fd_b, select.EPOLLIN)
    read, write = os.read, os.write
    while True:
        for fd, _ in poller.poll():
            for _ in range(64):
                try:
                    frame = read(fd, 65536)
                except BlockingIOError:
                    break
                try:
                    write(peer[fd], frame)
                except OSError:
                    pass


def forwarder_main(ns_a: str, ns_b: str, mtu: int) -> None:
    """In a child process: a TAP in each namespace, then ``forward``."""
    from pyroute2 import netns

    from vanet.tap.linux import LinuxTap

    taps = []  # kept open while forwarding
    for ns, address in ((ns_a, "10.76.0.1/24"), (ns_b, "10.76.0.2/24")):
        netns.setns(ns)
        taps.append(LinuxTap.open("vtapf", mtu, address))
    forward(*(tap.fileno() for tap in taps))


def write_ini(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    path.write_text(
        "".join(
            f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) + "\n"
            for name, keys in sections.items()
        )
    )
    return path


class Bench:
    def __init__(
        self, seconds: float, pings: int, workdir: Path, profile: Path | None = None
    ) -> None:
        self.profile = profile
        self.seconds = seconds
        self.pings = pings
        self.workdir = workdir
        self.ns = Namespaces()
        self.procs = Processes(workdir)
        self.key = workdir / "vanet.key"
        self.key.write_bytes(os.urandom(32))
        self.key.chmod(0o600)
        self.cpu: tuple[float, float, float] | None = None
        # the simulator's own process (its relay), while one runs
        self.sim_pid: int | None = None
        self.relay_cpu: tuple[float, float, float] | None = None
        self.machine: tuple[float, float] | None = None

    def close(self) -> None:
        self.procs.close()
        self.ns.close()
        self.sim_pid = None

    def iperf(self, server_ns: str, client_ns: str, address: str) -> float:
        """``iperf`` with the CPU time our processes spent during it, in
        ``self.cpu``: (user s, system s, flow s); the simulator's process
        alone in ``self.relay_cpu``; the whole machine's busy and idle
        seconds in ``self.machine``."""
        sessions = {process.pid for process, _ in self.procs.running}
        server = iperf_server(server_ns, address)
        try:
            # From the client's start to its end: the flow, and its set-up.
            user0, sys0 = session_cpu(sessions)
            relay0 = process_cpu(self.sim_pid) if self.sim_pid else None
            busy0, idle0 = machine_cpu()
            client = iperf_client(client_ns, address, self.seconds)
            mbps = received_mbps(client, self.seconds)
            busy1, idle1 = machine_cpu()
            user1, sys1 = session_cpu(sessions)
        finally:
            server.kill()
            server.wait()
        self.cpu = (user1 - user0, sys1 - sys0, self.seconds)
        if relay0 is not None:
            relay1 = process_cpu(self.sim_pid)
            self.relay_cpu = (
                relay1[0] - relay0[0],
                relay1[1] - relay0[1],
                self.seconds,
            )
        self.machine = (busy1 - busy0, idle1 - idle0)
        return mbps

    @contextlib.contextmanager
    def scope(self):
        try:
            yield
        finally:
            self.close()

    # Table 1 -----------------------------------------------------------------

    def veth(self, mtu: int) -> float:
        with self.scope():
            a, b = self.ns.add("a"), self.ns.add("b")
            self.ns.veth(a, b, mtu, ("10.79.0.1/24", "10.79.0.2/24"))
            return self.iperf(a, b, "10.79.0.1")

    def forwarder(self, mtu: int) -> float:
        with self.scope():
            a, b = self.ns.add("a"), self.ns.add("b")
            self.procs.start(
                [sys.executable, __file__, "--forwarder", a, b, str(mtu)],
                f"forwarder-{mtu}.log",
            )
            wait_ping(b, "10.76.0.1", 15)
            return self.iperf(a, b, "10.76.0.1")

    def overlay_veth(self, mtu: int, io: str = "auto") -> float:
        with self.scope():
            a, b = self.ns.add("rsu"), self.ns.add("obu")
            if_a, if_b = self.ns.veth(a, b, mtu + LINK_MARGIN)
            for ns, role, ifname, address in (
                (a, "rsu", if_a, "10.75.0.1/24"),
                (b, "obu", if_b, "10.75.0.2/24"),
            ):
                ini = write_ini(
                    self.workdir / f"{role}-{mtu}.ini",
                    {
                        "node": {"name": role},
                        "link": {"transport": "packet", "interface": ifname, "io": io},
                        "tap": {"name": "vtap0", "address": address, "mtu": mtu},
                        "routing": {"hello_period_ms": 1000},
                        "control": {"listen": "none"},
                    },
                )
                profile = (
                    [
                        f"--profile={self.profile / f'{role}-{mtu}-{io}.prof'}",
                        "--profiler=cprofile",
                        "--savestats",
                    ]
                    if self.profile
                    else []
                )
                self.procs.start(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        *twistd(),
                        *profile,
                        "-n",
                        "--pidfile=",
                        f"vanet-{role}",
                        "--config",
                        str(ini),
                    ],
                    f"{role}-{mtu}.log",
                )
            wait_ping(b, "10.75.0.1")
            return self.iperf(a, b, "10.75.0.1")

    def sim(self, nodes: dict[str, dict], links: list[tuple[str, str, float]]) -> str:
        """Start ``vanet-sim`` netns mode; returns its HTTP base URL."""
        sections: dict[str, dict[str, object]] = {"sim": {"mode": "netns", "seed": 1}}
        for name, keys in nodes.items():
            sections[f"node:{name}"] = {"routing.hello_period_ms": 1000, **keys}
        for a, b, latency in links:
            sections[f"link:{a}<>{b}"] = {"latency_ms": latency}
        ini = write_ini(self.workdir / f"sim-{tag()}.ini", sections)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.sim_pid = self.procs.start(
            [
                sys.executable,
                "-m",
                "vanet.sim.cli",
                "--config",
                str(ini),
                "--http",
                f"tcp:{port}:interface=127.0.0.1",
            ],
            f"{ini.stem}.log",
        ).pid
        return f"http://127.0.0.1:{port}"

    def sim_chain(self, mtu: int, hops: int) -> float:
        t = tag()
        names = [f"r{t}"] + [f"o{t}{i}" for i in range(1, hops + 1)]
        with self.scope():
            nodes = {
                name: {
                    "role": "rsu" if i == 0 else "obu",
                    "tap.address": f"10.74.0.{i + 1}/24",
                    "tap.mtu": mtu,
                }
                for i, name in enumerate(names)
            }
            links = [(names[i], names[i + 1], 0) for i in range(hops)]
            self.sim(nodes, links)
            # Only neighbours hear each other: the last OBU is `hops` away.
            last = f"vanet-{names[-1]}"
            wait_ping(last, "10.74.0.1", 60)
            return self.iperf(f"vanet-{names[0]}", last, "10.74.0.1")

    # Table 2 -----------------------------------------------------------------

    def star(self, encryption: bool) -> tuple[str, list[str], str]:
        """Start the recipe's simulation (1 RSU, 5 OBUs, 1 ms links) and
        wait until every OBU reaches the RSU; its node names and API URL."""
        t = tag()
        rsu = f"r{t}"
        obus = [f"o{t}{i}" for i in range(1, 6)]
        security = (
            {"security.encryption": "yes", "security.key_file": str(self.key)}
            if encryption
            else {}
        )
        nodes = {rsu: {"role": "rsu", "tap.address": RECIPE_RSU + "/24", **security}}
        for i, name in enumerate(obus):
            nodes[name] = {
                "role": "obu",
                "tap.address": f"10.73.0.{i + 11}/24",
                **security,
            }
        url = self.sim(nodes, [(rsu, name, 1) for name in obus])
        for name in obus:
            wait_ping(f"vanet-{name}", RECIPE_RSU, 60)
        return rsu, obus, url

    def recipe_ping(self, encryption: bool = False) -> dict:
        """The recipe's ping alone (``--ping-only``)."""
        with self.scope():
            _, obus, _ = self.star(encryption)
            return ping(f"vanet-{obus[0]}", RECIPE_RSU, self.pings)

    def recipe(self, encryption: bool) -> dict:
        with self.scope():
            rsu, obus, _ = self.star(encryption)
            one = iperf(f"vanet-{rsu}", f"vanet-{obus[0]}", RECIPE_RSU, self.seconds)
            pinged = ping(f"vanet-{obus[0]}", RECIPE_RSU, self.pings)
            five = parallel_iperf(
                f"vanet-{rsu}", [f"vanet-{n}" for n in obus], RECIPE_RSU, self.seconds
            )
            return {"one": one, **pinged, "five": five}


def link_drops(namespaces: list[str | None]) -> dict[str, int]:
    """Frames each interface of these namespaces (``None``: ours) dropped,
    received or sent, as ``ip -s link`` counts them; those with none left
    out."""
    drops = {}
    for ns in namespaces:
        argv = ["ip", *(("-n", ns) if ns else ()), "-s", "-j", "link"]
        for link in json.loads(sh(*argv).stdout):
            stats = link.get("stats64", {})
            count = sum(stats.get(k, {}).get("dropped", 0) for k in ("rx", "tx"))
            if count:
                drops[f"{ns or 'sim'}/{link['ifname']}"] = count
    return drops


def five_flows(bench: Bench, runs: int) -> None:
    """``--five-flows``: the recipe's five parallel flows (encryption off)
    ``runs`` times in one simulator, each flow's figure and retransmits, and
    at the end every drop counter on the way: the nodes' (their rings' and
    sockets', from the simulator's ``/api/v1/stats``) and the interfaces'
    (``ip -s link``, the simulator's veth peers and the nodes' TAPs)."""
    print(
        f"five parallel flows, seed recipe (encryption off), {bench.seconds:g} s "
        f"each, {runs} runs in one simulator, TCP congestion control "
        f"{CONGESTION or sh('sysctl', '-n', 'net.ipv4.tcp_congestion_control').stdout.strip()}"
        "; Mbit/s and (retransmits)"
    )
    with bench.scope():
        rsu, obus, url = bench.star(encryption=False)
        spaces = [None] + [f"vanet-{n}" for n in [rsu, *obus]]
        before = link_drops(spaces)
        fairness = []
        for run in range(runs):
            flows = parallel_flows(
                f"vanet-{rsu}", [f"vanet-{n}" for n in obus], RECIPE_RSU, bench.seconds
            )
            mbps = [m for m, _ in flows]
            fairness.append(jain(mbps))
            print(
                f"run {run + 1}: "
                + ", ".join(f"{m:.0f} ({r})" for m, r in flows)
                + f"; sum {sum(mbps):.0f}, min {min(mbps):.0f}, Jain {fairness[-1]:.2f}",
                flush=True,
            )
        after = link_drops(spaces)
        grown = {k: v - before.get(k, 0) for k, v in after.items()}
        print("interface drops:", {k: v for k, v in grown.items() if v} or "none")
        with urllib.request.urlopen(f"{url}/api/v1/stats", timeout=5) as answer:
            stats = json.load(answer)
        print(
            "node drops:",
            {n: stats[n].get("drops") for n in [rsu, *obus] if stats[n].get("drops")}
            or "none",
        )
        fairness.sort()
        print(f"Jain's index: median {fairness[len(fairness) // 2]:.2f}")


def cpu_per_frame(cpu, mbps: float, mtu: int) -> str:
    """``user + system`` CPU µs per frame of ``mtu`` bytes carried."""
    if cpu is None or not mbps:
        return f"{'-':>20}"
    user, system, seconds = cpu
    frames = mbps * 1e6 * seconds / 8 / mtu
    return f"{user / frames * 1e6:11.1f} +{system / frames * 1e6:6.1f}"


def machine_per_frame(machine, mbps: float, mtu: int, seconds: float) -> str:
    """The whole machine's busy CPU µs per frame of ``mtu`` bytes carried,
    and the share of its cores left idle during the flow."""
    if machine is None or not mbps:
        return f"{'-':>20}"
    busy, idle = machine
    frames = mbps * 1e6 * seconds / 8 / mtu
    return f"{busy / frames * 1e6:11.1f} {idle / (busy + idle) * 100:5.0f} %"


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:6.2f}" if reference else "     -"


def _exit_on(signum, frame) -> None:
    raise SystemExit(128 + signum)


def checkout_commit() -> str:
    """The commit of the checkout this script (and the vanet it runs) is in."""
    done = sh("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD", check=False)
    return done.stdout.strip()


def ping_only(bench: Bench, workdir: Path, pings: int) -> int:
    """``--ping-only``: the recipe's ping, one line of figures."""
    commit = checkout_commit()
    try:
        r = bench.recipe_ping()
    except (RuntimeError, subprocess.SubprocessError) as error:
        print(f"recipe ping: {error}", file=sys.stderr)
        print(f"logs kept in {workdir}", file=sys.stderr)
        return 1
    finally:
        bench.close()
    shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"seed recipe ping, commit {commit or '?'}: {pings} pings -i 0.001, "
        f"loss {r['loss'] * 100:.2f} %, p50 {r['p50']:.2f} ms, p90 {r['p90']:.2f} "
        f"ms, p99 {r['p99']:.2f} ms, max {r['max']:.2f} ms (round trip 2 ms)"
    )
    return 0 if r["loss"] < 1 else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s flows")
    parser.add_argument("--seconds", type=float, help="iperf3 run length (default 5)")
    parser.add_argument("--pings", type=int, help="pings in the recipe (default 10000)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run the direct-veth overlay's nodes under cProfile (twistd "
        "--profile) and write their stats to DIR/<role>-<mtu>-<io>.prof; "
        "only that row is run",
    )
    parser.add_argument(
        "--ping-only",
        action="store_true",
        help="only the seed recipe's ping (encryption off; no iperf3 needed): "
        "loss, p50, p90, p99 and max, about 20 s for 10,000 pings",
    )
    parser.add_argument(
        "--five-flows",
        type=int,
        metavar="N",
        help="only the recipe's five parallel flows, N runs in one simulator, "
        "with each flow's retransmits and the drop counters on the way",
    )
    parser.add_argument(
        "--congestion",
        metavar="NAME",
        help="TCP congestion control of every flow (iperf3 -C; default: the system's)",
    )
    parser.add_argument("--forwarder", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.forwarder:
        ns_a, ns_b, mtu = args.forwarder
        forwarder_main(ns_a, ns_b, int(mtu))
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces, TAP devices)", file=sys.stderr)
        return 2
    for tool in ("ip", "ping") if args.ping_only else ("iperf3", "ip", "ping"):
        if shutil.which(tool) is None:
            print(
                f"needs {tool} (apt-get install iperf3 iproute2 iputils-ping)",
                file=sys.stderr,
            )
            return 2
    # The simulator and nodes it starts run this checkout's vanet, not
    # whichever one the environment installed (a branch's worktree).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
    )
    global CONGESTION
    CONGESTION = args.congestion
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    pings = args.pings or (300 if args.quick else 10000)
    # Stopped with SIGTERM or SIGHUP (`timeout`, a closed terminal), the
    # finally blocks below still end the processes and namespaces.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _exit_on)
    workdir = Path(tempfile.mkdtemp(prefix="vanet-bench-dp-"))
    os.chmod(workdir, 0o755)
    bench = Bench(seconds, pings, workdir, args.profile)
    if args.five_flows:
        try:
            five_flows(bench, args.five_flows)
        finally:
            bench.close()
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        try:
            for mtu in MTUS:
                mbps = bench.overlay_veth(mtu)
                print(f"overlay, 1 hop, veth, MTU {mtu}: {mbps:.0f} Mbit/s (profiled)")
        finally:
            bench.close()
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"profiles in {args.profile} (python -m pstats FILE)")
        return 0
    if args.ping_only:
        return ping_only(bench, workdir, pings)
    failed = False
    try:
        commit = checkout_commit()
        print(
            f"bench_dataplane: commit {commit or '?'}, iperf3 TCP {seconds:g} s a flow"
            ", receiver side, Mbit/s; ratio = overlay / forwarder"
        )
        print()
        print(
            f"{'path':<28}"
            + "".join(f"{'MTU ' + str(m):>12}{'ratio':>8}" for m in MTUS)
        )
        rows = [
            ("bare veth pair", bench.veth),
            ("Python TAP forwarder", bench.forwarder),
            ("overlay, 1 hop, veth", bench.overlay_veth),
            ("  the same, io = socket", lambda m: bench.overlay_veth(m, "socket")),
            ("vanet-sim netns, 1 hop", lambda m: bench.sim_chain(m, 1)),
            ("vanet-sim netns, 3 hops", lambda m: bench.sim_chain(m, 3)),
        ]
        reference: dict[int, float] = {}
        cpu_rows = []
        relay_rows = []
        machine_rows = []
        for index, (label, run) in enumerate(rows):
            cells = []
            cpu_cells = []
            relay_cells = []
            machine_cells = []
            for mtu in MTUS:
                bench.cpu = bench.relay_cpu = bench.machine = None
                try:
                    value = run(mtu)
                except (RuntimeError, subprocess.SubprocessError) as error:
                    print(f"  {label} at MTU {mtu}: {error}", file=sys.stderr)
                    value, failed = 0.0, True
                if index == 1:
                    reference[mtu] = value
                shown = ratio(value, reference.get(mtu, 0)) if index >= 2 else "      "
                cells.append(f"{value:12.0f}  {shown}")
                cpu_cells.append(cpu_per_frame(bench.cpu, value, mtu))
                relay_cells.append(cpu_per_frame(bench.relay_cpu, value, mtu))
                machine_cells.append(
                    machine_per_frame(bench.machine, value, mtu, bench.seconds)
                )
            print(f"{label:<28}" + "".join(cells), flush=True)
            if index >= 1:
                cpu_rows.append(f"{'cpu ' + label.strip():<28}" + "".join(cpu_cells))
            if label.startswith("vanet-sim"):
                relay_rows.append(
                    f"{'relay ' + label.strip()[10:]:<28}" + "".join(relay_cells)
                )
            machine_rows.append(
                f"{'all ' + label.strip():<28}" + "".join(machine_cells)
            )
        print()
        print(
            "CPU of our processes (forwarder; nodes; simulator and its nodes) "
            "during the flow, us a TAP-MTU frame carried: user + system"
        )
        print(f"{'path':<28}" + "".join(f"{'MTU ' + str(m):>20}" for m in MTUS))
        for line in cpu_rows:
            print(line)
        print("of which the simulator's own process (the relay), the same:")
        for line in relay_rows:
            print(line)
        print()
        print(
            "The whole machine during the flow (every process, iperf3 and the "
            "kernel's softirq work): busy CPU us a frame, and idle share of "
            f"its {os.cpu_count()} cores"
        )
        print(f"{'path':<28}" + "".join(f"{'MTU ' + str(m):>20}" for m in MTUS))
        for line in machine_rows:
            print(line)
        print()
        print(
            "seed recipe: vanet-sim netns, 1 RSU + 5 OBUs (star), 1 ms links "
            "(round trip 2 ms), TAP MTU 1436"
        )
        print(
            f"{'encryption':<12}{'1 flow':>9}{'ping loss':>11}{'p50 ms':>8}"
            f"{'p99 ms':>8}{'5 flows sum':>13}{'min':>7}{'Jain':>7}"
        )
        results = {}
        for encryption in (False, True):
            try:
                r = bench.recipe(encryption)
            except (RuntimeError, subprocess.SubprocessError) as error:
                print(f"  recipe, encryption {encryption}: {error}", file=sys.stderr)
                failed = True
                continue
            results[encryption] = r
            print(
                f"{'on' if encryption else 'off':<12}{r['one']:9.0f}"
                f"{r['loss'] * 100:10.2f}%{r['p50']:8.2f}{r['p99']:8.2f}"
                f"{sum(r['five']):13.0f}{min(r['five']):7.0f}{jain(r['five']):7.2f}",
                flush=True,
            )
            print(
                f"{'':<12}5 flows, each: "
                + ", ".join(f"{flow:.0f}" for flow in r["five"]),
                flush=True,
            )
        if len(results) == 2 and results[False]["one"] and sum(results[False]["five"]):
            on, off = results[True], results[False]
            print(
                f"encryption on / off: 1 flow {on['one'] / off['one']:.2f}, "
                f"5 flows {sum(on['five']) / sum(off['five']):.2f}"
            )
        print(
            f"(pings: {pings} at 1 ms intervals; median of nothing: one run each, "
            "figures are noisy on a shared machine)"
        )
    finally:
        bench.close()
        if failed:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
