"""The Intelligent Driver Model (Treiber, Hennecke, Helbing 2000): how hard
a vehicle accelerates given its speed, its desired speed and the vehicle
ahead. Pure functions; the highway model steps them."""

from __future__ import annotations

import math

import attrs


def _positive(instance, attribute, value) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a number > 0, got {value!r}")


def _non_negative(instance, attribute, value) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a number >= 0, got {value!r}")


@attrs.frozen
class IdmParams:
    """The model's parameters; defaults as the older implementation has them."""

    a: float = attrs.field(default=2.5, validator=_positive)  # max accel, m/s²
    b: float = attrs.field(default=2.5, validator=_positive)  # comfortable decel, m/s²
    s0: float = attrs.field(default=2.0, validator=_non_negative)  # jam gap, m
    t: float = attrs.field(default=1.0, validator=_non_negative)  # time headway, s
    delta: float = attrs.field(default=4.0, validator=_positive)  # accel exponent


def desired_gap(params: IdmParams, v: float, dv: float) -> float:
    """s*: the gap the driver wants at speed ``v`` closing in at ``dv``
    (own speed minus the leader's) on the vehicle ahead."""
    dynamic = v * params.t + v * dv / (2.0 * math.sqrt(params.a * params.b))
    return params.s0 + max(0.0, dynamic)


def acceleration(
    params: IdmParams, v: float, v0: float, gap: float = math.inf, dv: float = 0.0
) -> float:
    """dv/dt at speed ``v`` (m/s) with desired speed ``v0``, ``gap`` metres
    of free road to the vehicle ahead (bumper to bumper; ``inf``: none) and
    ``dv`` its closing speed. At most ``a``; as negative as it must be."""
    free = 1.0 - (v / v0) ** params.delta
    if math.isinf(gap):
        return params.a * free
    # A gap of 0 (touching) would divide by zero: brake as hard as possible.
    gap = max(gap, 1e-3)
    return params.a * (free - (desired_gap(params, v, dv) / gap) ** 2)
