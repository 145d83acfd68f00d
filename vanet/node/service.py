"""``NodeService``: an RSU or OBU as a Twisted ``MultiService``.

Life cycle (twistd): ``privilegedStartService`` runs as root and opens the
link socket and the TAP; then twistd applies ``--uid/--gid``; then
``startService`` starts reading, the periodic work and the control endpoint.
``startService`` also works alone (tests, ``twist``): it opens whatever the
privileged step did not. A device that cannot be opened raises
``DeviceError``, one line naming the config key; the twistd plugin turns it
into that line on stderr and a non-zero exit.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from vanet.identity import TrustFileError
from vanet.mac import format_mac
from vanet.node.config import NodeConfig
from vanet.node.control import control_site
from vanet.node.factory import NodeFactory
from vanet.tap.arp import announcement
from vanet.transport.ring import RingError

# How often, in heartbeat periods, the node checks whether its way into the
# overlay changed and the TAP's address must be announced again.
ANNOUNCE_CHECKS_PER_PERIOD = 4
_NOTHING_YET = object()


class DeviceError(Exception):
    """A device the config names cannot be opened; ``str()`` is one line
    naming the file, section, key and the system's reason."""


def _device_error(
    config: NodeConfig, section: str, key: str, value: object, reason: object
) -> DeviceError:
    if isinstance(reason, OSError) and reason.strerror:
        reason = reason.strerror  # without the "[Errno N]" prefix
    return DeviceError(f"{config.source}: [{section}] {key} = {value}: {reason}")


def check_runnable(config: NodeConfig) -> None:
    """Raise ``DeviceError`` if a real (twistd) node cannot use ``config``'s
    link at all, before anything is opened."""
    if config.link.transport not in ("packet", "udp"):
        raise _device_error(
            config,
            "link",
            "transport",
            config.link.transport,
            "a twistd node needs packet or udp (memory is for the simulator)",
        )


def open_link_port(config: NodeConfig):
    """The link port ``[link]`` asks for (privileged for ``packet``); raises
    ``DeviceError`` naming the key when it cannot be opened."""
    check_runnable(config)
    link = config.link
    try:
        if link.transport == "packet":
            from vanet.transport.packet import PacketPort

            return PacketPort.open(link.interface, io=link.io)
        from vanet.transport.udp import UdpPort

        return UdpPort.open(link.interface, config.node.mac, link.group, link.port)
    except RingError as e:
        raise _device_error(config, "link", "io", link.io, e) from None
    except (OSError, ValueError) as e:
        raise _device_error(config, "link", "interface", link.interface, e) from None


def open_tap(config: NodeConfig):
    """The TAP ``[tap]`` asks for (privileged); raises ``DeviceError``
    naming the key the system refused."""
    from vanet.tap.linux import LinuxTap, TapError

    tap = config.tap
    try:
        return LinuxTap.open(tap.name, tap.mtu, tap.address, mac=tap.mac)
    except TapError as e:
        values = {
            "name": tap.name,
            "mac": format_mac(tap.mac) if tap.mac else None,
            "mtu": tap.mtu,
            "address": tap.address,
        }
        raise _device_error(config, "tap", e.setting, values[e.setting], e) from None
    except (OSError, ValueError) as e:
        raise _device_error(config, "tap", "name", tap.name, e) from None


