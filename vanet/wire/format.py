"""Old import path: the layouts live in ``vanet.wire.layouts``.

Kept only for ``vanet.transport.packet``; new code imports ``ETHERTYPE``
from ``vanet.wire``.
"""

from vanet.wire.layouts import ETHERTYPE

__all__ = ["ETHERTYPE"]
