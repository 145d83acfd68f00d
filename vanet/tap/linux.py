"""A real Linux TAP device, created and configured with pyroute2.

``LinuxTap.open`` does the privileged part (``/dev/net/tun``, netlink), so
it belongs in ``privilegedStartService``; ``startReading`` runs later, after
root was dropped: the open fd keeps working.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import struct
from collections.abc import Callable

from twisted.logger import Logger
from zope.interface import implementer

from vanet.interfaces import ITapDevice
from vanet.mac import ETH_HLEN, MAC_LEN, format_mac, is_group, parse_mac
from vanet.transport.counters import LinkCounters
from vanet.transport.fdport import (
    DEFAULT_MAX_FRAMES_PER_WAKEUP,
    DrainingReader,
    read_size,
)
from vanet.transport.ifname import ifname_problem

TUN_DEVICE = "/dev/net/tun"
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
_IFREQ_FLAGS = struct.Struct("16sH22x")  # struct ifreq: name, ifr_flags
DEFAULT_NAME = "vtap0"
DEFAULT_MTU = 1436  # docs/protocol.md §9


class TapError(OSError):
    """The TAP device could not be created or configured. ``setting`` names
    what the system refused: ``"name"`` (the device itself), ``"mac"``,
    ``"mtu"`` or ``"address"``."""

    setting = "name"


def _create_tap(name: str) -> tuple[int, str]:
    """Open ``/dev/net/tun`` as a TAP without packet info; return the fd and
    the name the kernel gave the device."""
    try:
        fd = os.open(TUN_DEVICE, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise TapError(
            e.errno,
            f"cannot open {TUN_DEVICE} for TAP {name!r}: {e.strerror} "
            "(needs root or CAP_NET_ADMIN, and the tun module)",
        ) from None
    try:
        result = fcntl.ioctl(
            fd, TUNSETIFF, _IFREQ_FLAGS.pack(name.encode(), IFF_TAP | IFF_NO_PI)
        )
    except OSError as e:
        os.close(fd)
        why = {
            errno.EBUSY: "another process has that TAP open",
            errno.EINVAL: "a device of another kind has that name",
            errno.EPERM: "needs root or CAP_NET_ADMIN",
        }.get(e.errno)
        raise TapError(
            e.errno,
            f"cannot create TAP {name!r}: {e.strerror}" + (f" ({why})" if why else ""),
        ) from None
    return fd, _IFREQ_FLAGS.unpack(result)[0].rstrip(b"\0").decode()


def _disable_ipv6(name: str) -> None:
    # A fresh TAP would send router solicitations and MLD reports into the
    # overlay.
    try:
        with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
            f.write("1")
    except FileNotFoundError:
        pass  # IPv6 is off on this host anyway


def _configure(
    name: str, mtu: int, address: str | None, mac: bytes | None = None
) -> bytes:
    """Set MAC, MTU, address and up; return the device's MAC. A refusal is a
    ``TapError`` whose ``setting`` says which of them the system refused."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    def refused(setting: str, value, error: Exception) -> TapError:
        code = getattr(error, "code", None) or getattr(error, "errno", None)
        reason = os.strerror(code) if code else str(error)
        failure = TapError(
            code or errno.EIO, f"cannot set {setting} {value} on TAP {name!r}: {reason}"
        )
        failure.setting = setting
        return failure

    interface = ipaddress.ip_interface(address) if address else None
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        if mac is not None:
            # Before "up": the kernel then announces the final address only.
            try:
                ipr.link("set", index=index, address=format_mac(mac))
            except NetlinkError as e:
                raise refused("mac", format_mac(mac), e) from None
        try:
            ipr.link("set", index=index, mtu=mtu)
        except NetlinkError as e:
            raise refused("mtu", mtu, e) from None
        if interface is not None:
            try:
                ipr.addr(
                    "add",
                    index=index,
                    address=str(interface.ip),
                    prefixlen=interface.network.prefixlen,
                )
            except NetlinkError as e:
                if e.code != errno.EEXIST:  # a persistent TAP may have it already
                    raise refused("address", address, e) from None
        ipr.link("set", index=index, state="up")
        link = ipr.get_links(index)[0]
        return parse_mac(link.get_attr("IFLA_ADDRESS"))


