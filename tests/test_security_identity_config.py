"""``[security] identity`` and ``trust`` (issue 10, item
3): the config rules, what the node factory loads, and twistd's one-line
errors for missing, unsafe or malformed files."""

from __future__ import annotations

import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tests.test_twistd_config import GOOD, twistd
from vanet.identity import (
    Identity,
    IdentityFileError,
    TrustFileError,
    trust_line,
)
from vanet.node.config import load_node_config
from vanet.node.factory import NodeFactory

RSU_MAC = bytes.fromhex("020000000001")
RSU = Identity.generate()


class SecurityFilesCase(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vanet-sec-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.key = self.write("rsu.key", RSU.private_pem(), 0o600)
        self.trust = self.write(
            "trust", trust_line(RSU_MAC, "rsu", RSU.public_bytes) + "\n", 0o644
        )

    def write(self, name: str, data: bytes | str, mode: int = 0o644) -> str:
        path = os.path.join(self.dir, name)
        if isinstance(data, str):
            data = data.encode()
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def config(self, security: str, name: str = "node.ini") -> str:
        return self.write(name, GOOD + "[security]\n" + security)


class ConfigRuleTests(SecurityFilesCase):
    def test_defaults(self):
        config = load_node_config(self.config(""), "rsu")
        self.assertIsNone(config.security.identity)
        self.assertIsNone(config.security.trust)

    def test_relative_paths_are_taken_from_the_config_files_folder(self):
        elsewhere = tempfile.mkdtemp(prefix="vanet-cwd-")
        self.addCleanup(shutil.rmtree, elsewhere)
        # Back before the folder goes (cleanups run last-in, first-out).
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(elsewhere)
        path = self.config("identity = rsu.key\ntrust = trust\n")
        config = load_node_config(os.path.relpath(path), "rsu")
        self.assertEqual(config.security.identity, self.key)
        self.assertEqual(config.security.trust, self.trust)
        # A command-line value is relative to the working directory.
        config = load_node_config(path, "rsu", {("security", "trust"): "t2"})
        self.assertEqual(config.security.trust, "t2")


class FactoryTests(SecurityFilesCase):
    def test_the_factory_holds_the_identity_and_trust_store(self):
        path = self.config("identity = rsu.key\ntrust = trust\n")
        factory = NodeFactory(load_node_config(path, "rsu"))
        self.assertEqual(factory.identity.public_bytes, RSU.public_bytes)
        message = b"heartbeat"
        self.assertTrue(
            factory.trust.verify(RSU_MAC, "rsu", message, RSU.sign(message))
        )

    def test_without_files_there_is_nothing(self):
        factory = NodeFactory(load_node_config(self.config(""), "obu"))
        self.assertIsNone(factory.identity)
        self.assertIsNone(factory.trust)

    def test_bad_files_fail_when_the_node_is_built(self):
        os.chmod(self.key, 0o640)
        path = self.config("identity = rsu.key\n")
        self.assertRaises(IdentityFileError, NodeFactory, load_node_config(path, "rsu"))
        os.chmod(self.trust, 0o664)
        path = self.config("trust = trust\n", "t.ini")
        self.assertRaises(TrustFileError, NodeFactory, load_node_config(path, "rsu"))

    def test_reload_keeps_the_old_store_on_a_bad_file(self):
        path = self.config("trust = trust\n")
        factory = NodeFactory(load_node_config(path, "rsu"))
        held = factory.trust  # what a routing core would hold
        other = Identity.generate()
        with open(self.trust, "a") as f:
            f.write(trust_line(b"\x02\0\0\0\0\x02", "obu", other.public_bytes) + "\n")
        self.assertIs(factory.reload_trust(), held)
        self.assertEqual(len(held), 2)
        with open(self.trust, "a") as f:
            f.write("02:00:00:00:00:03 car AAAA\n")
        self.assertRaises(TrustFileError, factory.reload_trust)
        self.assertEqual(len(held), 2)
        self.assertIs(factory.trust, held)


class TwistdErrorTests(SecurityFilesCase):
    def fails_with(self, path: str, *fragments: str) -> str:
        result = twistd("vanet-rsu", "--config", path, cwd=self.dir)
        self.assertNotEqual(result.returncode, 0, "twistd accepted a bad config")
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        return lines[0]

    def test_identity_readable_by_others(self):
        os.chmod(self.key, 0o644)
        path = self.config("identity = rsu.key\ntrust = trust\n")
        self.fails_with(
            path, path, "[security] identity", self.key, "0644", "chmod 600"
        )

    def test_identity_that_is_no_key(self):
        os.chmod(self.trust, 0o600)
        path = self.config("identity = trust\n")
        self.fails_with(path, path, "[security] identity", "not an Ed25519")

    def test_trust_file_with_a_bad_line(self):
        self.write("bad-trust", "02:00:00:00:00:01 rsu short\n", 0o644)
        path = self.config("identity = rsu.key\ntrust = bad-trust\n")
        self.fails_with(path, path, "[security] trust", "line 1", "bad public key")

    def test_trust_file_writable_by_others(self):
        os.chmod(self.trust, 0o666)
        path = self.config("identity = rsu.key\ntrust = trust\n")
        self.fails_with(path, "[security] trust", "0666", "writable by group")

    def test_missing_identity_file(self):
        path = self.config("identity = absent.key\ntrust = trust\n")
        self.fails_with(path, "[security] identity", "absent.key", "No such file")


class SighupHandlerTests(SecurityFilesCase):
    """In process: the handler is installed at start and the previous one
    restored at stop (the real process is tests/test_twistd_sighup.py)."""

    def test_installed_while_running_and_restored(self):
        import signal

        from twisted.internet import task

        from vanet.node.config import node_config_from_mapping
        from vanet.node.service import NodeService
        from vanet.tap.memory import MemoryTap
        from vanet.transport.memory import Hub, MemoryPort

        config = node_config_from_mapping(
            {
                "node": {"name": "rsu", "mac": "02:00:00:00:00:01"},
                "link": {"transport": "memory"},
                "security": {"trust": self.trust},
                "control": {"listen": "none"},
            },
            "rsu.test",
            "rsu",
        )
        clock = task.Clock()
        clock.callFromThread = lambda f, *a, **kw: f(*a, **kw)
        hub = Hub()
        node = NodeService(
            NodeFactory(config),
            clock,
            open_port=lambda c: MemoryPort("rsu", RSU_MAC, hub),
            open_tap=lambda c: MemoryTap("tap-rsu", RSU_MAC),
            reload_on_sighup=True,
        )
        calls = []

        def previous(signum, frame):
            calls.append(signum)

        old = signal.signal(signal.SIGHUP, previous)
        self.addCleanup(signal.signal, signal.SIGHUP, old)
        node.privilegedStartService()
        node.startService()
        self.assertNotEqual(signal.getsignal(signal.SIGHUP), previous)
        with open(self.trust, "a") as f:
            f.write(trust_line(b"\x02\0\0\0\0\x02", "obu", RSU.public_bytes) + "\n")
        os.kill(os.getpid(), signal.SIGHUP)
        self.assertEqual(len(node.factory.trust), 2)
        self.assertEqual(calls, [])
        node.stopService()
        self.assertIs(signal.getsignal(signal.SIGHUP), previous)
