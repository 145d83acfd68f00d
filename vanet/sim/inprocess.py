"""The in-process simulation: every node in one reactor, over the channel
model, built from the same components as the twistd services.

Each node is a ``NodeService`` (the very class ``twistd vanet-rsu`` runs)
whose link port is a ``MemoryPort`` on the ``ChannelMedium`` and whose TAP
is a ``MemoryTap``; traffic generators inject test frames into TAPs and
count what comes out of the others.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from twisted.application import service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from vanet.discovery import UnknownStrategyError, load_strategy
from vanet.mac import BROADCAST, format_mac, stable_local_mac
from vanet.node.config import ConfigError, node_config_from_mapping
from vanet.node.factory import NodeFactory
from vanet.node.metrics import MetricsWriter, add_node_status
from vanet.node.service import NodeService
from vanet.sim.api import ISimulation
from vanet.sim.channel import ChannelMedium
from vanet.sim.loader import SimConfigError
from vanet.sim.reports import (
    network_graph,
    node_info_entry,
    node_stats_entry,
    sim_metrics,
)
from vanet.sim.topology import Topology
from vanet.sim.traffic import FlowStats
from vanet.tap.memory import MemoryTap
from vanet.transport.memory import MemoryPort

#: traffic receivers announce themselves (a broadcast from their TAP) this often
ANNOUNCE_INTERVAL_S = 60.0
ANNOUNCE_ETHERTYPE = b"\x88\xb6"

#: traffic starts after this many heartbeat periods, once routes exist
WARMUP_PERIODS = 2.5


def tap_mac(name: str) -> bytes:
    """The MAC of a simulated node's TAP (the host side's address)."""
    return stable_local_mac(f"tap:{name}")


class Simulation(service.MultiService):
    """A running in-process simulation of a ``Topology``."""

    log = Logger()

    def __init__(self, topology: Topology, clock: IReactorTime) -> None:
        super().__init__()
        self.topology = topology
        self.clock = clock
        self.medium = ChannelMedium(clock, topology.sim.seed, dict(topology.links))
        self.flow_stats = FlowStats()
        self.nodes: dict[str, NodeService] = {}
        self._strategies: dict[str, object] = {}  # plugins found, by name
        self._names_by_mac: dict[bytes, str] = {}
        self._traffic_loops: list[LoopingCall] = []
        self.started_at: float | None = None
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
                tap_mac(flow.src),
                tap_mac(flow.dst),
                flow.size,
                flow.rate_per_s,
            )

    def _add_node(self, spec) -> None:
        mapping = spec.node_config()
        mapping.setdefault("link", {})["transport"] = "memory"
        mapping.setdefault("control", {}).setdefault("listen", "none")
        source = f"{self.topology.source or '<topology>'}: [node:{spec.name}]"
        try:
            config = node_config_from_mapping(mapping, source, spec.role)
            name = config.routing.strategy
            strategy = self._strategies.get(name)
            if strategy is None:
                try:
                    strategy = self._strategies[name] = load_strategy(name)
                except UnknownStrategyError as error:
                    raise SimConfigError(
                        f"{source} routing.strategy: {error}"
                    ) from None
            factory = NodeFactory(config, strategy=strategy)
        except (ConfigError, ValueError) as error:
            raise SimConfigError(str(error)) from None
        medium = self.medium
        stats = self.flow_stats
        clock = self.clock
        mac = config.node.mac
        own_tap_mac = tap_mac(spec.name)

        def on_tap_write(frame: bytes) -> None:
            stats.on_received(frame, clock.seconds(), own_tap_mac)

        node = NodeService(
            factory,
            reactor=clock,
            open_port=lambda config: MemoryPort(config.node.name, mac, medium),
            open_tap=lambda config: MemoryTap(
                config.tap.name, tap_mac(spec.name), on_tap_write
            ),
        )
        node.setServiceParent(self)
        self.nodes[spec.name] = node
        self._names_by_mac[mac] = spec.name

    # -- running -------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self.started_at = self.clock.seconds()
        if self.topology.flows:
            self.clock.callLater(self.warmup_s, self._start_traffic)

    def _announce_receivers(self) -> None:
        # A real host on a TAP speaks (ARP, ...) now and then, which is how
        # the RSU learns behind which vehicle it lives (docs/protocol.md §7);
        # without it every frame for it is copied to every vehicle.
        for name in sorted({flow.dst for flow in self.topology.flows}):
            own = tap_mac(name)
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
        return super().stopService()

    # -- ISimulation ------------------------------------------------------------

    def engine(self, name: str):
        return self.nodes[name].engine

    def node_name(self, mac_text: str | None) -> str | None:
        if mac_text is None:
            return None
        return self._names_by_mac.get(bytes.fromhex(mac_text.replace(":", "")))

    def nodes_list(self) -> list[dict]:
        return [
            {
                "name": name,
                "role": node.config.role,
                "mac": format_mac(
                    node.engine.mac if node.engine else node.config.node.mac
                ),
                "tap_mac": format_mac(tap_mac(name)),
                "tap_address": node.config.tap.address,
                "strategy": node.config.routing.strategy,
            }
            for name, node in self.nodes.items()
        ]

    def node_info(self) -> list[dict]:
        now = self.clock.seconds()
        return [
            node_info_entry(
                name,
                node.config.role,
                format_mac(node.engine.mac),
                node.engine.routing.status(now),
                self.node_name,
            )
            for name, node in self.nodes.items()
        ]

    def stats(self) -> dict:
        result: dict[str, Any] = {
            name: node_stats_entry(node.engine.status(), self.medium.node_stats(name))
            for name, node in self.nodes.items()
        }
        result["flows"] = self.flow_stats.summary()
        result["traffic"] = self.flow_stats.totals()
        return result

    def channels(self) -> list[dict]:
        return self.medium.channel_table()

    def set_channel(self, a: str, b: str, **params) -> dict:
        for name in (a, b):
            if name not in self.nodes:
                raise KeyError(name)
        new = self.medium.set_params(a, b, **params)
        self.log.info("channel {a} -> {b} now {params}", a=a, b=b, params=new.as_dict())
        return {"from": a, "to": b, **new.as_dict()}

    def topology_graph(self) -> dict:
        """NetJSON NetworkGraph of the configured links."""
        return network_graph(
            self.nodes_list(),
            self.medium.channel_table(),
            label=str(self.topology.source or "vanet simulation"),
        )

    def metrics(self) -> str:
        text = sim_metrics(
            self.stats(), self.medium.channel_table(), self.flow_stats.summary()
        )
        writer = MetricsWriter()
        for node in self.nodes.values():
            add_node_status(writer, node.engine.status())
        return text + writer.render()

    def report(self) -> dict:
        """What a run shows at its end: upstreams, traffic, channel drops."""
        return {
            "node_info": self.node_info(),
            "flows": self.flow_stats.summary(),
            "traffic": self.flow_stats.totals(),
        }


# ``Simulation.nodes`` and ``.topology`` hold the services and the input,
# so the HTTP API talks to this adapter.
@implementer(ISimulation)
class SimulationView:
    """The ``ISimulation`` face of a ``Simulation`` for the HTTP API."""

    def __init__(self, simulation: Simulation) -> None:
        self._sim = simulation
        self.node_info = simulation.node_info
        self.stats = simulation.stats
        self.channels = simulation.channels
        self.set_channel = simulation.set_channel
        self.metrics = simulation.metrics

    def nodes(self) -> list[dict]:
        return self._sim.nodes_list()

    def topology(self) -> dict:
        return self._sim.topology_graph()


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
