"""Throughput through the overlay vs a bare veth pair (needs root).

    sudo python benchmarks/bench_netns_throughput.py [--seconds 5] [--repeat 3]

1. Overlay: ``vanet-sim`` in netns mode, one hop RSU - OBU, no loss, no
   delay; ``iperf3`` TCP from the OBU's namespace to the RSU's TAP address,
   so every segment goes TAP -> twistd OBU -> veth -> the simulator's relay
   (channel model) -> veth -> twistd RSU -> TAP, and the ACKs back.
2. Ceiling: ``iperf3`` TCP over a direct veth pair between two namespaces.

Both run in one invocation, alternating, ``--repeat`` times each; it prints
the medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def iperf(server_ns: str, client_ns: str, address: str, seconds: float) -> float:
    """Receiver-side TCP throughput in Gbit/s."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-B", address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        result = sh(
            "ip",
            "netns",
            "exec",
            client_ns,
            "iperf3",
            "-c",
            address,
            "-t",
            str(seconds),
            "-J",
        )
        report = json.loads(result.stdout)
        return report["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        server.kill()
        server.wait()


class Ceiling:
    """Two namespaces joined by one veth pair."""

    def __init__(self) -> None:
        tag = secrets.token_hex(2)
        self.a, self.b = f"vbench-a{tag}", f"vbench-b{tag}"
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        sh(
            "ip",
            "link",
            "add",
            f"vba{tag}",
            "netns",
            self.a,
            "type",
            "veth",
            "peer",
            "name",
            f"vbb{tag}",
            "netns",
            self.b,
        )
        for ns, dev, address in (
            (self.a, f"vba{tag}", "10.79.0.1/24"),
            (self.b, f"vbb{tag}", "10.79.0.2/24"),
        ):
            sh("ip", "-n", ns, "addr", "add", address, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def measure(self, seconds: float) -> float:
        return iperf(self.a, self.b, "10.79.0.1", seconds)

    def close(self) -> None:
        sh("ip", "netns", "del", self.a, check=False)
        sh("ip", "netns", "del", self.b, check=False)


class Overlay:
    """``vanet-sim`` netns mode, RSU - OBU, one hop."""

    def __init__(self, workdir: Path) -> None:
        tag = secrets.token_hex(2)
        self.rsu, self.obu = f"brsu{tag}", f"bobu{tag}"
        config = workdir / "one-hop.ini"
        config.write_text(
            "[sim]\nmode = netns\nseed = 1\n\n"
            f"[node:{self.rsu}]\nrole = rsu\nrouting.hello_period_ms = 1000\ntap.address = 10.78.0.1/24\n\n"
            f"[node:{self.obu}]\nrole = obu\nrouting.hello_period_ms = 1000\ntap.address = 10.78.0.2/24\n\n"
            f"[link:{self.rsu}<>{self.obu}]\nlatency_ms = 0\n"
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = open(workdir / "sim.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vanet.sim.cli",
                "--config",
                str(config),
                "--http",
                f"tcp:{self.port}:interface=127.0.0.1",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/api/v1/node_info", timeout=2
                ) as r:
                    info = {n["name"]: n for n in json.load(r)}
                if info[self.obu].get("upstream"):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.close()
        raise SystemExit("the overlay did not converge in 30 s; see the simulator log")

    def measure(self, seconds: float) -> float:
        return iperf(f"vanet-{self.rsu}", f"vanet-{self.obu}", "10.78.0.1", seconds)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="iperf3 run length")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    for tool in ("iperf3", "ip"):
        if sh("which", tool, check=False).returncode:
            print(f"needs {tool} (apt-get install iperf3 iproute2)", file=sys.stderr)
            return 2
    workdir = Path(tempfile.mkdtemp(prefix="vanet-bench-"))
    ceiling = Ceiling()
    overlay = None
    try:
        overlay = Overlay(workdir)
        overlay_runs, ceiling_runs = [], []
        for _ in range(args.repeat):
            overlay_runs.append(overlay.measure(args.seconds))
            ceiling_runs.append(ceiling.measure(args.seconds))
        o, c = statistics.median(overlay_runs), statistics.median(ceiling_runs)
        print(f"iperf3 TCP, {args.seconds:.0f} s runs, median of {args.repeat}")
        print(
            f"overlay (RSU-OBU one hop, netns):  {o * 1000:8.1f} Mbit/s   runs: {', '.join(f'{x * 1000:.0f}' for x in overlay_runs)}"
        )
        print(
            f"ceiling (bare veth pair):          {c * 1000:8.1f} Mbit/s   runs: {', '.join(f'{x * 1000:.0f}' for x in ceiling_runs)}"
        )
        print(f"overlay / ceiling:                 {o / c:8.4f}  ({c / o:.0f}x slower)")
    finally:
        if overlay is not None:
            overlay.close()
        ceiling.close()
        subprocess.run(["rm", "-rf", str(workdir)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
