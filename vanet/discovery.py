"""Finding routing strategies by name (Twisted's plugin system).

Strategies are Twisted plugins: objects providing ``IPlugin`` and
``IRoutingStrategy`` in modules under ``vanet/plugins/``, on any
``sys.path`` entry (see docs/plugins.md).
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.plugin import getPlugins, pluginPackagePaths

from vanet.interfaces import IRoutingStrategy

DEFAULT_STRATEGY = "latency"

log = Logger(namespace="vanet.discovery")


class UnknownStrategyError(ValueError):
    """No routing strategy plugin has the requested name."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = available
        super().__init__(
            f"unknown routing strategy {name!r}; available: "
            f"{', '.join(available) or '(none found)'} "
            "(a strategy is a vanet/plugins/<module>.py plugin, see docs/plugins.md)"
        )


def _plugin_package():
    import vanet.plugins

    # sys.path may have grown since vanet.plugins was imported (a plugin
    # directory added at run time): pick up its vanet/plugins/ too.
    for path in pluginPackagePaths(vanet.plugins.__name__):
        if path not in vanet.plugins.__path__:
            vanet.plugins.__path__.append(path)
    return vanet.plugins


def discover_strategies() -> dict[str, object]:
    """Every strategy plugin found, by name (the first found wins a name)."""
    found: dict[str, object] = {}
    for plugin in getPlugins(IRoutingStrategy, _plugin_package()):
        name = getattr(plugin, "name", None)
        if not isinstance(name, str) or not name:
            log.warn(
                "ignoring routing strategy plugin {plugin!r}: no name", plugin=plugin
            )
            continue
        if name in found:
            log.warn(
                "two routing strategies named {name!r}; keeping {kept!r}",
                name=name,
                kept=found[name],
            )
            continue
        found[name] = plugin
    return found


def available_strategies() -> list[str]:
    """Names of the strategy plugins found, sorted."""
    return sorted(discover_strategies())


def load_strategy(name: str = DEFAULT_STRATEGY):
    """The strategy plugin called ``name``; ``UnknownStrategyError`` (a
    ``ValueError`` listing the available names) if none is."""
    found = discover_strategies()
    try:
        return found[name]
    except KeyError:
        raise UnknownStrategyError(name, sorted(found)) from None


__all__ = [
    "DEFAULT_STRATEGY",
    "UnknownStrategyError",
    "available_strategies",
    "discover_strategies",
    "load_strategy",
]
