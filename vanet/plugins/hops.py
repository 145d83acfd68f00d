"""Plugin: the ``hops`` routing strategy (fewest hops, then lowest MAC)."""

from vanet.routing.strategies import HopsStrategy

hops = HopsStrategy()
