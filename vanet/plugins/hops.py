"""Plugin: the ``hops`` routing strategy (fewest hops, then lowest MAC)."""

from twisted.plugin import IPlugin
from zope.interface import alsoProvides

from vanet.routing.strategies import HopsStrategy

# IPlugin is declared here, not on the class: vanet.routing stays Twisted-free.
hops = HopsStrategy()
alsoProvides(hops, IPlugin)
