"""Counting what a routing core decides and drops.

The cores count; they do not log. Each decision comes back to the caller
as a ``RouteEvent`` action, which the node engine logs (twisted.logger is
an edge: docs/architecture.md).
"""

from __future__ import annotations

from collections import Counter

from vanet.routing.actions import RouteEvent


class EventRecorder:
    """A core's ``counters`` (route events and other happenings, by name)
    and ``drops`` (control messages refused, by reason)."""

    __slots__ = ("counters", "drops")

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()

    def event(self, name: str, **fields) -> RouteEvent:
        """Count the decision ``name`` and return it as an action."""
        self.counters[name] += 1
        return RouteEvent(name, fields)

    def drop(self, reason: str) -> None:
        self.drops[reason] += 1
