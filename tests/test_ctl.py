"""vanetctl against a control endpoint: tables, --json, and a clear error
when nothing answers."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
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


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path != "/status":
            self.send_error(404)
            return
        body = json.dumps(STATUS).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class VanetctlTests(SynchronousTestCase):
    def setUp(self) -> None:
        server = HTTPServer(("127.0.0.1", 0), _Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def run_ctl(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = ctl.main(["--url", self.url, *argv])
        return code, out.getvalue(), err.getvalue()

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
