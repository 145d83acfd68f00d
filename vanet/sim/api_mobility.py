"""The simulator API's mobility endpoints (``vanet.sim.api`` routes to them),
in our shapes under ``/api/v1``; the root's ``/positions`` answers in the
older implementation's shape (``vanet.sim.api_compat``):

=======  =====================  ==============================================
GET      /positions             ``{name: {x, y, speed, heading}}`` (metres,
                                m/s, compass degrees) of every placed node,
                                with ``lat``, ``lon`` where known
POST     /node/NAME/position    move a fixed node: ``{"x": .., "y": ..}``;
                                the radio's links follow at once
GET      /fading                the radio model, its parameters and the
                                mobility model's
GET      /road                  ``{"polylines": [[[x, y], ...], ...]}``: the
                                road's lanes in metres (``[]`` without one)
=======  =====================  ==============================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from zope.interface import Interface


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

    def road() -> dict:
        """``{"polylines": [[[x, y], ...], ...]}`` of the road the mobility
        model knows; ``{"polylines": []}`` without one."""


def mobility_getters(simulation: Any) -> dict[str, Callable[[], Any]]:
    """The GET endpoints by path segment (none for a simulation without
    them)."""
    return {
        name: getattr(simulation, name)
        for name in ("positions", "fading", "road")
        if callable(getattr(simulation, name, None))
    }


def post_position(simulation: Any, name: str, body: Any) -> dict:
    """``POST /node/NAME/position`` with its JSON body: the node's new
    position. ``ValueError`` (400) for a bad body or a node that cannot
    move, ``KeyError`` (404) for an unknown node."""
    if not isinstance(body, dict) or set(body) != {"x", "y"}:
        raise ValueError('give exactly x and y in metres: {"x": 500, "y": -10}')
    for key in ("x", "y"):
        value = body[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{key} must be a finite number of metres")
    return simulation.set_position(name, float(body["x"]), float(body["y"]))
