"""The data plane (docs/protocol.md §7), sans-I/O.

``ObuDataPlane`` and ``RsuDataPlane`` take a TAP frame or a parsed data
message with ``now`` and return ``vanet.routing.actions`` (``Transmit`` with
the writer-registry kinds "upstream", "upstream_forward", "downstream",
"downstream_forward"; ``DeliverToTap``). They ask the routing core where to
send, and never raise on bad input: it is dropped and counted in ``drops``.
"""

from vanet.dataplane.clients import ClientTable
from vanet.dataplane.obu import ObuDataPlane
from vanet.dataplane.rsu import RsuDataPlane

__all__ = ["ClientTable", "ObuDataPlane", "RsuDataPlane"]