@implementer(ITapDevice)
class LinuxTap:
    """An ``ITapDevice`` over a TAP fd (no packet-info header).

    ``startReading(deliver)`` calls ``deliver(frame)`` for each Ethernet
    frame the host sends into the device. ``write(frame)`` hands a frame to
    the host; it drops and counts frames shorter than an Ethernet header
    (``runts``) and when the device is busy (``send_dropped``), and raises
    ``OSError`` when the device refuses a frame (e.g. EIO while it is down).
    ``close()`` removes the device (it is not persistent).
    """

    log = Logger()

    def __init__(
        self,
        fd: int,
        name: str,
        mac: bytes,
        mtu: int,
        max_frames_per_wakeup: int = DEFAULT_MAX_FRAMES_PER_WAKEUP,
    ) -> None:
        self._fd = fd
        self.name = name
        self.mac = mac
        self.mtu = mtu
        self.counters = LinkCounters()
        self.max_frames_per_wakeup = max_frames_per_wakeup
        self._reader: DrainingReader | None = None
        self._closed = False
        self._read_size = read_size(mtu)

    @classmethod
    def open(
        cls,
        name: str = DEFAULT_NAME,
        mtu: int = DEFAULT_MTU,
        address: str | None = None,
        disable_ipv6: bool = True,
        max_frames_per_wakeup: int = DEFAULT_MAX_FRAMES_PER_WAKEUP,
        mac: bytes | None = None,
    ) -> LinuxTap:
        """Create TAP ``name``, set ``mac`` (``None``: the kernel's random
        one), ``mtu`` and ``address`` (CIDR, or None for none), bring it up.
        Raises ``ValueError`` for bad arguments and ``TapError`` (an
        ``OSError``) naming the device when the system refuses."""
        problem = ifname_problem(name)
        if problem is not None:
            raise ValueError(f"TAP name {name!r}: {problem}")
        if mac is not None and (len(mac) != MAC_LEN or is_group(mac)):
            raise ValueError(f"TAP {name!r}: mac {mac!r} is not a unicast 6-byte MAC")
        if not 68 <= mtu <= 65535:
            raise ValueError(f"TAP {name!r}: mtu {mtu} is not in 68..65535")
        if address is not None:
            try:
                interface = ipaddress.ip_interface(address)
            except ValueError:
                raise ValueError(
                    f"TAP {name!r}: address {address!r} is not CIDR (e.g. 10.0.0.1/24)"
                ) from None
            if interface.version == 6:
                disable_ipv6 = False  # the address needs IPv6 on the device
        fd, actual_name = _create_tap(name)
        try:
            if disable_ipv6:
                _disable_ipv6(actual_name)
            mac = _configure(actual_name, mtu, address, mac)
        except TapError:
            os.close(fd)
            raise
        except Exception as e:
            os.close(fd)
            raise TapError(
                getattr(e, "code", None) or getattr(e, "errno", None) or errno.EIO,
                f"cannot configure TAP {actual_name!r} (mtu {mtu}, address "
                f"{address}): {e}",
            ) from e
        tap = cls(fd, actual_name, mac, mtu, max_frames_per_wakeup)
        cls.log.info(
            "TAP {name} up ({mac}, mtu {mtu}, address {address})",
            name=actual_name,
            mac=format_mac(mac),
            mtu=mtu,
            address=address,
        )
        return tap

    def fileno(self) -> int:
        return self._fd

    def startReading(self, deliver: Callable[[bytes], object], reactor=None) -> None:
        """Start calling ``deliver(frame)`` for frames the host sends."""
        if self._closed:
            raise RuntimeError(f"TAP {self.name} is closed")
        if self._reader is not None:
            raise RuntimeError(f"TAP {self.name} is already reading")
        if reactor is None:
            from twisted.internet import reactor

        def frame_read(frame: bytes) -> None:
            self.counters.received += 1
            self.counters.received_bytes += len(frame)
            deliver(frame)

        self._reader = DrainingReader(
            self._fd,
            self._read_frame,
            frame_read,
            self.counters,
            reactor,
            self.max_frames_per_wakeup,
            description=f"tap:{self.name}",
        )
        self._reader.startReading()

    def doRead(self) -> None:
        """Drain the device now (what the reactor does on readability)."""
        assert self._reader is not None, "startReading first"
        self._reader.doRead()

    def _read_frame(self) -> bytes:
        return os.read(self._fd, self._read_size)

    def write(self, frame) -> None:
        """Hand one Ethernet frame to the host."""
        if len(frame) < ETH_HLEN:
            # Not an Ethernet frame (e.g. a malformed tunnelled payload): the
            # kernel would refuse it with EINVAL; drop it without raising.
            self.counters.runts += 1
            return
        self.counters.count_send(os.write, self._fd, frame)

    def stopReading(self) -> None:
        if self._reader is not None:
            self._reader.stop()
            self._reader = None

    def close(self) -> None:
        """Stop reading and close the fd, which removes the device."""
        if self._closed:
            return
        self._closed = True
        self.stopReading()
        os.close(self._fd)
