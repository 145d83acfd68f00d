"""Running a topology: virtual clock (as fast as possible), or real time
under the reactor with the HTTP API, in-process or in network namespaces."""

from __future__ import annotations

from twisted.application import service, strports
from twisted.logger import Logger

from vanet.sim.base import SimulationBase
from vanet.sim.topology import Topology

log = Logger()


def build_service(topology: Topology, reactor=None) -> service.MultiService:
    """The simulation and its HTTP API as one service (real clock)."""
    if reactor is None:
        from twisted.internet import reactor
    from vanet.sim.api import api_site

    top = service.MultiService()
    simulation: SimulationBase
    if topology.sim.mode == "netns":
        from vanet.sim.netns import NetnsSimulation

        simulation = NetnsSimulation(topology, reactor)
    else:
        from vanet.sim.inprocess import Simulation

        simulation = Simulation(topology, reactor)
    simulation.setServiceParent(top)
    if topology.sim.http:
        strports.service(topology.sim.http, api_site(simulation)).setServiceParent(top)
    # Added last, so stopped first: while the nodes still run.
    _LogReportOnStop(simulation).setServiceParent(top)
    top.simulation = simulation
    return top


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class _LogReportOnStop(service.Service):
    """Logs each flow's delivery when the simulation stops (under twistd
    nobody else prints the report)."""

    def __init__(self, simulation: SimulationBase) -> None:
        self._simulation = simulation

    def stopService(self):
        report = self._simulation.report()
        for name, flow in report.get("flows", {}).items():
            log.info(
                "traffic {flow}: {received}/{sent} delivered, latency p50 "
                "{p50} ms, p99 {p99} ms",
                flow=name,
                received=flow["received"],
                sent=flow["sent"],
                p50=_ms(flow["latency_ms"]["p50"]),
                p99=_ms(flow["latency_ms"]["p99"]),
            )
        return super().stopService()


def schedule_end(top: service.MultiService, duration_s: float | None, reactor) -> None:
    """Stop the reactor ``duration_s`` seconds from now (if given), the
    traffic generators a little earlier so that their frames can arrive."""
    if not duration_s:
        return
    from vanet.sim.inprocess import traffic_drain_s

    reactor.callLater(
        duration_s - traffic_drain_s(duration_s), top.simulation.stop_traffic
    )
    reactor.callLater(duration_s, reactor.stop)


def run(topology: Topology) -> dict | None:
    """Run ``topology`` to its end; return the final report."""
    if topology.sim.clock == "virtual":
        if topology.sim.mode == "netns":
            from vanet.sim.topology import SimConfigError

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
        top.simulation.stop_traffic()
        result.update(top.simulation.report())

    reactor.callWhenRunning(top.startService)
    reactor.addSystemEventTrigger("before", "shutdown", finish)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    schedule_end(top, topology.sim.duration_s, reactor)
    reactor.run()
    return result or None
