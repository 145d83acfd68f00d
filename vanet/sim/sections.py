"""Simulator INI sections declared as attrs classes, as the node config is.

Each field of a section class carries a ``vanet.schema.Setting``
(parser, default, meaning) made with ``setting()``; ``parse_section`` checks
a section's keys against it, and ``section_table`` gives the reference
table docs/simulator.md shows. The parsers here add what the node config
has no use for (any finite number, a range).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

# The node config's schema machinery, reused so a key is declared one way.
from vanet.schema import SETTING_KEY, Invalid, Setting

T = TypeVar("T")

__all__ = [
    "Invalid",
    "finite",
    "parse_section",
    "positive",
    "section_keys",
    "section_table",
    "speed_range",
]


def finite(value: str) -> float:
    """Any finite number (dB may be negative)."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise Invalid("expected a number, e.g. 5")
    return number


def positive(value: str) -> float:
    """A finite number > 0."""
    number = finite(value)
    if number <= 0:
        raise Invalid("expected a number > 0")
    return number


def speed_range(value: str) -> tuple[float, float]:
    """``V`` or ``VMIN-VMAX`` (m/s, > 0): desired speeds drawn uniformly."""
    low, dash, high = value.partition("-")
    try:
        pair = (float(low), float(high if dash else low))
    except ValueError:
        pair = (math.nan, math.nan)
    if not all(math.isfinite(v) and v > 0 for v in pair) or pair[0] > pair[1]:
        raise Invalid("expected a speed in m/s > 0, or a range MIN-MAX, e.g. 20-35")
    return pair


def _settings(cls: type) -> dict[str, Setting]:
    return {field.name: field.metadata[SETTING_KEY] for field in attrs.fields(cls)}


def section_keys(cls: type) -> tuple[str, ...]:
    """The keys a section class allows, in declaration order."""
    return tuple(_settings(cls))


def parse_section(
    cls: type[T], values: Mapping[str, str], fail: Callable[[str, str, str], Any]
) -> T:
    """An instance of ``cls`` from a section's ``{key: text}``. On a problem
    calls ``fail(key, raw, what)``, which must raise; unknown keys are
    problems too."""
    settings = _settings(cls)
    for key, raw in values.items():
        if key not in settings:
            fail(key, raw, f"unknown key; allowed: {', '.join(settings)}")
    parsed = {}
    for key, spec in settings.items():
        if key in values:
            raw = values[key].strip()
            try:
                parsed[key] = spec.parse(raw)
            except Invalid as e:
                fail(key, raw, str(e))
    try:
        return cls(**parsed)
    except ValueError as e:
        fail(next(iter(values), ""), "", str(e))
        raise


def section_table(cls: type) -> str:
    """The Markdown table of a section's keys: key, default, meaning."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, spec in _settings(cls).items():
        default = spec.default_text
        if isinstance(spec.default, tuple):
            default = "-".join(f"{v:g}" for v in spec.default)
        lines.append(
            f"| `{key}` | {'—' if default is None else f'`{default}`'} | {spec.help} |"
        )
    return "\n".join(lines)
