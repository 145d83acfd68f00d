"""``ISimulation`` answered once for both modes, from each node's status.

The in-process and netns simulations differ only in how they reach a
node's status (its engine, or its control endpoint's ``/status``) and what
they say about a node; everything the HTTP API and the final report show is
built here from those, so ``/api/v1/node_info``, ``/stats``, ``/topology``
and ``/metrics`` mean the same in both modes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from twisted.logger import Logger

from vanet.mac import format_mac
from vanet.node.metrics import MetricsWriter, add_node_status
from vanet.sim.channel import ChannelMedium
from vanet.sim.handovers import HandoverTracker
from vanet.sim.mobility.driver import MobilityDriver
from vanet.sim.mobility.settings import build_model
from vanet.sim.reports import (
    network_graph,
    node_info_table,
    node_stats_entry,
    sim_metrics,
)
from vanet.sim.topology import Topology
from vanet.sim.traffic import FlowStats


class SimulationBase:
    """The ``ISimulation`` methods both modes share.

    A subclass sets ``topology``, ``medium`` and ``flow_stats``, calls
    ``setup_mobility`` once they are set (and ``mobility.start()`` and
    ``stop()`` with the nodes), and implements ``node_list()`` and
    ``node_statuses()``.
    """

    log = Logger()

    topology: Topology
    medium: ChannelMedium
    flow_stats: FlowStats
    #: positions and the radio from them; ``None`` without ``[mobility]``
    mobility: MobilityDriver | None = None
    #: vehicles' gateway changes, sampled at each radio update
    handovers: HandoverTracker | None = None

    def setup_mobility(self, clock) -> None:
        """Positions and radio links, if the topology has ``[mobility]``."""
        settings = self.topology.mobility
        if settings is None:
            return
        nodes = self.topology.nodes
        model = build_model(
            settings,
            {name: spec.role for name, spec in nodes.items()},
            {name: spec.position for name, spec in nodes.items() if spec.position},
            self.topology.sim.seed,
            self.topology.source.parent if self.topology.source else None,
        )
        self.mobility = MobilityDriver(
            model,
            self.topology.radio,
            self.medium,
            clock,
            nodes,
            settings.step_ms,
            pinned=self.topology.links,
        )
        self.handovers = HandoverTracker(self.topology.radio.update_ms / 1000.0)
        self.mobility.observers.append(
            lambda: self.handovers.observe(clock.seconds(), self.gateways())
        )

    def gateways(self) -> dict[str, Any]:
        """Each vehicle's gateway RSU now (``None``: none), by name; a mode
        reads it where it is cheapest."""
        raise NotImplementedError

    # -- what a mode provides --------------------------------------------------

    def node_list(self) -> list[dict]:
        """``ISimulation.node_list``."""
        raise NotImplementedError

    def node_statuses(self) -> dict[str, Mapping[str, Any]]:
        """Each node's status as its control endpoint serves it
        (``NodeEngine.status()``), by name; ``{}`` for a node not up."""
        raise NotImplementedError

    def stop_traffic(self) -> None:
        """Stop the traffic generators (a mode without them has none)."""

    # -- shared -------------------------------------------------------------------

    def node_name(self, mac_text: str | None) -> str | None:
        """The node whose link MAC is ``mac_text`` (``aa:bb:..``), if any."""
        return self._names_by_mac.get(mac_text) if mac_text else None

    @functools.cached_property
    def _names_by_mac(self) -> dict[str, str]:
        return {
            format_mac(spec.mac): name for name, spec in self.topology.nodes.items()
        }

    def _identities(self) -> list[dict[str, str]]:
        return [
            {"name": name, "role": spec.role, "mac": format_mac(spec.mac)}
            for name, spec in self.topology.nodes.items()
        ]

    def node_info(self) -> list[dict]:
        table = node_info_table(
            self._identities(), self.node_statuses(), self.node_name
        )
        if self.mobility is not None:
            add_positions(table, self.mobility, self.handovers)
        return table

    def node_status(self, name: str) -> dict:
        """``ISimulation.node_status``."""
        if name not in self.topology.nodes:
            raise KeyError(name)
        return dict(self.node_statuses().get(name, {}))

    def _stats(self, statuses: Mapping[str, Mapping[str, Any]]) -> dict:
        result: dict[str, Any] = {
            name: node_stats_entry(statuses.get(name, {}), self.medium.node_stats(name))
            for name in self.topology.nodes
        }
        result["flows"] = self.flow_stats.summary()
        result["traffic"] = self.flow_stats.totals()
        return result

    def stats(self) -> dict:
        return self._stats(self.node_statuses())

    def channels(self) -> list[dict]:
        return self.medium.channel_table()

    def set_channel(self, a: str, b: str, **params: float) -> dict:
        for name in (a, b):
            if name not in self.topology.nodes:
                raise KeyError(name)
        if self.mobility is not None:
            self.mobility.pin(a, b)  # the user's now, not the radio's
        new = self.medium.set_params(a, b, **params)
        self.log.info("channel {a} -> {b} now {params}", a=a, b=b, params=new.as_dict())
        return {"from": a, "to": b, **new.as_dict()}

    def positions(self) -> dict:
        """``GET /api/v1/positions``: ``{name: {x, y, speed, heading}}`` of every
        placed node (``{}`` without ``[mobility]``)."""
        if self.mobility is None:
            return {}
        return {
            name: position.as_dict()
            for name, position in self.mobility.positions().items()
        }

    def set_position(self, name: str, x: float, y: float) -> dict:
        """``POST /node/NAME/position``: move a fixed node. ``KeyError`` for
        an unknown node; ``ValueError`` saying why it cannot move."""
        if name not in self.topology.nodes:
            raise KeyError(name)
        if self.mobility is None:
            raise ValueError("this simulation has no [mobility] section")
        self.mobility.set_position(name, x, y)
        self.log.info("node {name} moved to ({x}, {y})", name=name, x=x, y=y)
        return {"name": name, **self.mobility.positions()[name].as_dict()}

    def road(self) -> dict:
        """``GET /api/v1/road``: ``{"polylines": [[[x, y], ...], ...]}``, the
        lanes of the road the mobility model knows (metres, the positions'
        plane), with ``lanes``, ``lane_width_m`` where they apply;
        ``{"polylines": []}`` without ``[mobility]`` or without a road."""
        if self.mobility is None:
            return {"polylines": []}
        return self.mobility.road()

    def fading(self) -> dict:
        """``GET /fading``: the radio's model and parameters."""
        if self.mobility is None:
            return {"model": None}
        return self.mobility.describe()

    def topology_graph(self) -> dict:
        """NetJSON NetworkGraph of the nodes and the configured links."""
        return network_graph(
            self.node_list(),
            self.channels(),
            label=str(self.topology.source or "vanet simulation"),
        )

    def metrics(self) -> str:
        statuses = self.node_statuses()
        text = sim_metrics(
            self._stats(statuses), self.channels(), self.flow_stats.summary()
        )
        writer = MetricsWriter()
        for status in statuses.values():
            if status:
                add_node_status(writer, dict(status))
        return text + writer.render()

    def report(self) -> dict:
        """What a run shows at its end: upstreams, round trips, traffic."""
        return {
            "node_info": self.node_info(),
            "flows": self.flow_stats.summary(),
            "traffic": self.flow_stats.totals(),
        }


def add_positions(
    table: list[dict], mobility: MobilityDriver, handovers: HandoverTracker
) -> None:
    """``/api/v1/node_info`` entries gain ``position``, a vehicle's its
    ``handovers``; an upstream gains the ``distance_m`` and ``rssi_dbm`` of
    the link to it."""
    positions = mobility.positions()
    for entry in table:
        position = positions.get(entry["name"])
        entry["position"] = None if position is None else position.as_dict()
        if entry["role"] == "obu":
            entry["handovers"] = handovers.count(entry["name"])
        upstream = entry.get("upstream")
        if upstream and upstream.get("node"):
            quality = mobility.link_quality(entry["name"], upstream["node"])
            upstream.update(quality or {"distance_m": None, "rssi_dbm": None})
