"""Per-port counters, read by the node's status API."""

from __future__ import annotations

import attrs


@attrs.define(slots=True)
class LinkCounters:
    """What a link port (or TAP) did with frames.

    ``received``/``sent`` count frames handed up to the protocol / accepted
    by the medium. Drops are split by reason so an operator can tell a full
    socket buffer (``send_dropped``) from a filtered frame or our own echo.
    """

    received: int = 0
    received_bytes: int = 0
    sent: int = 0
    sent_bytes: int = 0
    send_dropped: int = 0  # medium busy (EAGAIN): dropped, not raised
    send_errors: int = 0  # refused by the medium: raised as OSError
    own_dropped: int = 0  # our own transmission looped back to us
    filtered: int = 0  # dst neither our MAC nor group
    runts: int = 0  # too short for an Ethernet header: not sent / not delivered
    read_errors: int = 0  # errors reading from the medium
    handler_errors: int = 0  # the protocol raised on a frame (logged)
    # The kernel dropped arriving frames: the receive ring (or the socket's
    # receive buffer) was full (PACKET_STATISTICS tp_drops).
    recv_dropped: int = 0
    oversize: int = 0  # larger than a receive slot or buffer: truncated, dropped

    def count_send(self, send, *args) -> None:
        """Call ``send(*args)`` (a socket send or ``os.write``) and count it:
        EAGAIN drops the frame and counts it, other refusals count and raise."""
        try:
            sent = send(*args)
        except BlockingIOError:
            self.send_dropped += 1
            return
        except OSError:
            self.send_errors += 1
            raise
        self.sent += 1
        self.sent_bytes += sent

    def refresh(self) -> None:
        """Bring counts the kernel keeps up to date (a port that has such
        counts overrides this); called before the counters are read."""

    def as_dict(self) -> dict[str, int]:
        self.refresh()
        return attrs.asdict(self)

    # The mapping protocol, so ``dict(port.counters)`` works too.
    def keys(self) -> tuple[str, ...]:
        return tuple(field.name for field in attrs.fields(type(self)))

    def __getitem__(self, name: str) -> int:
        if name not in self.keys():
            raise KeyError(name)
        return getattr(self, name)

    @property
    def dropped(self) -> int:
        """Every frame lost at this port, whatever the reason."""
        return (
            self.send_dropped
            + self.send_errors
            + self.own_dropped
            + self.filtered
            + self.runts
            + self.recv_dropped
            + self.oversize
        )


#: Counters of frames a device lost, reported under ``drops`` in a node's
#: status (as ``link_<reason>`` / ``tap_<reason>``).
DROP_REASONS = (
    "runts",
    "send_dropped",
    "send_errors",
    "read_errors",
    "handler_errors",
    "recv_dropped",
    "oversize",
)
