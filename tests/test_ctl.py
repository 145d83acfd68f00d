"""vanetctl against a control endpoint: tables, --json, and a clear error
when nothing answers."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer

from twisted.trial.unittest import SynchronousTestCase

from vanet import ctl

STATUS = {
    "role": "rsu",
    "name": "rsu1",
    "mac": "02:00:00:00:00:01",
    "strategy": "latency",
    "routes": {
        "02:00:00:00:00:11": {
            "next_hop": "02:00:00:00:00:11",
            "hops": 1,
            "latency_ms": 0.5,
        },
        "02:00:00:00:00:12": {
            "next_hop": "02:00:00:00:00:11",
            "hops": 2,
            "latency_ms": 1.25,
        },
    },
    "neighbours": {"02:00:00:00:00:11": 0.1},
    "clients": {},
    "counters": {"frames_in": 7},
    "drops": {"malformed": 2},
}


def serve_status(testcase, status: dict | Callable[[], dict]) -> str:
    """A control endpoint on 127.0.0.1 answering ``/status`` with
    ``status`` (or what ``status()`` returns at each request) until the
    test ends (``testcase.addCleanup``); its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path != "/status":
                self.send_error(404)
                return
            body = json.dumps(status() if callable(status) else status).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    testcase.addCleanup(thread.join, 5)
    testcase.addCleanup(server.server_close)
    testcase.addCleanup(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}"


def run_ctl(url: str, *argv: str) -> tuple[int, str, str]:
    """``vanetctl --url URL ARGV...``: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = ctl.main(["--url", url, *argv])
    return code, out.getvalue(), err.getvalue()


class VanetctlTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.url = serve_status(self, STATUS)

    def run_ctl(self, *argv: str) -> tuple[int, str, str]:
        return run_ctl(self.url, *argv)

    def test_routes_table_is_aligned(self):
        code, out, _ = self.run_ctl("routes")
        self.assertEqual(code, 0)
        lines = out.strip().splitlines()
        self.assertEqual(len(lines), 3)
        header = lines[0]
        self.assertTrue(header.startswith("TARGET"))
        hops_column = header.index("HOPS")
        self.assertEqual(lines[1][hops_column], "1")
        self.assertEqual(lines[2][hops_column], "2")
        self.assertIn("02:00:00:00:00:12", lines[2])

    def test_json_routes(self):
        code, out, _ = self.run_ctl("--json", "routes")
        self.assertEqual(code, 0)
        self.assertEqual(json.loads(out), STATUS["routes"])

    def test_stats_show_drops(self):
        code, out, _ = self.run_ctl("stats")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"drop:malformed\s+2")

    def test_nothing_listening_is_one_line_and_exit_1(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"  # closed again: nobody listens
        code, out, err = self.run_ctl("status")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn(f"cannot read {self.url}/status", err)


OBU_STATUS = {
    "role": "obu",
    "name": "obu1",
    "mac": "02:00:00:00:00:11",
    "strategy": "latency",
    "gateway": "02:00:00:00:00:01",
    "upstream": "02:00:00:00:00:01",
    "candidates": [
        {
            "target": "02:00:00:00:00:01",
            "next_hop": "02:00:00:00:00:01",
            "hops": 1,
            "min_ms": 0.0,
            "avg_ms": 0.0,
            "score": 0.0,
            "samples": 4,
        },
        {
            "target": "02:00:00:00:00:01",
            "next_hop": "02:00:00:00:00:12",
            "hops": 3,
            "min_ms": 4.5,
            "avg_ms": 5.0,
            "score": 9.5,
            "samples": 4,
        },
    ],
}


class LabelTests(SynchronousTestCase):
    """Milliseconds say what they measure (docs/protocol.md §4)."""

    def test_routes_show_round_trips(self):
        code, out, _ = run_ctl(serve_status(self, STATUS), "routes")
        self.assertEqual(code, 0)
        header, *rows = out.splitlines()
        self.assertEqual(header.split()[3], "RTT_MS")
        self.assertNotIn("LATENCY", header)
        self.assertEqual(rows[1].split()[3], "1.25")

    def test_obu_candidates_show_lag_behind_the_fastest(self):
        code, out, _ = run_ctl(serve_status(self, OBU_STATUS), "status")
        self.assertEqual(code, 0)
        summary, _, candidates = out.partition("\ncandidates\n")
        self.assertRegex(summary, r"upstream\s+02:00:00:00:00:01")
        header, *rows = candidates.splitlines()
        self.assertIn("LAG_MS", header.split())
        column = header.split().index("LAG_MS")
        self.assertEqual([row.split()[column] for row in rows], ["0.00", "4.50"])

    def test_help_says_what_rtt_ms_is(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit):
            ctl.main(["--help"])
        text = " ".join(out.getvalue().split())
        self.assertIn("RTT_MS (routes): the round trip", text)
        self.assertIn("round trip via its gateway RSU", text)
