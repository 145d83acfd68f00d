"""The one helper for tests that need network namespaces, veth pairs and
bridges (this kernel has no dummy links: use a veth end instead).

Every context manager here creates uniquely named objects and removes them
on exit, also when the test fails. In a trial/unittest test, ``use(self,
cm)`` enters one and registers its exit with ``addCleanup``.

Tests that need these call ``skip_unless_root_netns()`` (or check
``requires_root_netns()``): they skip, with the reason, only when not root
or when namespaces cannot be created here.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import secrets
import unittest
from collections.abc import Iterator, Sequence

import attrs

IFNAMSIZ = 16


@functools.cache
def requires_root_netns() -> str | None:
    """Why namespace tests cannot run here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces and links"
    try:
        from pyroute2 import netns
    except ImportError as e:  # pragma: no cover - pyroute2 is a dependency
        return f"pyroute2 is not importable: {e}"
    name = unique_name("vtprobe")
    try:
        netns.create(name)
    except OSError as e:
        return f"cannot create a network namespace here: {e}"
    netns.remove(name)
    return None


def skip_unless_root_netns() -> None:
    """Raise ``SkipTest`` (which trial and pytest both honour) if namespace
    tests cannot run here."""
    reason = requires_root_netns()
    if reason is not None:
        raise unittest.SkipTest(reason)


def requires_tun() -> str | None:
    """Why TAP tests cannot run here, or ``None``."""
    if os.geteuid() != 0:
        return "needs root to create TAP devices"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing (no tun module)"
    return None


def skip_unless_tun() -> None:
    reason = requires_tun()
    if reason is not None:
        raise unittest.SkipTest(reason)


def unique_name(prefix: str = "vt") -> str:
    """A fresh name that also fits an interface name (at most 15 bytes)."""
    suffix = secrets.token_hex(3)
    return prefix[: IFNAMSIZ - 1 - len(suffix)] + suffix


def use(testcase: unittest.TestCase, context):
    """Enter ``context`` now and exit it in the test's cleanup."""
    value = context.__enter__()
    testcase.addCleanup(context.__exit__, None, None, None)
    return value


def ipr(ns: str | None = None):
    """An ``IPRoute`` in namespace ``ns`` (``None``: ours); never creates
    the namespace. Use it in a ``with`` block."""
    from pyroute2 import IPRoute

    if ns is None:
        return IPRoute()
    return IPRoute(netns=ns, flags=0)


def _index(ip, ifname: str) -> int:
    found = ip.link_lookup(ifname=ifname)
    if not found:
        raise LookupError(f"no interface {ifname!r}")
    return found[0]


def link_exists(ifname: str, ns: str | None = None) -> bool:
    with ipr(ns) as ip:
        return bool(ip.link_lookup(ifname=ifname))


@attrs.frozen
class LinkInfo:
    name: str
    mtu: int
    up: bool
    mac: str
    addresses: tuple[str, ...]  # CIDR strings


def link_info(ifname: str, ns: str | None = None) -> LinkInfo:
    """What the kernel says about ``ifname``: MTU, up, MAC, addresses."""
    with ipr(ns) as ip:
        index = _index(ip, ifname)
        link = ip.get_links(index)[0]
        addresses = tuple(
            f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ip.get_addr(index=index)
        )
        return LinkInfo(
            name=ifname,
            mtu=link.get_attr("IFLA_MTU"),
            up=bool(link["flags"] & 1),  # IFF_UP
            mac=link.get_attr("IFLA_ADDRESS"),
            addresses=addresses,
        )


def _remove_link(ifname: str, ns: str | None) -> None:
    from pyroute2 import netns as pyroute2_netns

    if ns is not None and ns not in pyroute2_netns.listnetns():
        return  # its namespace is gone, and the link with it
    with ipr(ns) as ip:
        found = ip.link_lookup(ifname=ifname)
        if found:
            ip.link("del", index=found[0])


def set_up(ifname: str, ns: str | None = None, address: str | None = None) -> None:
    """Bring ``ifname`` up, adding ``address`` (CIDR) first if given."""
    with ipr(ns) as ip:
        index = _index(ip, ifname)
        if address is not None:
            interface = ipaddress.ip_interface(address)
            ip.addr(
                "add",
                index=index,
                address=str(interface.ip),
                prefixlen=interface.network.prefixlen,
            )
        ip.link("set", index=index, state="up")


@contextlib.contextmanager
def namespace(prefix: str = "vtns") -> Iterator[str]:
    """A new network namespace (with ``lo`` up); removed on exit."""
    from pyroute2 import netns as pyroute2_netns

    name = unique_name(prefix)
    pyroute2_netns.create(name)
    try:
        set_up("lo", name)
        yield name
    finally:
        pyroute2_netns.remove(name)


