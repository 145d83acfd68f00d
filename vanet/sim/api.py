"""The simulator's HTTP API: JSON under ``/api/v1/...`` and at the root.

``/api/v1/...`` answers in our shapes, listed here. The root answers the
same, except ``/node_info`` and ``/positions``: those promise the older
implementation's API and answer in its shapes (``vanet.sim.api_compat``).

=======  =====================  ==============================================
GET      /nodes                 every node (name, role, mac, ...)
GET      /node_info             role, mac; a vehicle's gateway, upstream
                                (mac, node, hops) and rtt_ms
GET      /node/NAME             one node's status, as its control endpoint
                                serves it
GET      /stats                 per node frames/bytes in and out, drops
GET      /channels              every directed link, parameters and counters
GET      /channel/A/B           one directed link
POST     /channel/A/B           change A -> B: ``{"latency_ms", "jitter_ms",
                                "loss"}`` (any subset), or the older string
                                form ``{"latency": "100", "loss": "0.0",
                                "jitter": "0"}``
GET      /topology              NetJSON NetworkGraph
GET      /metrics               Prometheus text format 0.0.4
GET      /positions             ``{name: {x, y, speed, heading}}``
POST     /node/NAME/position    move a fixed node: ``{"x": .., "y": ..}``
GET      /fading                the radio model and its parameters
GET      /road                  the road's lanes: ``{"polylines": [[[x, y],
                                ...], ...]}`` in metres (``[]`` without)
=======  =====================  ==============================================

The web view (``vanet.web.sim``) shares the site: a browser asking for
``/`` gets its page; ``/ui/...`` and ``/events`` are the view's.
The mobility endpoints live in ``vanet.sim.api_mobility``.

Errors are JSON ``{"error": "..."}``: 400 for a bad request, 404 for an
unknown path or node, 405 (with ``Allow``) for a wrong method. The API sees
the simulation only through ``ISimulation``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.web import resource, server
from twisted.web.iweb import IRequest
from zope.interface import Interface

from vanet.node.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from vanet.sim.api_compat import root_getters
from vanet.sim.api_mobility import mobility_getters, post_position
from vanet.web.sim import simulation_site_root

log = Logger()

API_PREFIX = ("api", "v1")
JSON_TYPE = b"application/json"
METRICS_TYPE = METRICS_CONTENT_TYPE.encode()  # text/plain; version=0.0.4
MAX_BODY = 64 * 1024

# POST /channel/A/B keys: ours, then the older simulator's names for them.
CHANNEL_KEYS = {
    "latency_ms": "latency_ms",
    "jitter_ms": "jitter_ms",
    "loss": "loss",
    "latency": "latency_ms",
    "jitter": "jitter_ms",
}


class ISimulation(Interface):
    """What the HTTP API needs of a running simulation.

    Every method is called in the reactor thread and must answer at once.
    Values are JSON-ready (str, numbers, bool, None, lists, dicts); MACs are
    ``aa:bb:cc:dd:ee:ff`` strings.
    """

    # ``node_list`` and ``topology_graph``, not ``nodes`` and ``topology``:
    # a simulation keeps its node services and its input under those names.

    def node_list() -> list[dict]:
        """``GET /nodes``: one dict per node, at least ``name``, ``role``
        (rsu | obu), ``mac``."""

    def node_info() -> list[dict]:
        """``GET /api/v1/node_info``: one dict per node: ``name``, ``role``,
        ``mac``; for an OBU ``gateway`` (MAC), ``gateway_node`` (name),
        ``upstream``: ``{"mac", "node" (name or None), "hops"}`` or ``None``
        while it has none, and ``rtt_ms``: the round trip its gateway RSU
        measures for it (``vanet.sim.reports.RTT_MEANING``), or ``None``."""

    def node_status(name) -> dict:
        """``GET /node/NAME``: the node's status as its control endpoint's
        ``/status`` shows it (``{}`` while it is not up); ``KeyError`` for
        an unknown name."""

    def stats() -> dict:
        """``{node name: {"frames_in", "bytes_in", "frames_out",
        "bytes_out", "drops": {reason: count}, ...}}``, plus whatever else
        the simulation counts (e.g. ``"flows"``)."""

    def channels() -> list[dict]:
        """One dict per directed link: ``from``, ``to``, ``latency_ms``,
        ``jitter_ms``, ``loss`` and counters."""

    def set_channel(a, b, **params) -> dict | None:
        """Change some of ``latency_ms``, ``jitter_ms``, ``loss`` (floats)
        of the link a -> b, creating it if absent. Raise ``KeyError`` if a
        or b is not a node, ``ValueError`` for a bad value. May return the
        link's new description (as in ``channels()``)."""

    def topology_graph() -> dict:
        """``GET /topology``: the network as a NetJSON NetworkGraph."""

    def metrics() -> str:
        """Prometheus text exposition (format 0.0.4)."""


