"""``twistd vanet-obu|vanet-rsu`` as a user runs it: the plugins are listed,
and each kind of configuration error exits non-zero with one clear line on
stderr naming the file, the section and the key (issue 4)."""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")

GOOD = """\
[node]
name = obu1
[link]
transport = udp
interface = lo
[routing]
strategy = latency
hello_period_ms = 200
"""


def twistd(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TWISTD, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


class PluginListTests(SynchronousTestCase):
    def test_twistd_lists_both_plugins(self):
        result = twistd("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("vanet-rsu", result.stdout)
        self.assertIn("vanet-obu", result.stdout)

    def test_plugin_help_documents_every_key(self):
        from vanet.node.config import SCHEMA, option_name

        result = twistd("vanet-obu", "--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for section, keys in SCHEMA.items():
            for key in keys:
                self.assertIn(f"--{option_name(section, key)}", result.stdout)


class ConfigErrorTests(SynchronousTestCase):
    """Each test writes one broken file and checks the one-line message."""

    def setUp(self) -> None:
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)

    def write(self, text: str, name: str = "bad.ini") -> str:
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def fails_with(self, path: str, *fragments: str, role: str = "obu") -> str:
        result = twistd(f"vanet-{role}", "--config", path, cwd=self.dir)
        self.assertNotEqual(result.returncode, 0, "twistd accepted a bad config")
        lines = result.stderr.strip().splitlines()
        self.assertEqual(
            len(lines), 1, f"want one line on stderr, got:\n{result.stderr}"
        )
        self.assertNotIn("Traceback", result.stderr)
        self.assertNotIn("Usage:", result.stdout + result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        return lines[0]

    def test_unknown_section(self):
        path = self.write(GOOD + "[radio]\npower = 3\n")
        line = self.fails_with(path, path, "[radio]")
        self.assertIn("node, link, tap, routing, security, control", line)

    def test_unknown_key(self):
        path = self.write(GOOD.replace("[tap]", "") + "[tap]\ncolour = blue\n")
        line = self.fails_with(path, path, "[tap]", "colour")
        self.assertIn("name, address, mtu", line)

    def test_bad_value(self):
        path = self.write(
            GOOD.replace("hello_period_ms = 200", "hello_period_ms = soon")
        )
        self.fails_with(
            path, path, "[routing]", "hello_period_ms", "'soon'", "whole number"
        )

    def test_bad_value_on_the_command_line(self):
        path = self.write(GOOD)
        result = twistd("vanet-obu", "--config", path, "--tap-mtu", "12", cwd=self.dir)
        self.assertNotEqual(result.returncode, 0)
        line = result.stderr.strip()
        self.assertEqual(len(line.splitlines()), 1, result.stderr)
        self.assertIn("[tap] mtu = '12'", line)
        self.assertIn("576", line)

    def test_missing_required_key(self):
        path = self.write(GOOD.replace("name = obu1\n", ""))
        self.fails_with(path, path, "[node]", "name", "missing")

    def test_missing_interface_for_packet(self):
        path = self.write(
            GOOD.replace("transport = udp", "transport = packet").replace(
                "interface = lo\n", ""
            )
        )
        self.fails_with(path, path, "[link]", "interface", "packet")

    def test_missing_file(self):
        path = os.path.join(self.dir, "absent.ini")
        self.fails_with(path, path, "cannot read", "No such file")

    def test_unknown_strategy_lists_the_available_ones(self):
        path = self.write(GOOD.replace("strategy = latency", "strategy = fastest"))
        self.fails_with(
            path, path, "[routing]", "strategy", "'fastest'", "latency", "hops"
        )

    def test_key_file_readable_by_others(self):
        key = os.path.join(self.dir, "vanet.key")
        with open(key, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(key, 0o644)
        path = self.write(GOOD + "[security]\nencryption = yes\nkey_file = vanet.key\n")
        self.fails_with(path, path, "[security]", "key_file", "0644", "chmod 600")

    def test_encryption_without_key_file(self):
        path = self.write(GOOD + "[security]\nencryption = yes\n", "nokey.ini")
        self.fails_with(path, path, "[security]", "key_file", "missing", role="rsu")
