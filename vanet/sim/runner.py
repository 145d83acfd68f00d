"""Running a topology: virtual clock (as fast as possible), or real time
under the reactor with the HTTP API, in-process or in network namespaces."""

from __future__ import annotations

from twisted.application import service, strports
from twisted.logger import Logger

from vanet.sim.topology import Topology

log = Logger()


def build_service(topology: Topology, reactor=None) -> service.MultiService:
    """The simulation and its HTTP API as one service (real clock)."""
    if reactor is None:
        from twisted.internet import reactor
    from vanet.sim.api import api_site

    top = service.MultiService()
    if topology.sim.mode == "netns":
        from vanet.sim.netns import NetnsSimulation

        simulation = NetnsSimulation(topology, reactor)
        view = simulation
    else:
        from vanet.sim.inprocess import Simulation, SimulationView

        simulation = Simulation(topology, reactor)
        view = SimulationView(simulation)
    simulation.setServiceParent(top)
    if topology.sim.http:
        strports.service(topology.sim.http, api_site(view)).setServiceParent(top)
    top.simulation = simulation
    return top


def run(topology: Topology) -> dict | None:
    """Run ``topology`` to its end; return the final report."""
    if topology.sim.clock == "virtual":
        if topology.sim.mode == "netns":
            from vanet.sim.config import SimConfigError

            raise SimConfigError(
                f"{topology.source}: [sim] clock = virtual: netns mode runs real "
                "processes and needs clock = real"
            )
        from vanet.sim.clock import VirtualClock
        from vanet.sim.inprocess import Simulation, run_virtual

        simulation = Simulation(topology, VirtualClock())
        run_virtual(simulation, topology.sim.duration_s)
        report = simulation.report()
        simulation.stopService()
        return report

    import sys

    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    globalLogBeginner.beginLoggingTo(
        [textFileLogObserver(sys.stderr)], redirectStandardIO=False
    )
    top = build_service(topology, reactor)
    result: dict = {}

    def finish() -> None:
        simulation = top.simulation
        if hasattr(simulation, "stop_traffic"):
            simulation.stop_traffic()
        report = getattr(simulation, "report", None)
        if report is not None:
            result.update(report())

    reactor.callWhenRunning(top.startService)
    reactor.addSystemEventTrigger("before", "shutdown", finish)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    if topology.sim.duration_s:
        reactor.callLater(topology.sim.duration_s, reactor.stop)
    reactor.run()
    return result or None
