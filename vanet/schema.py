"""Declared settings: what one INI key is (its parser, default and
meaning) and the value parsers every section uses.

A section is a frozen attrs class whose fields are ``setting(parse,
default, help)``; the node's config (``vanet.node.config``) and the
simulator's sections (``vanet.sim.sections``, ``[radio]``, ``[mobility]``)
build their validation, options and reference tables from those
declarations. A parser takes the text and returns the value, or raises
``Invalid("expected ...")``, which the loader turns into a one-line
``ConfigError`` naming file, section and key.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs


class Invalid(ValueError):
    """A parser's complaint: what is allowed."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@attrs.frozen
class Setting:
    """What the schema says about one key."""

    parse: Callable[[str], Any]  # text -> value; raises Invalid("expected ...")
    default: Any  # ``None`` for optional keys, ``REQUIRED`` when required
    help: str

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def default_text(self) -> str | None:
        """The default as a user would write it, or ``None`` if there is none."""
        if self.default is None or self.default is REQUIRED:
            return None
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)


SETTING_KEY = "vanet.setting"


def setting(parse: Callable[[str], Any], default: Any, help: str) -> Any:
    """An attrs field for one key; ``default`` is ``REQUIRED`` for a key
    the file must set."""
    meta = {SETTING_KEY: Setting(parse, default, help)}
    if default is REQUIRED:
        return attrs.field(metadata=meta)
    return attrs.field(default=default, metadata=meta)


# -- value parsers: each raises Invalid("expected ...") ----------------------


def text(value: str) -> str:
    if not value:
        raise Invalid("expected a non-empty value")
    return value


def whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    allowed = (
        f"expected a whole number >= {minimum}"
        if maximum is None
        else f"expected a whole number from {minimum} to {maximum}"
    )

    def parse(value: str) -> int:
        try:
            number = int(value, 10)
        except ValueError:
            raise Invalid(allowed) from None
        if number < minimum or (maximum is not None and number > maximum):
            raise Invalid(allowed)
        return number

    return parse


def number(minimum: float) -> Callable[[str], float]:
    allowed = f"expected a number >= {minimum:g}, e.g. 0.1"

    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise Invalid(allowed) from None
        if not math.isfinite(number) or number < minimum:
            raise Invalid(allowed)
        return number

    return parse


TRUE = ("yes", "true", "on", "1")
FALSE = ("no", "false", "off", "0")


def boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise Invalid("expected yes/no, true/false, on/off or 1/0")


def choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value.lower() not in choices:
            raise Invalid(f"expected one of {', '.join(choices)}")
        return value.lower()

    return parse


def as_text(value: Any) -> str:
    """A value from a mapping (YAML may hold numbers and booleans) as the
    text a parser takes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()
