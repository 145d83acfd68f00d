"""twistd plugin: ``twistd -n vanet-sim --config sim.ini``."""

from twisted.application.service import ServiceMaker

vanet_sim = ServiceMaker(
    "vanet simulator",
    "vanet.sim.twistd",
    "A simulated VANET (in-process or in network namespaces) with an HTTP API.",
    "vanet-sim",
)
