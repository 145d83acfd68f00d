"""Test helpers for routing cores and strategies (no sockets).

``CoreNetwork`` is a tiny in-memory network of routing cores: links have a
one-way delay; frames are written as a node engine writes them
(``vanet.node.engine.frame_writers``) and parsed back with
``vanet.wire.parse``, and delivered later on a ``twisted.internet.task.Clock``.
Only control messages matter here; the data plane is tested elsewhere.
"""

from __future__ import annotations

from twisted.internet.task import Clock, LoopingCall

from vanet.mac import BROADCAST, is_group
from vanet.node.engine import frame_writers
from vanet.routing.actions import RouteEvent, Transmit
from vanet.wire import parse, writer_for


class CoreNetwork:
    """Routing cores joined by delayed links, driven by a ``Clock``."""

    def __init__(self, clock: Clock | None = None, path: str = "zero-copy") -> None:
        self.clock = clock if clock is not None else Clock()
        self.path = path
        self.cores: dict[bytes, object] = {}
        self.delays: dict[tuple[bytes, bytes], float] = {}  # (a, b) -> seconds
        self.silent: set[bytes] = set()  # nodes whose frames are lost
        self.events: list[tuple[float, bytes, RouteEvent]] = []
        self.sent: list[tuple[float, bytes, bytes]] = []  # (time, sender, frame)
        self._loops: list[LoopingCall] = []
        # Deadline scheduling (``start``): per node its timer and the time
        # it is armed for, as the node engine keeps them.
        self._deadlines = False
        self._timers: dict[bytes, tuple[float, object]] = {}
        self._buf = bytearray(64)
        self._write = frame_writers(path)
        # Authenticating nodes (``add(core, gate)``): their gates and writers.
        self.gates: dict[bytes, object] = {}
        self._writers: dict[bytes, dict] = {}

    def add(self, core, gate=None) -> None:
        """Add a node; with ``gate`` (a ``vanet.auth.AuthGate``) it signs
        what it sends and admits only what its gate lets through, as a node
        with ``[security] authenticate = yes``."""
        self.cores[core.mac] = core
        if gate is not None:
            self.gates[core.mac] = gate
            self._writers[core.mac] = frame_writers(self.path, gate)

    def replace(self, core) -> None:
        """Swap a node's core (e.g. an RSU restart)."""
        self.cores[core.mac] = core
        _, call = self._timers.pop(core.mac, (None, None))
        if call is not None and call.active():
            call.cancel()
        if self._deadlines:
            self._rearm(core.mac)

    def link(self, a: bytes, b: bytes, delay_ms: float) -> None:
        self.delays[(a, b)] = self.delays[(b, a)] = delay_ms / 1000.0

    def unlink(self, a: bytes, b: bytes) -> None:
        self.delays.pop((a, b), None)
        self.delays.pop((b, a), None)

    def neighbours(self, mac: bytes) -> list[bytes]:
        return [b for (a, b) in self.delays if a == mac]

    def start(self, period: float, ticks_per_period: int | None = None) -> None:
        """Heartbeats from every RSU core each ``period``; each core ticked
        at its ``next_deadline()``, as the node engine does, or with
        ``ticks_per_period`` that many times a period instead."""
        for mac, core in self.cores.items():
            if core.role == "rsu":
                self._every(period, lambda m=mac: self._heartbeat(m))
        if ticks_per_period is not None:
            self._every(period / ticks_per_period, self._tick_all)
            return
        self._deadlines = True
        for mac in self.cores:
            self._rearm(mac)

    def _rearm(self, mac: bytes) -> None:
        core = self.cores.get(mac)
        if core is None:
            return
        at = core.next_deadline()
        armed_at, call = self._timers.get(mac, (float("inf"), None))
        if at >= armed_at:
            return
        if call is not None and call.active():
            call.cancel()
        delay = max(0.0, at - self.clock.seconds())
        self._timers[mac] = (at, self.clock.callLater(delay, self._due, mac))

    def _due(self, mac: bytes) -> None:
        self._timers.pop(mac, None)
        core = self.cores.get(mac)
        if core is not None:
            self.execute(mac, core.tick(self.clock.seconds()))

    def restart_heartbeats(self, mac: bytes, period: float) -> None:
        self._every(period, lambda: self._heartbeat(mac))

    def _every(self, interval: float, f) -> None:
        loop = LoopingCall(f)
        loop.clock = self.clock
        loop.start(interval, now=True)
        self._loops.append(loop)

    def stop(self) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops.clear()
        self._deadlines = False
        for _, call in self._timers.values():
            if call.active():
                call.cancel()
        self._timers.clear()

    def run(self, seconds: float, step: float = 0.001) -> None:
        """Advance the clock step by step (one LoopingCall tick per step)."""
        n = round(seconds / step)
        for _ in range(n):
            self.clock.advance(step)

    def _heartbeat(self, mac: bytes) -> None:
        core = self.cores[mac]
        if mac not in self.silent:
            self.execute(mac, core.heartbeat(self.clock.seconds()))

    def _tick_all(self) -> None:
        now = self.clock.seconds()
        for mac, core in list(self.cores.items()):
            self.execute(mac, core.tick(now))

    def execute(self, mac: bytes, actions) -> None:
        now = self.clock.seconds()
        for action in actions:
            if isinstance(action, RouteEvent):
                self.events.append((now, mac, action))
            elif isinstance(action, Transmit):
                write = self._writers.get(mac, self._write)
                n = write[type(action)](self._buf, mac, action)
                if not n:
                    continue  # the node cannot sign it (its gate counted why)
                frame = bytes(self._buf[:n])
                self.sent.append((now, mac, frame))
                self._send(mac, frame, action.next_hop)
        if self._deadlines:
            self._rearm(mac)

    def _send(self, mac: bytes, frame: bytes, next_hop: bytes) -> None:
        if mac in self.silent:
            return
        for peer in self.neighbours(mac):
            if next_hop == BROADCAST or peer == next_hop:
                delay = self.delays[(mac, peer)]
                self.clock.callLater(delay, self._receive, mac, peer, frame)

    def _receive(self, sender: bytes, mac: bytes, frame: bytes) -> None:
        if (sender, mac) not in self.delays or sender in self.silent:
            return  # the link went away while the frame was in flight
        core = self.cores.get(mac)
        if core is None:
            return
        gate = self.gates.get(mac)
        for msg in parse(frame):
            if msg.dst == mac or is_group(msg.dst):
                if gate is not None:
                    msg = gate.admit(msg)
                    if msg is None:
                        continue
                elif msg.kind.startswith("signed_"):
                    continue  # a node without a gate drops them (unhandled)
                self.execute(mac, core.on_message(msg, self.clock.seconds()))

    def events_of(self, mac: bytes, name: str | None = None) -> list:
        return [
            (t, e)
            for t, m, e in self.events
            if m == mac and (name is None or e.event == name)
        ]


