"""``NodeService``: an RSU or OBU as a Twisted ``MultiService``.

Life cycle (twistd): ``privilegedStartService`` runs as root and opens the
link socket and the TAP; then twistd applies ``--uid/--gid``; then
``startService`` starts reading, the periodic work and the control endpoint.
``startService`` also works alone (tests, ``twist``): it opens whatever the
privileged step did not.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger

from vanet.mac import format_mac
from vanet.node.config import NodeConfig
from vanet.node.control import control_site
from vanet.node.factory import NodeFactory


def open_link_port(config: NodeConfig):
    """The link port ``[link]`` asks for (privileged for ``packet``)."""
    link = config.link
    if link.transport == "packet":
        from vanet.transport.packet import PacketPort

        return PacketPort.open(link.interface)
    if link.transport == "udp":
        from vanet.transport.udp import UdpPort

        return UdpPort.open(link.interface, config.node.mac, link.group, link.port)
    raise ValueError(
        f"{config.source}: [link] transport = {link.transport}: a twistd node "
        "needs packet or udp (memory is for the simulator)"
    )


def open_tap(config: NodeConfig):
    """The TAP ``[tap]`` asks for (privileged)."""
    from vanet.tap.linux import LinuxTap

    return LinuxTap.open(config.tap.name, config.tap.mtu, config.tap.address)


class NodeService(service.MultiService):
    """One node: link port, TAP, engine and control endpoint."""

    log = Logger()

    def __init__(
        self,
        factory: NodeFactory,
        reactor=None,
        open_port: Callable[[NodeConfig], object] = open_link_port,
        open_tap: Callable[[NodeConfig], object] | None = open_tap,
    ) -> None:
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

    def _open_devices(self) -> None:
        if self.port is None:
            self.port = self._open_port(self.config)
        if self.tap is None and self._open_tap is not None:
            self.tap = self._open_tap(self.config)

    def privilegedStartService(self) -> None:
        self._open_devices()
        super().privilegedStartService()

    def startService(self) -> None:
        self._open_devices()
        config = self.config
        mac = config.node.mac or self.port.mac
        engine = self.engine = self.factory.build_engine(mac, self.reactor)
        engine.attach(self.port, self.tap)
        self.port.startListening(self.factory.buildProtocol(engine), self.reactor)
        if self.tap is not None:
            self.tap.startReading(engine.tap_frame, self.reactor)
        engine.start()
        if config.control.listen:
            endpoint = serverFromString(self.reactor, config.control.listen)
            endpoint.listen(control_site(engine.status)).addCallbacks(
                self._control_listening, self._control_failed
            )
        self.log.info(
            "{role} {name} started: mac {mac}, transport {transport}, strategy {strategy}, "
            "encryption {encryption}",
            role=config.role.upper(),
            name=config.node.name,
            mac=format_mac(mac),
            transport=config.link.transport,
            strategy=config.routing.strategy,
            encryption="on" if config.security.encryption else "off",
        )
        super().startService()

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
        if self.engine is not None:
            self.engine.stop()
        if self.control_port is not None:
            yield self.control_port.stopListening()
            self.control_port = None
        if self.port is not None:
            yield self.port.stopListening()
            self.port = None
        if self.tap is not None:
            self.tap.close()
            self.tap = None
