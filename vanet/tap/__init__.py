"""TAP devices whose frames a node carries (``ITapDevice``).

- ``LinuxTap.open(name, mtu, address)``: a real TAP (privileged), read in
  the reactor with ``startReading(deliver, reactor)``.
- ``MemoryTap(name, mac)``: in memory, for tests and the simulator.
"""

from __future__ import annotations

from vanet.tap.linux import (
    DEFAULT_MTU,
    DEFAULT_NAME,
    LinuxTap,
    TapError,
)
from vanet.tap.memory import MemoryTap

__all__ = [
    "DEFAULT_MTU",
    "DEFAULT_NAME",
    "LinuxTap",
    "MemoryTap",
    "TapError",
]