class NodeService(service.MultiService):
    """One node: link port, TAP, engine and control endpoint."""

    log = Logger()

    def __init__(
        self,
        factory: NodeFactory,
        reactor=None,
        open_port: Callable[[NodeConfig], object] = open_link_port,
        open_tap: Callable[[NodeConfig], object] | None = open_tap,
        announce: bool = False,
        reload_on_sighup: bool = False,
    ) -> None:
        """``announce``: send a gratuitous ARP for ``[tap] address`` into the
        overlay at start and whenever the node's upstream changes (a real
        node does; the simulator's hosts have no ARP caches).
        ``reload_on_sighup``: re-read ``[security] trust`` on SIGHUP while
        running (a twistd node does; many nodes in one process must not
        each take the process's signal)."""
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor
        self.factory = factory
        self.config = factory.config
        self.reactor = reactor
        self.setName(self.config.node.name)
        self._open_port = open_port
        self._open_tap = open_tap
        self.port = None
        self.tap = None
        self.engine = None
        self.control_port = None
        self._announce = announce
        self._announce_loop: LoopingCall | None = None
        self._announced_via = _NOTHING_YET
        self._reload_on_sighup = reload_on_sighup
        self._previous_sighup = None

    def _open_devices(self) -> None:
        if self.port is None:
            self.port = self._open_port(self.config)
        if self.tap is None and self._open_tap is not None:
            try:
                self.tap = self._open_tap(self.config)
            except BaseException:
                # Leave nothing open behind a node that will not start.
                port, self.port = self.port, None
                port.stopListening()
                raise

    def privilegedStartService(self) -> None:
        self._open_devices()
        super().privilegedStartService()

    def startService(self) -> None:
        self._open_devices()
        config = self.config
        mac = config.node.mac or self.port.mac
        engine = self.engine = self.factory.build_engine(mac, self.reactor)
        engine.attach(self.port, self.tap)
        try:
            self.port.startListening(self.factory.buildProtocol(engine), self.reactor)
        except OSError as e:  # e.g. udp: cannot join the group on the interface
            self._close_devices()
            raise _device_error(
                config, "link", "interface", config.link.interface, e
            ) from None
        if self.tap is not None:
            self.tap.startReading(engine.tap_frame, self.reactor)
        engine.start()
        self._start_announcing()
        self._install_sighup()
        if config.control.listen:
            endpoint = serverFromString(self.reactor, config.control.listen)
            site = control_site(engine.status, route_listeners=engine.route_listeners)
            endpoint.listen(site).addCallbacks(
                self._control_listening, self._control_failed
            )
        self.log.info(
            "{role} {name} started: mac {mac}, transport {transport}, strategy {strategy}, "
            "encryption {encryption}, authentication {authentication}",
            role=config.role.upper(),
            name=config.node.name,
            mac=format_mac(mac),
            transport=config.link.transport,
            strategy=config.routing.strategy,
            encryption="on" if config.security.encryption else "off",
            authentication="on" if config.security.authenticate else "off",
        )
        super().startService()

    def _install_sighup(self) -> None:
        if not self._reload_on_sighup or self.factory.trust is None:
            return
        reactor = self.reactor

        def on_sighup(signum, frame) -> None:
            # Out of the signal handler and into the reactor's loop, as
            # Twisted does for SIGINT.
            reactor.callFromThread(self.reload_trust)

        previous = signal.signal(signal.SIGHUP, on_sighup)
        self._previous_sighup = signal.SIG_DFL if previous is None else previous

    def _restore_sighup(self) -> None:
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None

    def reload_trust(self) -> None:
        """Re-read the trust file; a bad new file is logged and the keys
        loaded before stay in use."""
        path = self.config.security.trust
        try:
            trust = self.factory.reload_trust()
        except TrustFileError as error:
            self.log.error(
                "{source}: [security] trust = {path}: not reloaded, keeping "
                "the {count} keys loaded before: {error}",
                source=self.config.source,
                path=path,
                count=len(self.factory.trust),
                error=str(error),
            )
            return
        self.log.info(
            "{source}: [security] trust = {path}: reloaded, {count} keys",
            source=self.config.source,
            path=path,
            count=len(trust),
        )

    def _start_announcing(self) -> None:
        frame = (
            announcement(self.tap.mac, self.config.tap.address)
            if self._announce and self.tap is not None
            else None
        )
        if frame is None:
            return
        loop = self._announce_loop = LoopingCall(self._announce_if_moved, frame)
        loop.clock = self.reactor
        loop.start(self.factory.hello_period_s / ANNOUNCE_CHECKS_PER_PERIOD)

    def _announce_if_moved(self, frame: bytes) -> None:
        """Announce the TAP's address as if its host had, once per upstream:
        at start, and when an OBU (re)gains or changes its upstream, since
        only then does the announcement reach the hosts behind the RSU."""
        via = self.engine.routing.upstream  # None at an RSU (IRoutingCore)
        if via == self._announced_via:
            return
        if via is None and self.engine.role == "obu":
            return  # no way up yet: announce when there is one
        self._announced_via = via
        self.engine.tap_frame(frame)
        self.log.info(
            "announced TAP address {address} at {mac} (upstream {upstream})",
            address=self.config.tap.address,
            mac=format_mac(self.tap.mac),
            upstream=None if via is None else format_mac(via),
        )

    def _control_listening(self, port) -> None:
        self.control_port = port
        self.log.info("control endpoint on {address}", address=port.getHost())

    def _control_failed(self, failure) -> None:
        self.log.error(
            "{source}: [control] listen = {listen}: cannot listen: {error}",
            source=self.config.source,
            listen=self.config.control.listen,
            error=failure.getErrorMessage(),
        )

    @defer.inlineCallbacks
    def stopService(self):
        yield super().stopService()
        self._restore_sighup()
        if self._announce_loop is not None and self._announce_loop.running:
            self._announce_loop.stop()
        self._announce_loop = None
        if self.engine is not None:
            self.engine.stop()
        if self.control_port is not None:
            yield self.control_port.stopListening()
            self.control_port = None
        yield self._close_devices()

    def _close_devices(self) -> defer.Deferred:
        port, self.port = self.port, None
        tap, self.tap = self.tap, None
        if tap is not None:
            tap.close()
        if port is None:
            return defer.succeed(None)
        return defer.maybeDeferred(port.stopListening)
