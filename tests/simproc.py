"""``vanet-sim`` running examples/highway.ini (or another topology file)
in real time in a child process, with its HTTP API on a free loopback
port, for tests that watch it from outside (the browser, the terminal
dashboard)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.browser import eventually, get_json

ROOT = Path(__file__).resolve().parent.parent
HIGHWAY = ROOT / "examples" / "highway.ini"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sim_argv(config: Path, port: int, *extra: str) -> list[str]:
    """The command that runs ``vanet-sim`` on ``config`` with its HTTP API
    on loopback ``port``."""
    return [
        sys.executable,
        "-m",
        "vanet.sim.cli",
        "--config",
        str(config),
        "--http",
        f"tcp:{port}:interface=127.0.0.1",
        *extra,
    ]


class Running:
    """The simulation; ``wait_routed()`` waits until every vehicle has an
    upstream, ``stop()`` ends it and returns its output."""

    def __init__(self, config: Path = HIGHWAY) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            sim_argv(config, self.port),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str):
        return get_json(f"{self.url}/api/v1/{path}")

    def upstreams(self) -> dict[str, str | None]:
        return {
            node["name"]: node["upstream"]["node"] if node["upstream"] else None
            for node in self.api("node_info")
            if node["role"] == "obu"
        }

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out.decode(errors="replace")


def start_routed() -> Running:
    """A running highway whose vehicles all have an upstream (stopped on
    failure)."""
    running = Running()

    def every_vehicle_routed():
        assert running.process.poll() is None, running.stop()
        try:
            return all(running.upstreams().values())
        except OSError:
            return False

    try:
        eventually(every_vehicle_routed, timeout=20, interval=0.3)
    except BaseException:
        running.stop()
        raise
    return running
