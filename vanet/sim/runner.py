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

    from vanet.sim.reactor import install_if_possible

    install_if_possible()  # timed calls to the microsecond (the relay's links)
    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    globalLogBeginner.beginLoggingTo(
        [textFileLogObserver(sys.stderr)], redirectStandardIO=False
    )
    result = _prepare(topology, reactor)
    reactor.run()
    return result or None


def _prepare(topology: Topology, reactor) -> dict:
    """Build the simulation under ``reactor`` and arrange for its report to
    land in the returned dict when the reactor stops."""
    top = build_service(topology, reactor)
    result: dict = {}

    def finish() -> None:
        top.simulation.stop_traffic()
        result.update(top.simulation.report())

    reactor.callWhenRunning(top.startService)
    reactor.addSystemEventTrigger("before", "shutdown", finish)
    reactor.addSystemEventTrigger("before", "shutdown", top.stopService)
    schedule_end(top, topology.sim.duration_s, reactor)
    return result


def http_url(endpoint: str) -> str:
    """The URL a local client reaches a ``tcp:PORT[:interface=ADDR]``
    endpoint at (``SimConfigError`` for other kinds)."""
    from vanet.sim.topology import SimConfigError

    kind, *parts = endpoint.split(":")
    options = dict(p.split("=", 1) for p in parts if "=" in p)
    positional = [p for p in parts if "=" not in p]
    port = options.get("port") or (positional[0] if positional else "")
    if kind not in ("tcp", "tcp6") or not port.isdigit():
        raise SimConfigError(
            f"[sim] http = {endpoint!r}: the dashboard needs a tcp:PORT endpoint"
        )
    host = options.get("interface", "").replace("\\", "")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1" if kind == "tcp" else "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def run_with_dashboard(topology: Topology) -> dict | None:
    """Run ``topology`` in real time with the terminal dashboard in the
    foreground (the reactor in a thread; no log on the terminal); return
    the final report once the user quits or the run ends."""
    import threading

    from vanet.sim.reactor import install_if_possible

    install_if_possible()
    from twisted.internet import reactor

    from vanet.dashboard.app import run_dashboard
    from vanet.dashboard.data import SimSource

    if not topology.sim.http:
        from vanet.sim.topology import SimConfigError

        raise SimConfigError("--tui needs the HTTP API: set [sim] http or --http")
    url = http_url(topology.sim.http)
    result = _prepare(topology, reactor)
    thread = threading.Thread(
        target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True
    )
    thread.start()
    try:
        run_dashboard(SimSource(url))
    finally:
        reactor.callFromThread(_stop, reactor)
        thread.join(timeout=30)
    return result or None


def _stop(reactor) -> None:
    if reactor.running:
        reactor.stop()
