"""Plugin: the ``latency`` routing strategy (docs/protocol.md §4), the default."""

from vanet.routing.strategies import LatencyStrategy

latency = LatencyStrategy()
