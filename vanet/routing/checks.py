"""Checks on what a neighbour claims, made before any state changes
(docs/protocol.md §3.6) beyond the address test (``vanet.mac.bad_address``)
and serial-number order (``vanet.wire.serial_diff``): whether ``duration``
moves forward plausibly for a seq step, and the period's bounds."""

from __future__ import annotations

#: The learnt period is clamped to these multiples of the configured one
#: (docs/protocol.md §5.1).
PERIOD_LOW, PERIOD_HIGH = 0.25, 4.0
#: A seq step's ``duration`` must lie within these multiples of the period
#: (learnt, else configured): wider than the clamp, so an OBU whose
#: configured period is off by up to 8x still follows its RSU.
STEP_LOW, STEP_HIGH = 0.125, 8.0


def plausible_step(steps: int, elapsed_ms: int, period_s: float) -> bool:
    """Whether ``elapsed_ms`` of the RSU's clock fit ``steps`` (> 0) seq
    steps of ``period_s``: positive and between ``STEP_LOW`` and
    ``STEP_HIGH`` periods per step (loss only makes ``steps`` larger)."""
    per_step_ms = period_s * 1000.0 * steps
    return elapsed_ms > 0 and (
        STEP_LOW * per_step_ms <= elapsed_ms <= STEP_HIGH * per_step_ms
    )
