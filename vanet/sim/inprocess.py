"""The in-process simulation: every node in one reactor, over the channel
model, built from the same components as the twistd services.

Each node is a ``NodeService`` (the very class ``twistd vanet-rsu`` runs)
whose link port is the ``ChannelMedium``'s own ``ChannelPort`` (the fused
link; a ``MemoryPort`` on it with ``fused_link=False``) and whose TAP
is a ``MemoryTap``; traffic generators inject test frames into TAPs and
count what comes out of the others.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from twisted.application import service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from zope.interface import implementer

from vanet.discovery import UnknownStrategyError, load_strategy
from vanet.identity import Identity, TrustStore
from vanet.mac import BROADCAST, format_mac
from vanet.node.config import ConfigError, node_config_from_mapping
from vanet.node.factory import NodeFactory
from vanet.node.service import NodeService
from vanet.sim.api import ISimulation
from vanet.sim.base import SimulationBase
from vanet.sim.channel import ChannelMedium
from vanet.sim.topology import SimConfigError, Topology
from vanet.sim.traffic import FlowStats
from vanet.tap.memory import MemoryTap
from vanet.transport.memory import MemoryPort

#: traffic receivers announce themselves (a broadcast from their TAP) this often
ANNOUNCE_INTERVAL_S = 60.0
ANNOUNCE_ETHERTYPE = b"\x88\xb6"

#: traffic starts after this many heartbeat periods, once routes exist
WARMUP_PERIODS = 2.5


@implementer(ISimulation)
class Simulation(SimulationBase, service.MultiService):
    """A running in-process simulation of a ``Topology``."""

    def __init__(
        self, topology: Topology, clock: IReactorTime, fused_link: bool = True
    ) -> None:
        """``fused_link``: each node's port is the channel's own
        ``ChannelPort`` (the fast path); ``False``: a ``MemoryPort``
        attached to it (the general path, same frames at the same times)."""
        super().__init__()
        self.topology = topology
        self.fused_link = fused_link
        self.clock = clock
        self.medium = ChannelMedium(clock, topology.sim.seed, dict(topology.links))
        self.flow_stats = FlowStats()
        self.setup_mobility(clock)
        self.nodes: dict[str, NodeService] = {}
        self._strategies: dict[str, object] = {}  # plugins found, by name
        self._traffic_loops: list[LoopingCall] = []
        self._route_listeners: list[Callable[[str, str, dict], None]] = []
        self.started_at: float | None = None
        self._keys = _in_memory_keys(topology) if topology.sim.authenticate else {}
        for spec in topology.nodes.values():
            self._add_node(spec)
        self.warmup_s = (
            WARMUP_PERIODS
            * max(
                (node.config.routing.hello_period_ms for node in self.nodes.values()),
                default=1000,
            )
            / 1000.0
        )
        for flow in topology.flows:
            self.flow_stats.add_flow(
                flow.name,
                self.nodes[flow.src].config.tap.mac,
                self.nodes[flow.dst].config.tap.mac,
                flow.size,
                flow.rate_per_s,
            )

    def _add_node(self, spec) -> None:
        mapping = spec.node_config()
        mapping.setdefault("link", {})["transport"] = "memory"
        mapping.setdefault("control", {}).setdefault("listen", "none")
        source = f"{self.topology.source or '<topology>'}: [node:{spec.name}]"
        identity = trust = None
        if self._keys:
            mapping.setdefault("security", {})["authenticate"] = "yes"
            identity, trust = self._keys[spec.name]
        try:
            config = node_config_from_mapping(
                mapping, source, spec.role, keys_given=bool(self._keys)
            )
            name = config.routing.strategy
            strategy = self._strategies.get(name)
            if strategy is None:
                try:
                    strategy = self._strategies[name] = load_strategy(name)
                except UnknownStrategyError as error:
                    raise SimConfigError(
                        f"{source} routing.strategy: {error}"
                    ) from None
            factory = NodeFactory(
                config,
                strategy=strategy,
                identity=identity,
                trust=trust,
                link_quality=self._link_quality(spec.name),
            )
        except (ConfigError, ValueError) as error:
            raise SimConfigError(str(error)) from None
        medium = self.medium
        if self.fused_link:
            open_port = medium.open_port  # the fused link (ChannelPort)
        else:

            def open_port(name: str, mac: bytes) -> MemoryPort:
                return MemoryPort(name, mac, medium)

        stats = self.flow_stats
        clock = self.clock
        mac = config.node.mac
        own_tap_mac = config.tap.mac  # [tap] mac, or derived from the name

        def on_tap_write(frame: bytes) -> None:
            stats.on_received(frame, clock.seconds(), own_tap_mac)

        node = NodeService(
            factory,
            reactor=clock,
            open_port=lambda config: open_port(config.node.name, mac),
            open_tap=lambda config: MemoryTap(
                config.tap.name, own_tap_mac, on_tap_write
            ),
        )
        node.setServiceParent(self)
        self.nodes[spec.name] = node

    def _link_quality(self, name: str):
        """The node's ``ILinkQuality``: the radio from positions with
        ``[mobility]``; without it no radio reports RSSI (``None``)."""
        if self.mobility is None:
            return None
        names = getattr(self, "_link_names", None)
        if names is None:
            names = self._link_names = {
                spec.mac: n for n, spec in self.topology.nodes.items()
            }
        return self.mobility.link_quality_of(name, names)

    # -- running -------------------------------------------------------------

    def startService(self) -> None:
        if self.mobility is not None:
            self.mobility.start()
        super().startService()
        self.started_at = self.clock.seconds()
        for name, node in self.nodes.items():
            if node.engine is not None:
                node.engine.route_listeners.append(self._route_event_of(name))
        if self.topology.flows:
            self.clock.callLater(self.warmup_s, self._start_traffic)

    def add_route_listener(self, listener: Callable[[str, str, dict], None]) -> None:
        """Call ``listener(node, event, fields)`` for each route event of
        every node (the web view pushes upstream changes at once)."""
        self._route_listeners.append(listener)

    def _route_event_of(self, name: str) -> Callable[[str, dict], None]:
        listeners = self._route_listeners

        def heard(event: str, fields: dict) -> None:
            for listener in listeners:
                listener(name, event, fields)

        return heard

    def _announce_receivers(self) -> None:
        # A real host on a TAP speaks (ARP, ...) now and then, which is how
        # the RSU learns behind which vehicle it lives (docs/protocol.md §7);
        # without it every frame for it is copied to every vehicle.
        for name in sorted({flow.dst for flow in self.topology.flows}):
            own = self.nodes[name].config.tap.mac
            self.nodes[name].tap.inject(
                BROADCAST + own + ANNOUNCE_ETHERTYPE + bytes(46)
            )

    def _start_traffic(self) -> None:
        announce = LoopingCall(self._announce_receivers)
        announce.clock = self.clock
        announce.start(ANNOUNCE_INTERVAL_S, now=True)
        self._traffic_loops.append(announce)
        for flow_spec in self.topology.flows:
            flow = self.flow_stats.flow(flow_spec.name)
            tap = self.nodes[flow_spec.src].tap
            counter = iter(range(1 << 62))

            def send(flow=flow, tap=tap, counter=counter) -> None:
                tap.inject(flow.make_frame(next(counter), self.clock.seconds()))

            loop = LoopingCall(send)
            loop.clock = self.clock
            loop.start(flow.interval_s, now=True)
            self._traffic_loops.append(loop)

    def stop_traffic(self) -> None:
        for loop in self._traffic_loops:
            if loop.running:
                loop.stop()
        self._traffic_loops.clear()

    def stopService(self):
        self.stop_traffic()
        if self.mobility is not None:
            self.mobility.stop()
        return super().stopService()

    # -- ISimulation (the rest is SimulationBase's) ------------------------------

    def engine(self, name: str):
        return self.nodes[name].engine

    def node_list(self) -> list[dict]:
        return [
            {
                "name": name,
                "role": node.config.role,
                "mac": format_mac(node.config.node.mac),
                "tap_mac": format_mac(node.config.tap.mac),
                "tap_address": node.config.tap.address,
                "strategy": node.config.routing.strategy,
            }
            for name, node in self.nodes.items()
        ]

    def gateways(self) -> dict[str, Any]:
        return {
            name: node.engine.routing.gateway if node.engine is not None else None
            for name, node in self.nodes.items()
            if node.config.role == "obu"
        }

    def node_statuses(self) -> dict[str, Mapping[str, Any]]:
        return {
            name: node.engine.status() if node.engine is not None else {}
            for name, node in self.nodes.items()
        }


def _in_memory_keys(topology: Topology) -> dict[str, tuple[Identity, TrustStore]]:
    """A fresh key pair per node, and per node a trust store listing them
    all (``[sim] authenticate``). The stores share their entries but not
    their verification caches, so each node verifies what it receives
    itself, as separate machines would."""
    identities = {name: Identity.generate() for name in topology.nodes}
    shared = TrustStore.of(
        {
            spec.mac: (spec.role, identities[name])
            for name, spec in topology.nodes.items()
        }
    )
    return {
        name: (identity, TrustStore(shared.entries, source="<simulation>"))
        for name, identity in identities.items()
    }


def traffic_drain_s(duration_s: float) -> float:
    """How long before the end of a run the generators stop, so that frames
    in flight arrive instead of counting as lost: 1 s, or a tenth of a
    shorter run."""
    return min(1.0, duration_s / 10)


def run_virtual(
    simulation: Simulation,
    duration_s: float,
    step_s: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Run a simulation on its ``VirtualClock`` for ``duration_s`` simulated
    seconds as fast as possible; traffic stops one second before the end so
    frames in flight can arrive."""
    clock = simulation.clock
    start = clock.seconds()
    simulation.startService()
    end = start + duration_s
    clock.callLater(
        max(0.0, duration_s - traffic_drain_s(duration_s)), simulation.stop_traffic
    )
    t = start
    with _fewer_collections():
        while t < end:
            t = min(end, t + step_s)
            clock.run_until(t)
            if progress is not None:
                progress(t - start)


#: gen-0 collection threshold while a virtual run is going (CPython: 700)
VIRTUAL_RUN_GC_THRESHOLD = 50_000


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect garbage less often during a virtual run, restored after it.

    Every frame allocates a few short-lived objects and few of them form
    cycles, so CPython's default (a collection every 700 allocations, each
    scanning what survived) spends ~5% of a large run walking the
    simulation's long-lived graph; freezing that graph keeps it out of
    every collection."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], VIRTUAL_RUN_GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
