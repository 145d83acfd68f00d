"""Plugin: the ``latency`` routing strategy (PROTOCOL.md section 4), the default."""

from vanet.routing.strategies import LatencyStrategy

latency = LatencyStrategy()
