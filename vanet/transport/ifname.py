"""Linux network interface names: the one rule every layer checks against."""

from __future__ import annotations

IFNAMSIZ = 16  # the kernel's buffer, with its terminating NUL


def ifname_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Linux interface name, or ``None`` if it can."""
    if not 1 <= len(name.encode()) < IFNAMSIZ:
        return f"want 1 to {IFNAMSIZ - 1} characters (bytes in UTF-8)"
    if any(c in name for c in "/: \t\n") or name in (".", ".."):
        return "want no '/', ':' or spaces, and not '.' or '..'"
    return None