@contextlib.contextmanager
def veth_pair(
    ns_a: str | None = None,
    ns_b: str | None = None,
    prefix: str = "vtv",
    up: bool = True,
) -> Iterator[tuple[str, str]]:
    """A veth pair with one end in ``ns_a`` and the other in ``ns_b``
    (``None``: ours), both up unless ``up`` is false. Yields the two names;
    deletes the pair on exit."""
    name_a, name_b = unique_name(prefix + "a"), unique_name(prefix + "b")
    with ipr() as ip:
        ip.link("add", ifname=name_a, kind="veth", peer=name_b)
    try:
        with ipr() as ip:
            for name, ns in ((name_a, ns_a), (name_b, ns_b)):
                if ns is not None:
                    ip.link("set", index=_index(ip, name), net_ns_fd=ns)
        if up:
            set_up(name_a, ns_a)
            set_up(name_b, ns_b)
        yield name_a, name_b
    finally:
        # Deleting one end deletes both; either may be in a namespace already.
        _remove_link(name_a, ns_a)
        _remove_link(name_b, ns_b)


@contextlib.contextmanager
def bridge(ns: str | None = None, prefix: str = "vtbr") -> Iterator[str]:
    """An up bridge in ``ns``; deleted on exit."""
    name = unique_name(prefix)
    with ipr(ns) as ip:
        ip.link("add", ifname=name, kind="bridge")
    try:
        set_up(name, ns)
        yield name
    finally:
        _remove_link(name, ns)


def enslave(ifname: str, bridge_name: str, ns: str | None = None) -> None:
    with ipr(ns) as ip:
        ip.link("set", index=_index(ip, ifname), master=_index(ip, bridge_name))


@attrs.frozen
class Segment:
    """Nodes on one Ethernet segment: each node has its own namespace and a
    link interface there, joined by veth pairs into one bridge that lives
    in a namespace of its own."""

    namespaces: dict[str, str]  # node -> namespace
    interfaces: dict[str, str]  # node -> link interface inside its namespace
    bridge: str
    bridge_namespace: str


@contextlib.contextmanager
def segment(
    nodes: Sequence[str], addresses: dict[str, str] | None = None
) -> Iterator[Segment]:
    """One namespace per node in ``nodes``, all on one bridged segment.

    ``addresses`` optionally maps a node to a CIDR address for its link
    interface (the udp transport needs IPv4 multicast on it; packet does
    not). Everything is removed on exit, in reverse order of creation.
    """
    addresses = addresses or {}
    with contextlib.ExitStack() as stack:
        hub = stack.enter_context(namespace("vtseg"))
        bridge_name = stack.enter_context(bridge(hub))
        namespaces: dict[str, str] = {}
        interfaces: dict[str, str] = {}
        for node in nodes:
            ns = stack.enter_context(namespace("vtn"))
            link, port = stack.enter_context(veth_pair(ns, hub, up=False))
            enslave(port, bridge_name, hub)
            set_up(port, hub)
            set_up(link, ns, addresses.get(node))
            namespaces[node] = ns
            interfaces[node] = link
        yield Segment(namespaces, interfaces, bridge_name, hub)


# -- processes and sockets inside namespaces ---------------------------------


def ns_socket(ns: str, family: int, kind: int, proto: int = 0):
    """A socket created inside namespace ``ns`` (it keeps that namespace)."""
    from pyroute2 import netns as pyroute2_netns

    return pyroute2_netns.create_socket(ns, family, kind, proto, flags=0)


def run_in(ns: str, argv: Sequence[str], timeout: float = 60, **kwargs):
    """``subprocess.run`` of ``argv`` inside ``ns`` (text output captured)."""
    import subprocess

    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(["ip", "netns", "exec", ns, *argv], timeout=timeout, **kwargs)


@contextlib.contextmanager
def process_in(ns: str, argv: Sequence[str], log_path: str, **kwargs) -> Iterator:
    """Start ``argv`` inside ``ns`` in a process group of its own, output to
    ``log_path``; on exit, SIGTERM the group, then SIGKILL what is left."""
    import signal
    import subprocess

    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )
    try:
        yield process
    finally:
        _stop_group(process, signal.SIGTERM, 10)


def _stop_group(process, sig, grace: float) -> None:
    import signal
    import subprocess

    for current in (sig, signal.SIGKILL):
        try:
            os.killpg(process.pid, current)
        except ProcessLookupError:
            pass
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    # Children that left the group are not ours to hunt; the group is gone.


def http_get(
    ns: str, port: int, path: str, host: str = "127.0.0.1", timeout: float = 5
) -> tuple[int, bytes]:
    """GET ``http://host:port/path`` from inside ``ns``: (status, body)."""
    import http.client
    import socket

    sock = ns_socket(ns, socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        sock.connect((host, port))
        connection.sock = sock
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
        sock.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate()`` until it returns a true value (returned), or
    raise ``AssertionError`` naming ``what`` after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, KeyError, TypeError) as e:
            last_error = e
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}{detail}"
            )
        time.sleep(interval)
