"""A node whose devices cannot be opened stops with one line naming the
config file, section and key and the system's reason, and a non-zero exit
status, not a traceback (issue 9, item 10). Each test runs a real ``twistd
-n --pidfile= vanet-obu --config X``."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from twisted.trial.unittest import SynchronousTestCase

from tests import netns

TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")

# Holds a TAP open, as a running node would, until killed.
HOLD_TAP = """
import sys, time
from vanet.tap.linux import LinuxTap
LinuxTap.open(sys.argv[1], address=None)
print("holding", flush=True)
time.sleep(600)
"""


def node_ini(**sections: dict[str, str]) -> str:
    sections.setdefault("node", {"name": "obu1"})
    sections.setdefault("control", {"listen": "none"})
    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())
        for name, keys in sections.items()
    )


class DeviceErrorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)

    def run_node(self, ini: str, ns: str | None = None) -> tuple[str, str, int]:
        """(config path, all output, exit status) of one twistd run."""
        path = os.path.join(self.dir, "obu.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(ini)
        argv = [TWISTD, "-n", "--pidfile=", "vanet-obu", "--config", path]
        if ns is not None:
            result = netns.run_in(ns, argv, cwd=self.dir)
        else:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=60,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
            )
        return path, result.stdout + result.stderr, result.returncode

    def assertOneLine(self, run, key: str, *fragments: str) -> str:
        """The run failed with exactly one line naming the file and ``key``
        (``[section] key``) and every fragment, and no traceback."""
        path, output, status = run
        self.assertNotEqual(status, 0, f"twistd did not fail:\n{output}")
        self.assertNotIn("Traceback", output)
        lines = [line for line in output.splitlines() if key in line]
        self.assertEqual(len(lines), 1, f"want one line naming {key}:\n{output}")
        for fragment in (path, *fragments):
            self.assertIn(fragment, lines[0])
        # Only twistd's two start-up lines may come before it.
        self.assertLessEqual(len(output.strip().splitlines()), 3, output)
        return lines[0]

    def test_memory_transport(self):
        run = self.run_node(node_ini(link={"transport": "memory"}))
        self.assertOneLine(run, "[link] transport = memory", "packet or udp")

    def test_udp_interface_that_does_not_exist(self):
        name = netns.unique_name("vtnone")
        run = self.run_node(node_ini(link={"transport": "udp", "interface": name}))
        self.assertOneLine(run, f"[link] interface = {name}", "no interface named")

    def test_packet_interface_that_does_not_exist(self):
        if os.geteuid() != 0:
            raise self.skipTest("needs root to open an AF_PACKET socket")
        name = netns.unique_name("vtnone")
        run = self.run_node(node_ini(link={"transport": "packet", "interface": name}))
        self.assertOneLine(run, f"[link] interface = {name}", "No such device")

    def namespace_with_link(self) -> tuple[str, str, str]:
        """A namespace with a veth pair in it: (namespace, link, other end)."""
        netns.skip_unless_root_netns()
        netns.skip_unless_tun()
        ns = netns.use(self, netns.namespace("vtdev"))
        link, other = netns.use(self, netns.veth_pair(ns, ns))
        return ns, link, other

    def test_tap_name_taken_by_another_kind_of_device(self):
        ns, link, other = self.namespace_with_link()
        run = self.run_node(node_ini(link={"interface": link}, tap={"name": other}), ns)
        self.assertOneLine(
            run, f"[tap] name = {other}", "Invalid argument", "another kind"
        )

    def test_tap_held_by_another_process(self):
        ns, link, _other = self.namespace_with_link()
        tap = netns.unique_name("vttap")
        log = os.path.join(self.dir, "holder.log")
        holder = netns.use(
            self, netns.process_in(ns, [sys.executable, "-c", HOLD_TAP, tap], log)
        )
        netns.wait_for(
            lambda: netns.link_exists(tap, ns) or holder.poll() is not None,
            15,
            "the holder to open the TAP",
        )
        self.assertIsNone(holder.poll(), open(log).read())
        run = self.run_node(node_ini(link={"interface": link}, tap={"name": tap}), ns)
        self.assertOneLine(
            run, f"[tap] name = {tap}", "busy", "another process has that TAP open"
        )
        # The failed node left the holder's TAP alone.
        time.sleep(0.1)
        self.assertTrue(netns.link_exists(tap, ns))
