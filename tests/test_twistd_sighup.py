"""SIGHUP re-reads the trust file of a running ``twistd -n vanet-rsu``
(issue 10, item 3): a good new file is taken and logged with its key
count; a bad one is logged naming the line, and the node keeps the keys it
had and keeps running. A real process in its own network namespace (udp
transport), as a user would run it."""

from __future__ import annotations

import os
import signal

from twisted.trial.unittest import SynchronousTestCase

from tests import netns
from tests.test_twistd_netns import LINK_ADDRESSES, start_node
from vanet.identity import Identity, trust_line

MACS = [bytes.fromhex(f"0200000000{i:02x}") for i in range(1, 4)]


class SighupTests(SynchronousTestCase):
    def test_sighup_reloads_the_trust_file(self):
        netns.skip_unless_root_netns()
        netns.skip_unless_tun()
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        identities = [Identity.generate() for _ in MACS]
        key = os.path.join(workdir, "rsu.key")
        with open(key, "wb") as f:
            f.write(identities[0].private_pem())
        os.chmod(key, 0o600)
        trust = os.path.join(workdir, "trust")

        def write_trust(count: int, extra: str = "") -> None:
            lines = [
                trust_line(mac, "rsu" if i == 0 else "obu", identity.public_bytes)
                for i, (mac, identity) in enumerate(
                    zip(MACS[:count], identities[:count])
                )
            ]
            # Replace, not rewrite in place: a reader never sees half a file.
            with open(trust + ".new", "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n" + extra)
            os.chmod(trust + ".new", 0o644)
            os.replace(trust + ".new", trust)

        write_trust(1)
        seg = netns.use(self, netns.segment(["rsu"], {"rsu": LINK_ADDRESSES["rsu"]}))
        node = start_node(
            self,
            workdir,
            seg.namespaces["rsu"],
            seg.interfaces["rsu"],
            "rsu",
            "rsu",
            "udp",
            extra={
                "node": {"mac": "02:00:00:00:00:01"},
                "security": {
                    "identity": "rsu.key",
                    "trust": "trust",
                },
            },
        )

        def log() -> str:
            with open(node.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()

        def hup_and_wait_for(text: str) -> None:
            os.killpg(node.process.pid, signal.SIGHUP)
            netns.wait_for(
                lambda: text in log(), 10, f"{text!r} in the log:\n{node.log_tail()}"
            )
            self.assertTrue(node.alive(), node.log_tail())

        self.assertIn(" started: mac ", log())
        write_trust(3)
        hup_and_wait_for(f"[security] trust = {trust}: reloaded, 3 keys")

        write_trust(2, "02:00:00:00:00:09 car AAAA\n")
        hup_and_wait_for("not reloaded, keeping the 3 keys loaded before")
        self.assertIn(f"trust file {trust}, line 3: unknown role 'car'", log())

        os.chmod(trust, 0o666)
        hup_and_wait_for("writable by group or others (mode 0666)")

        write_trust(2)
        hup_and_wait_for("reloaded, 2 keys")
        self.assertEqual(node.status()["role"], "rsu")  # still serving
