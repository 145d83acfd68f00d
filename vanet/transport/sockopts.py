"""Socket options shared by the transports."""

from __future__ import annotations

import socket

# Bursts of heartbeats and data overflowed the 208 KiB default.
DEFAULT_RCVBUF = 4 * 1024 * 1024

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def raise_rcvbuf(sock: socket.socket, size: int = DEFAULT_RCVBUF) -> int:
    """Ask for a ``size``-byte receive buffer and return what we got.

    ``SO_RCVBUFFORCE`` passes ``net.core.rmem_max`` when we have
    CAP_NET_ADMIN; without it, plain ``SO_RCVBUF`` is capped by that limit.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
