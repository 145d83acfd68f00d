"""Reading files that hold secrets or trust decisions, refusing unsafe ones.

One check for every such file (the encryption key, a node's private key,
the trust file), so they are refused for the same reasons with the same
words. A private file must not be accessible by group or others at all (as
ssh insists for private keys); a file that only decides whom to trust may
be world-readable but must not be writable by group or others, since
whoever can write it can add a key.
"""

from __future__ import annotations

import os
import stat


class ProtectedFileError(ValueError):
    """A file is missing, unreadable, unsafe or malformed; ``str()`` is one
    line naming the file and what to do."""


def read_protected(
    path: str | os.PathLike,
    what: str,
    *,
    private: bool,
    max_bytes: int,
    error: type[ProtectedFileError] = ProtectedFileError,
) -> bytes:
    """The contents of the regular file at ``path``, at most ``max_bytes``.

    ``what`` names the file's kind in messages ("key file", "trust file").
    ``private``: refuse any group or other access (chmod 600); otherwise
    refuse only write access by group or others (chmod go-w). Raises
    ``error`` (a ``ProtectedFileError``) with a one-line message.
    """
    name = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO named by a hostile config must not hang.
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise error(f"{what} {name}: cannot read it: {e.strerror or e}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise error(f"{what} {name}: not a regular file")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise error(f"{what} {name}: cannot read it: {e.strerror or e}") from None
    mode = stat.S_IMODE(info.st_mode)
    if private and mode & 0o077:
        raise error(
            f"{what} {name} is accessible by group or others (mode {mode:04o}); "
            f"restrict it with: chmod 600 {name}"
        )
    if not private and mode & 0o022:
        raise error(
            f"{what} {name} is writable by group or others (mode {mode:04o}); "
            f"restrict it with: chmod go-w {name}"
        )
    if len(data) > max_bytes:
        raise error(f"{what} {name}: larger than {max_bytes} bytes")
    return data
