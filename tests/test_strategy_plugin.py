"""10 (second half). A strategy shipped as a separate plugin module on a
temporary sys.path entry is discovered and drives an OBU core."""

from __future__ import annotations

import sys

from twisted.trial.unittest import SynchronousTestCase

import vanet.plugins
from vanet.discovery import (
    UnknownStrategyError,
    available_strategies,
    load_strategy,
)
from vanet.node.testing import heartbeat_view, install_temporary_plugin
from vanet.routing.obu import ObuRoutingCore

# Prefers the highest MAC: nothing shipped does that, so the test can tell.
TOY = """
from twisted.plugin import IPlugin
from zope.interface import implementer

from vanet.interfaces import IRoutingStrategy
from vanet.routing.strategies import BaseStrategy


@implementer(IPlugin, IRoutingStrategy)
class HighestMac(BaseStrategy):
    name = "toy-highest-mac"
    description = "the neighbour with the highest MAC"

    def upstream_key(self, candidate):
        return -int.from_bytes(candidate.next_hop, "big")


toy = HighestMac()
"""

RSU = bytes.fromhex("020000000001")
LOW = bytes.fromhex("020000000011")
HIGH = bytes.fromhex("0200000000ee")
ME = bytes.fromhex("020000000020")


class ToyPluginTests(SynchronousTestCase):
    def test_toy_plugin_is_found_and_drives_an_obu(self):
        self.assertNotIn("toy-highest-mac", available_strategies())
        root = install_temporary_plugin(self, "toy_highest_mac", TOY)
        self.assertIn("toy-highest-mac", available_strategies())
        toy = load_strategy("toy-highest-mac")
        self.assertEqual(type(toy).__module__, "vanet.plugins.toy_highest_mac")
        core = ObuRoutingCore(ME, toy)
        # LOW is first and faster, HIGH as near (a strategy chooses among
        # feasible next hops only, docs/protocol.md §4.8): every shipped
        # strategy would keep LOW; the toy moves to HIGH.
        core.on_message(heartbeat_view(LOW, RSU, 1, hops=1, duration_ms=1000), 1.0)
        self.assertEqual(core.upstream, LOW)
        core.on_message(heartbeat_view(HIGH, RSU, 1, hops=1, duration_ms=1000), 1.05)
        core.tick(1.05)  # a copy over another path counts at the next tick
        self.assertEqual(core.upstream, HIGH)
        self.assertEqual(core.upstream_candidates, [HIGH, LOW])
        self.assertEqual(core.status(1.05)["strategy"], "toy-highest-mac")
        self.assertIn(root, sys.path)

    def test_cleanup_leaves_nothing_behind(self):
        # Runs the install and its cleanups by hand, then checks.
        inner = SynchronousTestCase()
        root = install_temporary_plugin(inner, "toy_highest_mac", TOY)
        self.assertEqual(load_strategy("toy-highest-mac").name, "toy-highest-mac")
        inner.doCleanups()
        self.assertNotIn(root, sys.path)
        self.assertFalse(any(root in p for p in vanet.plugins.__path__))
        self.assertNotIn("vanet.plugins.toy_highest_mac", sys.modules)
        with self.assertRaises(UnknownStrategyError):
            load_strategy("toy-highest-mac")