def heartbeat_view(
    src: bytes, source: bytes, seq: int, *, hops: int = 1, duration_ms: int = 0
):
    """A parsed heartbeat as received from neighbour ``src`` (``hops`` as
    on the wire)."""
    buf = bytearray()
    n = writer_for("heartbeat").write(buf, src, duration_ms, seq, hops, source)
    return parse(bytes(buf[:n]))[0]


def reply_view(
    src: bytes,
    dst: bytes,
    source: bytes,
    seq: int,
    sender: bytes,
    *,
    hops: int = 1,
    duration_ms: int = 0,
):
    """A parsed heartbeat reply from neighbour ``src`` to ``dst``."""
    hb = heartbeat_view(src, source, seq, hops=hops, duration_ms=duration_ms)
    buf = bytearray()
    n = writer_for("heartbeat_reply").write(buf, hb, sender, src, dst)
    return parse(bytes(buf[:n]))[0]


def frames(
    actions, path: str = "zero-copy", *, src: bytes
) -> list[tuple[str, bytes, bytes]]:
    """``(kind, next_hop, frame)`` for each ``Transmit`` in ``actions``, as
    the node ``src`` writes it."""
    write = frame_writers(path)
    out = []
    for action in actions:
        if isinstance(action, Transmit):
            buf = bytearray()
            n = write[type(action)](buf, src, action)
            out.append((action.kind, action.next_hop, bytes(buf[:n])))
    return out


def route_events(actions) -> list[RouteEvent]:
    return [a for a in actions if isinstance(a, RouteEvent)]


def install_temporary_plugin(testcase, module: str, source: str) -> str:
    """Install ``source`` as ``vanet/plugins/<module>.py`` under a fresh
    directory on ``sys.path`` (no ``__init__.py``, as another distribution
    would), undone by ``testcase``'s cleanups. Returns the directory."""
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    import vanet.plugins

    root = tempfile.mkdtemp(prefix="vanet-plugin-")
    package = Path(root, "vanet", "plugins")
    package.mkdir(parents=True)
    (package / f"{module}.py").write_text(source)
    sys.path.insert(0, root)

    def undo() -> None:
        if root in sys.path:
            sys.path.remove(root)
        plugin_dir = str(package)
        while plugin_dir in vanet.plugins.__path__:
            vanet.plugins.__path__.remove(plugin_dir)
        sys.modules.pop(f"vanet.plugins.{module}", None)
        shutil.rmtree(root, ignore_errors=True)

    testcase.addCleanup(undo)
    return root
