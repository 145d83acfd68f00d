"""The simulator API's mobility endpoints (``vanet.sim.api`` routes to them):

=======  =====================  ==============================================
GET      /positions             ``{name: {x, y, speed, heading}}`` (metres,
                                m/s, compass degrees) of every placed node
POST     /node/NAME/position    move a fixed node: ``{"x": .., "y": ..}``;
                                the radio's links follow at once
GET      /fading                the radio model, its parameters and the
                                mobility model's
=======  =====================  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.web.iweb import IRequest
from zope.interface import Interface

from vanet.sim.api import _HTTPError, _number, json_body


class IMobileSimulation(Interface):
    """What the mobility endpoints need of a simulation (both modes have it
    from ``vanet.sim.base.SimulationBase``)."""

    def positions() -> dict:
        """``{name: {"x", "y", "speed", "heading"}}``; ``{}`` without
        ``[mobility]``."""

    def set_position(name, x, y) -> dict:
        """Move node ``name``; ``KeyError`` if unknown, ``ValueError``
        saying why it cannot move. Returns its new position."""

    def fading() -> dict:
        """The radio model and its parameters (``{"model": None}``
        without ``[mobility]``)."""


def mobility_getters(simulation: Any) -> dict[str, Callable[[], Any]]:
    """The GET endpoints by path segment (none for a simulation without
    them)."""
    return {
        name: getattr(simulation, name)
        for name in ("positions", "fading")
        if callable(getattr(simulation, name, None))
    }


def post_position(simulation: Any, name: str, request: IRequest) -> dict:
    body = json_body(request, '{"x": 500, "y": -10}')
    if not isinstance(body, dict) or set(body) != {"x", "y"}:
        raise _HTTPError(400, 'give exactly x and y in metres: {"x": 500, "y": -10}')
    x, y = _number("x", body["x"]), _number("y", body["y"])
    try:
        return simulation.set_position(name, x, y)
    except KeyError:
        raise _HTTPError(404, f"unknown node {name!r}") from None
    except ValueError as e:
        raise _HTTPError(400, str(e)) from None
