"""netns mode: every node a real ``twistd vanet-rsu|vanet-obu`` process in
network namespace ``vanet-NAME``, with the simulator relaying frames between
them through the channel model.

Per node: namespace ``vanet-NAME`` holding ``eth0`` (the node's link
interface, its MAC the node's simulated MAC) and the node's TAP ``vtap0``;
the veth peer of ``eth0`` stays in the simulator's namespace, where an
AF_PACKET port reads what the node sends and writes what the channel model
delivers to it. The node's control endpoint listens on a UNIX socket (the
file system is shared across namespaces); the simulator reads each node's
pushed status from it (``vanet.sim.node_feed``) for ``/api/v1/node_info``
and ``/stats``.

Everything is torn down on stop (also on SIGTERM, through the reactor), and
leftovers of a crashed run with the same node names are removed at start.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from pyroute2 import NetlinkError
from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.web.client import Agent
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

from vanet.crypto import OVERHEAD as CRYPTO_OVERHEAD
from vanet.mac import ETH_HLEN, format_mac
from vanet.sim.api import ISimulation
from vanet.sim.base import SimulationBase
from vanet.sim.channel import RelayChannel
from vanet.sim.node_feed import NodeStatusFeed
from vanet.sim.topology import NodeSpec, Topology
from vanet.sim.traffic import FlowStats
from vanet.tap.linux import DEFAULT_MTU as TAP_DEFAULT_MTU
from vanet.wire.layouts import DOWNSTREAM

NAMESPACE_PREFIX = "vanet-"
NODE_INTERFACE = "eth0"
STOP_GRACE_S = 3.0


def namespace_name(node: str) -> str:
    return f"{NAMESPACE_PREFIX}{node}"


def peer_name(node: str) -> str:
    """The simulator-side veth of ``node``: at most 15 bytes, stable."""
    name = f"vs-{node}"
    if len(name.encode()) <= 15:
        return name
    return "vs-" + hashlib.sha256(node.encode()).hexdigest()[:12]


def twistd_command() -> list[str]:
    """``twistd`` of the running interpreter (no PATH lookup)."""
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def _ipr(ns: str | None = None):
    from pyroute2 import IPRoute

    return IPRoute() if ns is None else IPRoute(netns=ns, flags=0)


def remove_stale(nodes: list[str]) -> list[str]:
    """Remove namespaces and peers left by a crashed run; say what went."""
    from pyroute2 import netns

    removed = []
    existing = set(netns.listnetns())
    for node in nodes:
        ns = namespace_name(node)
        if ns in existing:
            netns.remove(ns)
            removed.append(ns)
        with _ipr() as ip:
            found = ip.link_lookup(ifname=peer_name(node))
            if found:
                try:
                    ip.link("del", index=found[0])
                except NetlinkError as error:
                    # Removing the namespace removes the pair, a moment later.
                    if error.code != errno.ENODEV:
                        raise
                removed.append(peer_name(node))
    return removed


def link_mtu(topology: Topology) -> int:
    """The veth MTU that carries every node's largest message: a TAP of MTU
    m makes downstream frames of m + 56 bytes after the Ethernet header
    (docs/protocol.md §9), encrypted; at least Ethernet's 1500."""
    largest = max(
        (
            int(spec.config.get("tap", {}).get("mtu", TAP_DEFAULT_MTU))
            for spec in topology.nodes.values()
        ),
        default=TAP_DEFAULT_MTU,
    )
    # downstream header + inner Ethernet header + nonce and tag - outer header
    margin = DOWNSTREAM.size + ETH_HLEN + CRYPTO_OVERHEAD - ETH_HLEN
    return max(1500, largest + margin)


def create_node_network(node: str, mac: bytes, mtu: int = 1500) -> None:
    """Namespace ``vanet-NODE`` with ``lo`` up and ``eth0`` (MAC ``mac``)
    whose peer stays here, up; both ends of MTU ``mtu``."""
    from pyroute2 import netns

    ns = namespace_name(node)
    peer = peer_name(node)
    netns.create(ns)
    with _ipr() as ip:
        ip.link(
            "add",
            ifname=peer,
            kind="veth",
            mtu=mtu,
            peer={"ifname": "vsim-tmp0", "address": format_mac(mac), "mtu": mtu},
        )
        inner = ip.link_lookup(ifname="vsim-tmp0")[0]
        ip.link("set", index=inner, net_ns_fd=ns)
        outer = ip.link_lookup(ifname=peer)[0]
        ip.link("set", index=outer, state="up")
    with _ipr(ns) as ip:
        inner = ip.link_lookup(ifname="vsim-tmp0")[0]
        ip.link("set", index=inner, ifname=NODE_INTERFACE)
        ip.link("set", index=inner, state="up")
        ip.link("set", index=ip.link_lookup(ifname="lo")[0], state="up")


