"""twistd ``vanet-sim``: ``twistd -n vanet-sim --config sim.ini``."""

from __future__ import annotations

from twisted.python import usage

from vanet.sim.cli import apply_overrides, embedded_topology_path
from vanet.sim.loader import load_topology
from vanet.sim.topology import MODES, SimConfigError


class Options(usage.Options):
    synopsis = "[--config FILE] [options]"
    longdesc = (
        "Run a simulated VANET with its HTTP API. Without --config, the "
        "embedded highway topology. netns mode needs root."
    )
    optParameters = [
        ["config", "c", None, "Topology file (INI, or the older YAML format)."],
        ["mode", None, None, f"Override [sim] mode: {' or '.join(MODES)}."],
        ["http", None, None, "Override [sim] http (Twisted endpoint string, or none)."],
        ["seed", None, None, "Override [sim] seed.", int],
        [
            "duration",
            None,
            None,
            "Override [sim] duration_s (stops the reactor).",
            float,
        ],
    ]

    def postOptions(self) -> None:
        import argparse

        if self["mode"] and self["mode"] not in MODES:
            raise usage.UsageError(f"--mode must be one of: {', '.join(MODES)}")
        if self["duration"] is not None and not self["duration"] > 0:
            raise usage.UsageError("--duration must be a number of seconds > 0")
        path = self["config"] or embedded_topology_path()
        overrides = argparse.Namespace(
            mode=self["mode"],
            clock="real",  # under twistd the reactor's clock runs the show
            duration=self["duration"],
            seed=self["seed"],
            seeds=None,  # a study (vanet-sim --seeds) runs on a virtual clock
            http=self["http"],
        )
        try:
            self.topology = apply_overrides(
                load_topology(path), overrides, embedded=False
            )
        except SimConfigError as error:
            raise SystemExit(f"vanet-sim: {error}") from None


def makeService(options):
    from twisted.internet import reactor

    from vanet.sim.runner import build_service, schedule_end

    try:
        top = build_service(options.topology, reactor)
    except SimConfigError as error:
        # A node's keys are checked as its node is built: one line, no
        # traceback, as for the errors postOptions catches.
        raise SystemExit(f"vanet-sim: {error}") from None
    schedule_end(top, options.topology.sim.duration_s, reactor)
    return top
