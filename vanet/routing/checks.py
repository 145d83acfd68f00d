"""Checks on what a neighbour claims, made before any state changes
(docs/protocol.md §3.6): addresses, serial-number order of seqs, and
whether ``duration`` moves forward plausibly for a seq step."""

from __future__ import annotations

from vanet.wire import U32_MAX

#: Half the u32 seq space: RFC 1982 leaves a difference of exactly this
#: undefined; we treat it as "far behind", which is never believed at once.
_HALF = 1 << 31
_ZERO_MAC = bytes(6)

#: The learnt period is clamped to these multiples of the configured one
#: (docs/protocol.md §5.1).
PERIOD_LOW, PERIOD_HIGH = 0.25, 4.0
#: A seq step's ``duration`` must lie within these multiples of the period
#: (learnt, else configured): wider than the clamp, so an OBU whose
#: configured period is off by up to 8x still follows its RSU.
STEP_LOW, STEP_HIGH = 0.125, 8.0


def bad_address(mac) -> bool:
    """A group (broadcast included) or all-zero MAC: nothing a node is."""
    return bool(mac[0] & 1) or mac == _ZERO_MAC


def serial_diff(a: int, b: int) -> int:
    """``a - b`` in u32 serial-number arithmetic (RFC 1982): positive when
    ``a`` is newer, in ``(-2**31, 2**31)``; the undefined half-way case is
    negative."""
    d = (a - b) & U32_MAX
    return d - (1 << 32) if d >= _HALF else d


def plausible_step(steps: int, elapsed_ms: int, period_s: float) -> bool:
    """Whether ``elapsed_ms`` of the RSU's clock fit ``steps`` (> 0) seq
    steps of ``period_s``: positive and between ``STEP_LOW`` and
    ``STEP_HIGH`` periods per step (loss only makes ``steps`` larger)."""
    per_step_ms = period_s * 1000.0 * steps
    return elapsed_ms > 0 and (
        STEP_LOW * per_step_ms <= elapsed_ms <= STEP_HIGH * per_step_ms
    )
