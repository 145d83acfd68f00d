"""``vanet-keygen``: make a node's Ed25519 identity (``[security] identity``).

    vanet-keygen rsu1.key                       # writes rsu1.key, mode 600
    vanet-keygen rsu1.key --mac 02:00:00:00:00:01 --role rsu
    vanet-keygen --show rsu1.key --mac ... --role rsu   # an existing key

It prints the public key (base64), or with ``--mac`` and ``--role`` a
line ready for the trust file. Every problem is one line on stderr and
exit status 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from vanet.identity import (
    ROLES,
    Identity,
    IdentityFileError,
    load_identity,
    trust_line,
    trusted_mac,
)

PROG = "vanet-keygen"


class KeygenError(Exception):
    """One line saying what went wrong and how to fix it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Write a node's Ed25519 private key (PEM, mode 600) for "
        "[security] identity and print its public key; with --mac and "
        "--role, print a line for the trust file.",
    )
    parser.add_argument("file", help="the private key file to write")
    parser.add_argument(
        "--force", action="store_true", help="replace FILE if it exists"
    )
    parser.add_argument(
        "--show",
        action="store_true",
        help="write nothing: read the existing key in FILE and print its "
        "public key (or trust-file line)",
    )
    parser.add_argument("--mac", help="the node's [node] mac, for a trust-file line")
    parser.add_argument(
        "--role", choices=ROLES, help="the node's role, for a trust-file line"
    )
    return parser


def write_private_key(path: str, pem: bytes, force: bool) -> None:
    """Write ``pem`` to ``path`` with mode 600, never through a moment of
    wider access; refuse to replace an existing file unless ``force``."""
    directory = os.path.dirname(os.path.abspath(path))
    if not force and os.path.lexists(path):
        raise KeygenError(f"{path} already exists: use --force to replace it")
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}")
    try:
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        if force:
            os.replace(temporary, path)
        else:
            # link() fails if the name appeared meanwhile: no overwrite race.
            os.link(temporary, path)
    except FileExistsError:
        raise KeygenError(f"{path} already exists: use --force to replace it") from None
    except OSError as e:
        raise KeygenError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def run(argv: Sequence[str] | None = None) -> str:
    """Do what the command line asks; return what to print."""
    args = _parser().parse_args(argv)
    if (args.mac is None) != (args.role is None):
        raise KeygenError("--mac and --role go together: give both or neither")
    mac = None
    if args.mac is not None:
        try:
            mac = trusted_mac(args.mac)
        except ValueError as e:
            raise KeygenError(f"--mac: {e}") from None
    if args.show:
        try:
            identity = load_identity(args.file)
        except IdentityFileError as e:
            raise KeygenError(str(e)) from None
    else:
        identity = Identity.generate()
        write_private_key(args.file, identity.private_pem(), args.force)
    if mac is not None:
        return trust_line(mac, args.role, identity.public_bytes)
    return identity.public_text


def main(argv: Sequence[str] | None = None) -> int:
    try:
        print(run(argv))
    except KeygenError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