class _HTTPError(Exception):
    def __init__(self, code: int, message: str, allow: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.allow = allow


def _number(key: str, value: Any) -> float:
    """A JSON number, or a numeric string as the older API sent them."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _HTTPError(400, f"{key} must be a number, got {json.dumps(value)}")
    try:
        number = float(value)
    except ValueError:
        raise _HTTPError(
            400, f"{key} must be a number, got {json.dumps(value)}"
        ) from None
    if not math.isfinite(number):
        raise _HTTPError(400, f"{key} must be a finite number, got {json.dumps(value)}")
    return number


def json_body(request: IRequest, example: str) -> Any:
    """A POST's JSON body (at most ``MAX_BODY`` bytes); 400 otherwise."""
    raw = request.content.read(MAX_BODY + 1) if request.content else b""
    if len(raw) > MAX_BODY:
        raise _HTTPError(400, f"the body is larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _HTTPError(400, f"the body must be JSON, e.g. {example}") from None


def channel_changes(body: Any) -> dict[str, float]:
    """The ``set_channel`` arguments of a POST body; ``_HTTPError`` 400 for
    anything else."""
    if not isinstance(body, dict):
        raise _HTTPError(400, "the body must be a JSON object")
    changes: dict[str, float] = {}
    for key, value in body.items():
        param = CHANNEL_KEYS.get(key)
        if param is None:
            raise _HTTPError(
                400,
                f"unknown key {key!r}; allowed: latency_ms, jitter_ms, loss "
                "(or latency, jitter, loss)",
            )
        if param in changes:
            raise _HTTPError(400, f"{param} is given twice (as {key!r} too)")
        changes[param] = _number(key, value)
    if not changes:
        raise _HTTPError(400, "nothing to change: give latency_ms, jitter_ms or loss")
    return changes


class SimulationAPI(resource.Resource):
    """The whole API as one leaf resource, routing on the path itself:
    ``/api/v1/x`` and ``/x`` are the same resource, in the older
    implementation's shape at the root for ``node_info`` and ``positions``
    (``vanet.sim.api_compat``)."""

    isLeaf = True

    def __init__(self, simulation: ISimulation) -> None:
        super().__init__()
        self._sim = simulation
        self._get: dict[str, Callable[[], Any]] = {
            "nodes": simulation.node_list,
            "node_info": simulation.node_info,
            "stats": simulation.stats,
            "channels": simulation.channels,
            "topology": simulation.topology_graph,
        }
        self._get.update(mobility_getters(simulation))
        self._root_get = root_getters(self._get)

    def render(self, request: IRequest) -> bytes:
        try:
            return self._route(request)
        except _HTTPError as e:
            if e.allow:
                request.setHeader(b"allow", ", ".join(e.allow).encode())
            return self._json(request, {"error": str(e)}, e.code)
        except Exception:
            log.failure("simulation API request {path} failed", path=request.uri)
            return self._json(request, {"error": "internal error; see the log"}, 500)

    # -- routing -----------------------------------------------------------

    def _segments(self, request: IRequest) -> tuple[list[str], bool]:
        """The path's segments after ``/api/v1``, and whether it had that
        prefix."""
        try:
            segments = [part.decode("utf-8") for part in request.postpath]
        except UnicodeDecodeError:
            raise _HTTPError(400, "the path is not valid UTF-8") from None
        while segments and segments[-1] == "":
            segments.pop()  # a trailing slash
        if tuple(segments[:2]) == API_PREFIX:
            return segments[2:], True
        return segments, False

    def _route(self, request: IRequest) -> bytes:
        method = request.method.decode("ascii", "replace").upper()
        segments, prefixed = self._segments(request)
        getters = self._get if prefixed else self._root_get
        if len(segments) == 1 and segments[0] in getters:
            self._allow(method, ("GET", "HEAD"))
            return self._json(request, getters[segments[0]]())
        if segments == ["metrics"]:
            self._allow(method, ("GET", "HEAD"))
            request.setHeader(b"content-type", METRICS_TYPE)
            return self._sim.metrics().encode()
        if segments == []:
            self._allow(method, ("GET", "HEAD"))
            return self._json(request, {"endpoints": self.endpoints()})
        if len(segments) == 2 and segments[0] == "node":
            self._allow(method, ("GET", "HEAD"))
            try:
                return self._json(request, self._sim.node_status(segments[1]))
            except KeyError:
                raise _HTTPError(404, f"unknown node {segments[1]!r}") from None
        if len(segments) == 3 and segments[0] == "channel":
            a, b = segments[1], segments[2]
            self._allow(method, ("GET", "HEAD", "POST"))
            if method == "POST":
                return self._post_channel(request, a, b)
            return self._json(request, self._channel(a, b))
        if len(segments) == 3 and segments[0] == "node" and segments[2] == "position":
            self._allow(method, ("POST",))
            self._check_origin(request)
            body = json_body(request, '{"x": 500, "y": -10}')
            try:
                return self._json(request, post_position(self._sim, segments[1], body))
            except KeyError:
                raise _HTTPError(404, f"unknown node {segments[1]!r}") from None
            except ValueError as e:
                raise _HTTPError(400, str(e)) from None
        raise _HTTPError(404, f"no such resource; try {', '.join(self.endpoints())}")

    @staticmethod
    def endpoints() -> list[str]:
        return [
            "GET /api/v1/nodes",
            "GET /api/v1/node_info",
            "GET /api/v1/node/NAME",
            "GET /api/v1/stats",
            "GET /api/v1/channels",
            "GET|POST /api/v1/channel/A/B",
            "GET /api/v1/topology",
            "GET /api/v1/metrics",
            "GET /api/v1/positions",
            "POST /api/v1/node/NAME/position",
            "GET /api/v1/fading",
            "GET /api/v1/road",
            "GET /node_info (the older implementation's shape)",
            "GET /positions (the older implementation's shape)",
        ]

    @staticmethod
    def _allow(method: str, allowed: tuple[str, ...]) -> None:
        if method not in allowed:
            raise _HTTPError(
                405, f"method {method} not allowed; use {', '.join(allowed)}", allowed
            )

    def _node_names(self) -> set[str]:
        return {node["name"] for node in self._sim.node_list()}

    def _channel(self, a: str, b: str) -> dict:
        for channel in self._sim.channels():
            if channel.get("from") == a and channel.get("to") == b:
                return channel
        names = self._node_names()
        unknown = [name for name in (a, b) if name not in names]
        if unknown:
            raise _HTTPError(404, f"unknown node {unknown[0]!r}")
        raise _HTTPError(404, f"no channel from {a!r} to {b!r}")

    def _post_channel(self, request: IRequest, a: str, b: str) -> bytes:
        self._check_origin(request)
        body = json_body(request, '{"latency_ms": 10, "loss": 0.1}')
        changes = channel_changes(body)
        try:
            result = self._sim.set_channel(a, b, **changes)
        except KeyError as e:
            name = e.args[0] if e.args else f"{a} or {b}"
            raise _HTTPError(404, f"unknown node {name!r}") from None
        except ValueError as e:
            raise _HTTPError(400, str(e)) from None
        if not isinstance(result, dict):
            result = self._channel(a, b)
        log.info("channel {a} -> {b} changed: {changes}", a=a, b=b, changes=changes)
        return self._json(request, result)

    @staticmethod
    def _check_origin(request: IRequest) -> None:
        # A web page elsewhere may POST to localhost ("simple" requests need
        # no preflight); browsers say where they come from, curl does not.
        origin = request.getHeader(b"origin")
        if origin is None:
            return
        host = request.getHeader(b"host") or b""
        if origin.split(b"://", 1)[-1] != host:
            raise _HTTPError(403, "cross-origin requests may not change the simulation")

    @staticmethod
    def _json(request: IRequest, value: Any, code: int = 200) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", JSON_TYPE)
        return json.dumps(value, sort_keys=True).encode() + b"\n"


def api_site(simulation: ISimulation) -> server.Site:
    """A web site serving the API and the web view; listen on it with an
    endpoint string."""
    site = server.Site(simulation_site_root(simulation, SimulationAPI(simulation)))
    site.displayTracebacks = False
    return site
