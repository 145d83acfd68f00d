"""The data plane (docs/protocol.md §7), sans-I/O.

``ObuDataPlane`` and ``RsuDataPlane`` (``IDataPlane``) take a TAP frame or
a parsed data message with ``now`` and return ``vanet.routing.actions``
(``SendUpstream``, ``ForwardUpstream``, ``SendDownstream``,
``ForwardDownstream``, ``DeliverToTap``). They ask the routing core where to
send, and never raise on bad input: it is dropped and counted in ``drops``.
"""

from vanet.dataplane.clients import ClientTable
from vanet.dataplane.obu import ObuDataPlane
from vanet.dataplane.rsu import RsuDataPlane

__all__ = ["ClientTable", "ObuDataPlane", "RsuDataPlane"]