def destroy_node_network(node: str) -> None:
    remove_stale([node])


class _NodeProcess(protocol.ProcessProtocol):
    def __init__(self, name: str, log_path: str) -> None:
        self.name = name
        self.log_file = open(log_path, "ab")  # noqa: SIM115 - closed on exit
        self.ended = defer.Deferred()
        self.exit_code: int | None = None

    def outReceived(self, data: bytes) -> None:
        self.log_file.write(data)

    errReceived = outReceived

    def processEnded(self, reason) -> None:
        self.exit_code = getattr(reason.value, "exitCode", None)
        self.log_file.close()
        self.ended.callback(self.exit_code)


@implementer(IAgentEndpointFactory)
class _UnixSockets:
    """Routes ``http://NODE/...`` to that node's control socket."""

    def __init__(self, reactor, sockets: dict[str, str]) -> None:
        self.reactor = reactor
        self.sockets = sockets

    def endpointForURI(self, uri):
        return UNIXClientEndpoint(
            self.reactor, self.sockets[uri.host.decode()], timeout=2
        )


class _RelayPort:
    """The channel model's view of one node: a named port whose ``receive``
    writes into the node's veth peer, and which lends that port's transmit
    slot (``tx_slot``, ``commit``) to ``RelayChannel.relay_path``."""

    def __init__(self, name: str, mac: bytes, packet_port) -> None:
        self.name = name
        self.mac = mac
        self.packet_port = packet_port
        # Bound once: the fast path calls them for every frame it relays.
        self.tx_slot = packet_port.tx_slot
        self.commit = packet_port.commit

    def receive(self, frame: bytes) -> None:
        try:
            self.packet_port.write(frame)
        except OSError:
            pass  # counted by the packet port; the node may be restarting


class _RelayProtocol(protocol.DatagramProtocol):
    """Hands each frame a node sent to the channel model: through
    ``RelayChannel.relay_path`` (``fast``, the default), else ``transmit``
    (the general path alone, for comparisons)."""

    noisy = False

    def __init__(
        self, medium: RelayChannel, port: _RelayPort, fast: bool = True
    ) -> None:
        self.medium = medium
        self.port = port
        if fast:
            # The port calls it for every frame: one call less than a method.
            self.datagramReceived = medium.relay_path(port)

    def datagramReceived(self, datagram, addr=None) -> None:
        self.medium.transmit(self.port, datagram)


