"""The simulator's web view: the page at ``/``, its files under ``/ui/``
and its live updates at ``/events``, beside the HTTP API on one site.

Everything the page shows comes from the same ``ISimulation`` methods the
API answers with under ``/api/v1`` (``nodes``, ``node_info`` with its
positions, ``channels``, ``stats``), pushed together as one snapshot
every ``PUSH_INTERVAL_S`` and at once when a vehicle's upstream changes
(the simulation's ``add_route_listener``: in netns mode, as the nodes'
pushed statuses show it); the
road (``/api/v1/road``, which does not change) the page fetches once; a
node's full status is the API's ``/node/NAME``, and link edits are the
API's ``POST /channel/A/B``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.web import resource
from twisted.web.iweb import IRequest

from vanet.web.assets import Asset, Assets, wants_html
from vanet.web.layout import graph_layout
from vanet.web.stream import UPSTREAM_EVENTS, EventStream

#: seconds between two snapshots pushed to the open pages
PUSH_INTERVAL_S = 0.5


def _position(node: Mapping[str, Any]) -> tuple[float, float] | None:
    """A node's own position (``x``, ``y``, or ``position: {x, y}``), when
    the simulation knows one."""
    where = node.get("position")
    source = where if isinstance(where, Mapping) else node
    x, y = source.get("x"), source.get("y")
    for value in (x, y):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value):
            return None
    return float(x), float(y)


class SimulationView:
    """Builds the snapshot the simulator's page draws."""

    def __init__(self, simulation: Any, clock: IReactorTime) -> None:
        self.simulation = self._sim = simulation
        self._clock = clock
        self._started = clock.seconds()
        self._layout_key: tuple | None = None
        self._layout: dict[str, tuple[float, float]] = {}
        self._title: str | None = None

    def layout(
        self, names: list[str], channels: list[Mapping[str, Any]]
    ) -> dict[str, tuple[float, float]]:
        """The graph layout over every configured link, cut or not (cutting
        a link must not move the nodes); recomputed only when the set of
        nodes or links changes."""
        pairs = frozenset(
            frozenset((c["from"], c["to"]))
            for c in channels
            if c.get("from") != c.get("to")
        )
        key = (tuple(names), pairs)
        if key != self._layout_key:
            edges = sorted(tuple(sorted(pair)) for pair in pairs)
            self._layout = graph_layout(names, edges)
            self._layout_key = key
        return self._layout

    def title(self) -> str:
        if self._title is None:
            label = self._sim.topology_graph().get("label")
            self._title = str(label or "vanet simulation")
        return self._title

    def snapshot(self) -> dict[str, Any]:
        nodes = self._sim.node_list()
        channels = self._sim.channels()
        stats = dict(self._sim.stats())
        flows = stats.pop("flows", {})
        traffic = stats.pop("traffic", None)
        names = [node["name"] for node in nodes]
        layout = self.layout(names, channels)
        node_info = self._sim.node_info()
        # A node's position: in /nodes, or in /node_info (with [mobility]).
        positions = {}
        for node in [*node_info, *nodes]:
            where = _position(node)
            if where is not None and node.get("name") in names:
                positions[node["name"]] = where
        return {
            "title": self.title(),
            "time_s": round(self._clock.seconds() - self._started, 3),
            "nodes": nodes,
            "layout": layout,
            "positions": positions,
            "node_info": node_info,
            "channels": channels,
            "node_stats": {name: stats.get(name, {}) for name in names},
            "flows": flows,
            "traffic": traffic,
        }


class SimulationSite(resource.Resource):
    """The site's root: ``/`` (the page to a browser), ``/ui/...``,
    ``/events``; every other path is the API's (``api``, a leaf that reads
    the whole path itself)."""

    def __init__(
        self, api: resource.IResource, view: SimulationView, clock: IReactorTime
    ) -> None:
        super().__init__()
        self._api = api
        self._page = Asset("sim.html")
        self.events = EventStream(view.snapshot, clock, PUSH_INTERVAL_S)
        self.putChild(b"ui", Assets())
        self.putChild(b"events", self.events)
        # Both simulations say when a route changes (pushed at once); one
        # without add_route_listener is read at the periodic pushes only.
        subscribe = getattr(view.simulation, "add_route_listener", None)
        if subscribe is not None:
            subscribe(self._route_event)

    def _route_event(self, node: str, event: str, fields: Mapping) -> None:
        if event in UPSTREAM_EVENTS:
            self.events.push_soon()

    def getChild(self, path: bytes, request: IRequest) -> resource.IResource:
        if path == b"" and not request.postpath and wants_html(request):
            return self._page
        # Not ours: give the segment back, the API routes on the full path.
        request.postpath.insert(0, request.prepath.pop())
        return self._api


def simulation_site_root(
    simulation: Any, api: resource.IResource, clock: IReactorTime | None = None
) -> SimulationSite:
    """The root resource serving the web view and ``api`` for ``simulation``
    (an ``ISimulation``)."""
    if clock is None:
        from twisted.internet import reactor as clock
    return SimulationSite(api, SimulationView(simulation, clock), clock)
