"""``vanet-sim`` and ``twistd vanet-sim``, as a user runs them."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from vanet.sim.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
# The embedded default: examples/moving-highway.ini
HIGHWAY_NODES = [
    "rsu-west",
    "rsu-mid",
    "rsu-east",
    *(f"obu{i}" for i in range(1, 13)),
]
HIGHWAY_FLOWS = ["obu1-to-rsu-mid", "rsu-west-to-obu11", "obu6-to-obu5"]


def run_main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exit:  # argparse errors
            status = exit.code
    return status, out.getvalue(), err.getvalue()


class TmpDir:
    def tmp(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="vanet-sim-cli-")).resolve()
        self.addCleanup(shutil.rmtree, path, ignore_errors=True)
        return path


class CliTests(TmpDir, SynchronousTestCase):
    def test_embedded_default_prints_nodes_and_traffic(self) -> None:
        status, out, err = run_main("--duration", "8")
        self.assertEqual(status, 0, err)
        nodes, _, traffic = out.partition("\nTraffic\n")
        self.assertTrue(nodes.startswith("Nodes\n"), out)
        lines = nodes.splitlines()
        header = lines[1].split()
        self.assertEqual(
            header,
            "NODE ROLE MAC GATEWAY UPSTREAM HOPS RTT_MS X_M SPEED HANDOVERS".split(),
        )
        self.assertTrue(lines[-1].startswith("RTT_MS: round trip via the gateway RSU"))
        rows = {
            line.split()[0]: dict(zip(header, line.split())) for line in lines[2:-1]
        }
        self.assertEqual(set(rows), set(HIGHWAY_NODES))
        for name in HIGHWAY_NODES:
            row = rows[name]
            if name.startswith("rsu"):
                self.assertEqual((row["ROLE"], row["SPEED"]), ("rsu", "0.00"))
                continue
            self.assertEqual(row["ROLE"], "obu")
            # on the road, moving at a desired speed of 25-33 m/s
            self.assertTrue(0 <= float(row["X_M"]) <= 3000, row)
            self.assertTrue(20 <= float(row["SPEED"]) <= 33, row)
            # the upstream column names a node; a round trip is measured
            self.assertIn(row["UPSTREAM"], HIGHWAY_NODES, row)
            self.assertGreater(float(row["RTT_MS"]), 0, row)
            self.assertIn(row["GATEWAY"], ("rsu-west", "rsu-mid", "rsu-east"))
        lines = {line.split()[0]: line.split() for line in traffic.splitlines()[1:]}
        for flow in HIGHWAY_FLOWS:
            sent, received, delivery = lines[flow][1:4]
            self.assertGreater(int(sent), 0, flow)
            self.assertRegex(delivery, r"^\d+\.\d%$")
            share = 100 * int(received) / int(sent)
            self.assertLess(abs(float(delivery[:-1]) - share), 0.06, (delivery, share))
        total = re.search(r"^total: (\d+)/(\d+) delivered \(([\d.]+)%\)$", out, re.M)
        self.assertIsNotNone(total, out)

    def test_the_default_run_moves_and_hands_over(self) -> None:
        status, out, err = run_main("--json")
        self.assertEqual(status, 0, err)
        report = json.loads(out)
        info = {entry["name"]: entry for entry in report["node_info"]}
        self.assertEqual(set(info), set(HIGHWAY_NODES))
        self.assertEqual(set(report["flows"]), set(HIGHWAY_FLOWS))
        vehicles = [info[name] for name in HIGHWAY_NODES if name.startswith("obu")]
        # 60 s at 25-33 m/s from the first 660 m of the road
        for vehicle in vehicles:
            self.assertGreater(vehicle["position"]["x"], 1400, vehicle)
        self.assertGreaterEqual(
            sum(1 for vehicle in vehicles if vehicle["handovers"]), 10
        )
        # a flow is delivered while its ends share a gateway: not always,
        # but for most of the run
        for name, flow in report["flows"].items():
            self.assertGreater(flow["delivery_ratio"], 0.3, name)

    def test_a_config_file_with_overrides(self) -> None:
        status, out, err = run_main(
            "--config",
            str(EXAMPLES / "chain.ini"),
            "--clock",
            "virtual",
            "--duration",
            "4",
            "--json",
        )
        self.assertEqual(status, 0, err)
        info = {entry["name"]: entry for entry in json.loads(out)["node_info"]}
        self.assertEqual(info["obu2"]["upstream"]["node"], "obu1")

    def check_one_line_error(self, text: str, *expected: str) -> None:
        folder = self.tmp()
        path = folder / "sim.ini"
        path.write_text(textwrap.dedent(text))
        status, out, err = run_main("--config", str(path))
        self.assertEqual(status, 2)
        self.assertEqual(out, "")
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertIn(str(path), lines[0])
        for part in expected:
            self.assertIn(part, lines[0])

    def test_bad_link_value(self) -> None:
        self.check_one_line_error(
            """\
            [sim]
            clock = virtual
            duration_s = 5
            [node:a]
            role = rsu
            [node:b]
            role = obu
            [link:a<>b]
            loss = 1.5
            """,
            "[link:a<>b]",
            "loss",
        )

    def test_bad_node_key(self) -> None:
        self.check_one_line_error(
            """\
            [sim]
            clock = virtual
            duration_s = 5
            [node:a]
            role = rsu
            routing.hello_period_ms = fast
            """,
            "[node:a]",
            "hello_period_ms",
            "fast",
        )

    def test_bad_sim_key(self) -> None:
        self.check_one_line_error(
            """\
            [sim]
            clock = sometimes
            [node:a]
            role = rsu
            """,
            "[sim]",
            "clock",
        )

    def test_missing_file(self) -> None:
        missing = self.tmp() / "nowhere.ini"
        status, out, err = run_main("--config", str(missing))
        self.assertEqual(status, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn(str(missing), err)

    def test_bad_duration(self) -> None:
        for value in ("-1", "0", "soon"):
            status, out, err = run_main("--duration", value)
            self.assertEqual(status, 2, value)
            self.assertIn("--duration", err)


class TwistdTests(TmpDir, SynchronousTestCase):
    def twistd(self, *args: str) -> subprocess.CompletedProcess:
        cwd = self.tmp()
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "from twisted.scripts.twistd import run; run()",
                "-n",
                "--pidfile=",
                "vanet-sim",
                *args,
            ],
            cwd=cwd,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_chain_runs_and_stops(self) -> None:
        result = self.twistd(
            "--config",
            str(EXAMPLES / "chain.ini"),
            "--http",
            "tcp:0",
            "--duration",
            "3",
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        log = result.stdout + result.stderr
        for line in (
            "RSU rsu started",
            "OBU obu1 started",
            "OBU obu2 started",
        ):
            self.assertIn(line, log)
        self.assertRegex(log, r"Site starting on \d+")
        self.assertIn("Main loop terminated", log)
        self.assertNotIn("Traceback", log)

    def test_traffic_is_reported_when_the_run_ends(self) -> None:
        folder = self.tmp()
        path = folder / "chain-traffic.ini"
        path.write_text(
            (EXAMPLES / "chain.ini").read_text()
            + "\n[traffic:up]\nfrom = obu2\nto = rsu\nrate_per_s = 20\n"
        )
        result = self.twistd("--config", str(path), "--http", "none", "--duration", "4")
        log = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, log)
        # Traffic starts after 2.5 heartbeat periods and stops 0.4 s before
        # the end, so that nothing is still in flight.
        match = re.search(r"traffic up: (\d+)/(\d+) delivered", log)
        self.assertIsNotNone(match, log)
        received, sent = int(match.group(1)), int(match.group(2))
        self.assertGreater(sent, 10)
        self.assertEqual(received, sent)

    def test_bad_node_key_is_one_line(self) -> None:
        folder = self.tmp()
        path = folder / "bad.ini"
        path.write_text("[node:a]\nrole = rsu\nrouting.hello_period_ms = fast\n")
        result = self.twistd("--config", str(path), "--http", "none", "--duration", "1")
        self.assertNotEqual(result.returncode, 0)
        log = result.stdout + result.stderr
        self.assertNotIn("Traceback", log)
        self.assertIn(f"vanet-sim: {path}: [node:a]", log)
        self.assertIn("hello_period_ms", log)