@implementer(ISimulation)
class NetnsSimulation(SimulationBase, service.Service):
    """Real node processes in namespaces, joined by the channel model."""

    def __init__(self, topology: Topology, reactor) -> None:
        self.topology = topology
        self.reactor = reactor
        # Per-link timers, and frames on links without delay or loss relayed
        # at once, straight from one port's receive ring to the other's
        # transmit ring.
        self.medium = RelayChannel(reactor, topology.sim.seed, dict(topology.links))
        self.flow_stats = FlowStats()  # no generators here: always empty
        self.setup_mobility(reactor)
        self.workdir: str | None = None
        self.processes: dict[str, _NodeProcess] = {}
        self.transports: dict[str, Any] = {}
        self.relays: dict[str, Any] = {}
        self.sockets: dict[str, str] = {}
        self._feed: NodeStatusFeed | None = None
        self._route_listeners: list[Callable[[str, str, dict], None]] = []

    # -- life cycle -------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        if os.geteuid() != 0:
            raise SystemExit(
                "vanet-sim: netns mode needs root (network namespaces, veth, TAP)"
            )
        names = list(self.topology.nodes)
        stale = remove_stale(names)
        if stale:
            self.log.warn(
                "removed leftovers of an earlier run: {stale}", stale=", ".join(stale)
            )
        self.workdir = tempfile.mkdtemp(prefix="vanet-sim-")
        os.chmod(self.workdir, 0o755)
        from vanet.transport.packet import PacketPort

        mtu = link_mtu(self.topology)
        for name, spec in self.topology.nodes.items():
            create_node_network(name, spec.mac, mtu)
            packet_port = PacketPort.open(peer_name(name))
            relay = _RelayPort(name, spec.mac, packet_port)
            packet_port.startListening(_RelayProtocol(self.medium, relay), self.reactor)
            self.medium.attach(relay)
            self.relays[name] = packet_port
            self._spawn(spec)
        # Each node pushes its status (vanet.sim.node_feed says why not polls).
        agent = Agent.usingEndpointFactory(
            self.reactor, _UnixSockets(self.reactor, self.sockets)
        )
        self._feed = NodeStatusFeed(agent, self.reactor, self._route_changed)
        self._feed.start(names)
        if self.mobility is not None:
            self.mobility.start()
        self.log.info(
            "netns simulation up: {count} nodes in namespaces {names}",
            count=len(names),
            names=", ".join(namespace_name(n) for n in names),
        )

    def _write_config(self, spec: NodeSpec) -> str:
        config = spec.node_config()
        config.setdefault("link", {}).update(
            transport="packet", interface=NODE_INTERFACE
        )
        config["link"].pop("group", None)
        config["link"].pop("port", None)
        config.setdefault("node", {})["mac"] = format_mac(spec.mac)
        config.setdefault("tap", {}).setdefault("name", "vtap0")
        socket_path = os.path.join(self.workdir, f"{spec.name}.sock")
        config.setdefault("control", {})["listen"] = f"unix:{socket_path}"
        self.sockets[spec.name] = socket_path
        path = os.path.join(self.workdir, f"{spec.name}.ini")
        with open(path, "w", encoding="utf-8") as f:
            for section, keys in config.items():
                f.write(f"[{section}]\n")
                for key, value in keys.items():
                    f.write(f"{key} = {value}\n")
                f.write("\n")
        return path

    def _spawn(self, spec: NodeSpec) -> None:
        config_path = self._write_config(spec)
        log_path = os.path.join(self.workdir, f"{spec.name}.log")
        process = _NodeProcess(spec.name, log_path)
        args = [
            "ip",
            "netns",
            "exec",
            namespace_name(spec.name),
            *twistd_command(),
            "-n",
            "--pidfile=",
            f"vanet-{spec.role}",
            "--config",
            config_path,
        ]
        ip = shutil.which("ip") or "/usr/sbin/ip"
        self.transports[spec.name] = self.reactor.spawnProcess(
            process, ip, args, env=dict(os.environ), path=self.workdir
        )
        self.processes[spec.name] = process
        process.ended.addCallback(self._ended, spec.name)

    def _ended(self, code, name: str) -> None:
        if self.running:
            self.log.error(
                "node {name} exited with status {code}; its log: {log}",
                name=name,
                code=code,
                log=os.path.join(self.workdir or "", f"{name}.log"),
            )

    @defer.inlineCallbacks
    def stopService(self):
        super().stopService()
        if self._feed is not None:
            self._feed.stop()
        if self.mobility is not None:
            self.mobility.stop()
        ended = []
        for name, transport in self.transports.items():
            process = self.processes[name]
            if process.exit_code is None and not process.ended.called:
                try:
                    transport.signalProcess("TERM")
                except Exception:
                    pass
                ended.append(process.ended)
        if ended:
            timeout = self.reactor.callLater(STOP_GRACE_S, self._kill_all)
            yield defer.DeferredList(ended)
            if timeout.active():
                timeout.cancel()
        self.medium.stop()
        for packet_port in self.relays.values():
            packet_port.stopListening()
        self.relays.clear()
        for name in self.topology.nodes:
            try:
                destroy_node_network(name)
            except Exception as error:  # keep tearing the rest down
                self.log.error(
                    "cannot remove {name}'s namespace: {error}", name=name, error=error
                )
        if self.workdir and not os.environ.get("VANET_SIM_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _kill_all(self) -> None:
        for name, transport in self.transports.items():
            if self.processes[name].exit_code is None:
                try:
                    transport.signalProcess(signal.SIGKILL)
                except Exception:
                    pass

    # -- ISimulation (the rest is SimulationBase's) ------------------------------

    def node_list(self) -> list[dict]:
        return [
            {
                "name": name,
                "role": spec.role,
                "mac": format_mac(spec.mac),
                "namespace": namespace_name(name),
                "tap_address": spec.config.get("tap", {}).get("address"),
                "running": name in self.processes
                and self.processes[name].exit_code is None,
            }
            for name, spec in self.topology.nodes.items()
        ]

    def add_route_listener(self, listener: Callable[[str, str, dict], None]) -> None:
        """Call ``listener(node, event, fields)`` when a vehicle's pushed
        status shows its upstream or gateway changed (the web view pushes
        at once); the events are ``route_changes``', read from the statuses
        the nodes push at once after such a change."""
        self._route_listeners.append(listener)

    def _route_changed(self, node: str, event: str, fields: dict) -> None:
        for listener in self._route_listeners:
            listener(node, event, fields)

    @property
    def status_cache(self) -> dict[str, dict]:
        """Each node's status as it last pushed it (``{}``: not yet)."""
        return self._feed.statuses if self._feed is not None else {}

    def gateways(self) -> dict[str, Any]:
        # as each node last pushed it: at once after a change
        return {
            name: self.status_cache.get(name, {}).get("gateway")
            for name, spec in self.topology.nodes.items()
            if spec.role == "obu"
        }

    def node_statuses(self) -> dict[str, Mapping[str, Any]]:
        # As pushed: a route change at once, the rest up to a second old.
        return {name: self.status_cache.get(name, {}) for name in self.topology.nodes}
