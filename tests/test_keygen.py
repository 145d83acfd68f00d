"""``vanet-keygen`` as a user runs it (issue 10, item 3): the key file is
mode 600 whatever the umask, the printed key is the file's, it never
overwrites without --force, and errors are one line."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib

from twisted.trial.unittest import SynchronousTestCase

from vanet.identity import Identity, load_identity, load_trust

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def keygen(*args: str, cwd: str, umask: int | None = None):
    def set_umask():
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [sys.executable, "-m", "vanet.keygen", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        preexec_fn=set_umask,
    )


class KeygenTests(SynchronousTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vanet-keygen-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.path = os.path.join(self.dir, "node.key")

    def ok(self, *args: str, **kwargs) -> str:
        result = keygen(*args, cwd=self.dir, **kwargs)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        return result.stdout.strip()

    def fails(self, *args: str, status: int = 1) -> str:
        result = keygen(*args, cwd=self.dir)
        self.assertEqual(result.returncode, status, result.stdout + result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertTrue(lines[0].startswith("vanet-keygen: "), lines[0])
        return lines[0]

    def test_writes_mode_600_and_prints_the_files_public_key(self):
        for umask in (0o000, 0o022, 0o077):
            os.makedirs(self.dir, exist_ok=True)
            path = os.path.join(self.dir, f"k{umask:o}.key")
            printed = self.ok(path, umask=umask)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            self.assertEqual(printed, load_identity(path).public_text)
        self.assertEqual(
            sorted(os.listdir(self.dir)), ["k0.key", "k22.key", "k77.key"]
        )  # no temporary files left behind

    def test_relative_path_and_trust_line(self):
        line = self.ok("node.key", "--mac", "02:00:00:00:00:01", "--role", "rsu")
        identity = load_identity(self.path)
        self.assertEqual(line, f"02:00:00:00:00:01 rsu {identity.public_text}")
        trust = os.path.join(self.dir, "trust")
        with open(trust, "w") as f:
            f.write(line + "\n")
        store = load_trust(trust)
        mac = bytes.fromhex("020000000001")
        self.assertTrue(store.verify(mac, "rsu", b"m", identity.sign(b"m")))

    def test_refuses_to_overwrite_without_force(self):
        first = self.ok(self.path)
        with open(self.path, "rb") as f:
            before = f.read()
        line = self.fails(self.path)
        self.assertIn(f"{self.path} already exists", line)
        self.assertIn("--force", line)
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), before)
        second = self.ok(self.path, "--force")
        self.assertNotEqual(first, second)
        self.assertEqual(load_identity(self.path).public_text, second)

    def test_force_over_a_world_readable_file_leaves_mode_600(self):
        with open(self.path, "w") as f:
            f.write("old")
        os.chmod(self.path, 0o644)
        self.ok(self.path, "--force")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    def test_does_not_follow_an_existing_symlink(self):
        target = os.path.join(self.dir, "elsewhere")
        os.symlink(target, self.path)
        self.fails(self.path)
        self.assertFalse(os.path.exists(target))

    def test_show_prints_an_existing_keys_public_key(self):
        identity = Identity.generate()
        with open(self.path, "wb") as f:
            f.write(identity.private_pem())
        os.chmod(self.path, 0o600)
        self.assertEqual(self.ok("--show", self.path), identity.public_text)
        self.assertEqual(
            self.ok("--show", self.path, "--mac", "02-00-00-00-00-12", "--role", "obu"),
            f"02:00:00:00:00:12 obu {identity.public_text}",
        )
        os.chmod(self.path, 0o640)
        line = self.fails("--show", self.path)
        self.assertIn("chmod 600", line)

    def test_bad_arguments_are_one_line(self):
        self.assertIn(
            "group or broadcast",
            self.fails(self.path, "--mac", "ff:ff:ff:ff:ff:ff", "--role", "rsu"),
        )
        self.assertIn(
            "zero address",
            self.fails(self.path, "--mac", "00:00:00:00:00:00", "--role", "rsu"),
        )
        self.assertIn(
            "bad MAC", self.fails(self.path, "--mac", "02:00", "--role", "rsu")
        )
        self.assertIn("go together", self.fails(self.path, "--role", "obu"))
        self.assertIn(
            "invalid choice",
            self.fails(
                self.path, "--mac", "02:00:00:00:00:01", "--role", "car", status=2
            ),
        )
        self.assertIn("--help", self.fails(status=2))
        self.assertFalse(os.path.exists(self.path))
        missing = os.path.join(self.dir, "no", "such", "node.key")
        self.assertIn("cannot write", self.fails(missing))

    def test_help(self):
        text = self.ok("--help")
        for word in ("--force", "--mac", "--role", "--show", "mode 600"):
            self.assertIn(word, text)

    def test_installed_as_vanet_keygen(self):
        with open(os.path.join(PROJECT, "pyproject.toml"), "rb") as f:
            scripts = tomllib.load(f)["project"]["scripts"]
        self.assertEqual(scripts["vanet-keygen"], "vanet.keygen:main")
