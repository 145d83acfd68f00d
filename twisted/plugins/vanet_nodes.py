"""twistd plugins: ``twistd -n vanet-rsu --config rsu.ini`` and
``twistd -n vanet-obu --config obu.ini``.

No ``__init__.py`` here or in ``twisted/``: Twisted's plugin scan needs
this directory to be a plain path entry (see docs/architecture.md).
"""

from twisted.application.service import ServiceMaker

vanet_rsu = ServiceMaker(
    "vanet RSU",
    "vanet.node.twistd.rsu",
    "A vanet road-side unit: floods heartbeats, bridges vehicles' traffic.",
    "vanet-rsu",
)
vanet_obu = ServiceMaker(
    "vanet OBU",
    "vanet.node.twistd.obu",
    "A vanet on-board unit: relays heartbeats, tunnels its TAP upstream.",
    "vanet-obu",
)
