"""After an OBU restarts, hosts behind the RSU reach its TAP at once
(issue 9, item 10): the TAP's MAC is derived from the node's name, so their
ARP entries stay right, and when ``[tap] mac`` changes the node's
gratuitous ARP corrects them. Real ``twistd`` nodes, an RSU and an OBU, in
namespaces joined on one segment (as in test_twistd_netns)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from twisted.trial.unittest import SynchronousTestCase

from tests import netns
from tests.test_twistd_netns import (
    PERIOD_MS,
    TAP_ADDRESSES,
    ip_of,
    start_node,
    wait_converged,
)
from vanet.mac import format_mac, stable_tap_mac

OBU_TAP = ip_of(TAP_ADDRESSES["obu1"])
DEADLINE_S = 2 * PERIOD_MS / 1000  # two heartbeat periods


def first_reply_after(ns: str, address: str, timeout: float = 10) -> float:
    """Seconds until ``ping`` from ``ns`` gets its first reply (probes every
    20 ms, so the answer is within that of the truth)."""
    started = time.monotonic()
    result = netns.run_in(
        ns, ["ping", "-n", "-c", "1", "-i", "0.02", "-w", str(timeout), address]
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise AssertionError(f"no reply from {address} in {timeout}s:\n{result.stdout}")
    return elapsed


def neighbour_mac(ns: str, address: str) -> str | None:
    """The MAC ``ns``'s ARP cache holds for ``address``."""
    result = netns.run_in(ns, ["ip", "-4", "neigh", "show", address])
    fields = result.stdout.split()
    return fields[fields.index("lladdr") + 1] if "lladdr" in fields else None


class TapRestartTests(SynchronousTestCase):
    def setUp(self) -> None:
        netns.skip_unless_root_netns()
        netns.skip_unless_tun()
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.segment = netns.use(self, netns.segment(("rsu", "obu1")))
        self.nodes = {
            name: self.start(name, "rsu" if name == "rsu" else "obu")
            for name in ("rsu", "obu1")
        }
        wait_converged(self.nodes)
        self.rsu_ns = self.segment.namespaces["rsu"]
        # The RSU's host learns the OBU's TAP MAC, as a host that talks to it does.
        first_reply_after(self.rsu_ns, OBU_TAP)

    def start(self, name: str, role: str, extra=None):
        return start_node(
            self,
            self.workdir,
            self.segment.namespaces[name],
            self.segment.interfaces[name],
            role,
            name,
            "packet",
            TAP_ADDRESSES[name],
            extra,
        )

    def restart_obu(self, extra=None) -> None:
        old = self.nodes["obu1"]
        os.killpg(old.process.pid, signal.SIGTERM)
        try:
            old.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(old.process.pid, signal.SIGKILL)
            old.process.wait(10)
        self.assertFalse(
            netns.link_exists("vtap0", self.segment.namespaces["obu1"]),
            "the stopped OBU's TAP is gone",
        )
        self.nodes["obu1"] = self.start("obu1", "obu", extra)

    def obu_tap_mac(self) -> str:
        return netns.link_info("vtap0", self.segment.namespaces["obu1"]).mac

    def test_same_tap_mac_after_a_restart_and_pings_answer_at_once(self):
        before = self.obu_tap_mac()
        self.assertEqual(before, format_mac(stable_tap_mac("obu1")))
        self.restart_obu()
        self.assertEqual(self.obu_tap_mac(), before)
        elapsed = first_reply_after(self.rsu_ns, OBU_TAP)
        self.assertLessEqual(
            elapsed,
            DEADLINE_S,
            f"first reply {elapsed:.2f}s after the OBU was back; "
            f"{self.nodes['obu1'].log_tail()}",
        )

    def test_a_new_tap_mac_is_announced(self):
        self.assertEqual(
            neighbour_mac(self.rsu_ns, OBU_TAP), format_mac(stable_tap_mac("obu1"))
        )
        new_mac = "02:00:5e:aa:bb:01"
        self.restart_obu({"tap": {"mac": new_mac}})
        self.assertEqual(self.obu_tap_mac(), new_mac)
        # The RSU's host hears the OBU's gratuitous ARP, without asking.
        netns.wait_for(
            lambda: neighbour_mac(self.rsu_ns, OBU_TAP) == new_mac,
            DEADLINE_S,
            "the RSU's host to learn the new MAC from the announcement",
            interval=0.02,
        )
        self.assertLessEqual(first_reply_after(self.rsu_ns, OBU_TAP), DEADLINE_S)
