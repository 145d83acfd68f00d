"""Plugin: the ``latency`` routing strategy (docs/protocol.md §4), the default."""

from twisted.plugin import IPlugin
from zope.interface import alsoProvides

from vanet.routing.strategies import LatencyStrategy

# IPlugin is declared here, not on the class: vanet.routing stays Twisted-free.
latency = LatencyStrategy()
alsoProvides(latency, IPlugin)
