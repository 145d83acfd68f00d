"""``NodeFactory``: builds a node's components from its ``NodeConfig``.

The twistd services and the simulator both build nodes here, so there is one
way to turn a configuration into a routing core, a strategy, a payload
codec, a data plane, an engine and its link protocol.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime

from vanet.auth import AuthGate, first_seq
from vanet.crypto import make_codec
from vanet.dataplane import ObuDataPlane, RsuDataPlane
from vanet.discovery import load_strategy
from vanet.identity import Identity, TrustStore, load_identity, load_trust
from vanet.node.config import ConfigError, NodeConfig
from vanet.node.engine import NodeEngine
from vanet.node.link import LinkProtocol
from vanet.routing.obu import ObuRoutingCore
from vanet.routing.rsu import RsuRoutingCore


class NodeFactory:
    """Turns one ``NodeConfig`` into the pieces of a running node."""

    protocol = LinkProtocol

    def __init__(
        self,
        config: NodeConfig,
        codec=None,
        strategy=None,
        identity: Identity | None = None,
        trust: TrustStore | None = None,
        link_quality=None,
    ) -> None:
        self.config = config
        # The node's ILinkQuality (the simulator's radio), which the OBU
        # core puts on its candidates; None on real nodes, which have none.
        self.link_quality = link_quality
        # Fail at construction, naming what to fix: unknown strategy names
        # (listing the installed ones) and unreadable keys. ``strategy``:
        # the plugin already loaded for that name (the simulator looks each
        # name up once, not once per node).
        self.strategy = (
            strategy if strategy is not None else load_strategy(config.routing.strategy)
        )
        self.codec = (
            codec
            if codec is not None
            else make_codec(config.security.encryption, config.security.key_file)
        )
        # The node's identity and trust store when ``[security]`` names
        # them (or the caller gives them: the simulator's in-memory keys),
        # loaded now so a bad file is found at start. With ``authenticate``
        # they sign and verify control messages (docs/protocol.md §2.7,
        # ``vanet.auth``); ``trust`` stays the same object when the file is
        # re-read (``reload_trust``). Raises IdentityFileError /
        # TrustFileError, one line each.
        security = config.security
        self.identity = (
            identity
            if identity is not None or security.identity is None
            else load_identity(security.identity)
        )
        self.trust = (
            trust
            if trust is not None or security.trust is None
            else load_trust(security.trust)
        )

        if security.authenticate and (self.identity is None or self.trust is None):
            missing = "identity" if self.identity is None else "trust"
            raise ConfigError(
                f"{config.source}: [security] {missing} is missing: it is "
                f"required when authenticate = yes"
            )

    def reload_trust(self) -> TrustStore:
        """Re-read ``[security] trust`` into ``self.trust`` (the same object
        the cores hold); on ``TrustFileError`` the old entries stay."""
        path = self.config.security.trust
        if path is None or self.trust is None:
            raise ValueError("no [security] trust file is configured")
        self.trust.replace(load_trust(path))
        return self.trust

    @property
    def hello_period_s(self) -> float:
        return self.config.routing.hello_period_ms / 1000.0

    def build_engine(self, mac: bytes, clock: IReactorTime) -> NodeEngine:
        """A node engine with its routing core and data plane, not started."""
        config = self.config
        routing_config = config.routing
        now = clock.seconds()
        gate = None
        if config.security.authenticate:
            gate = AuthGate(
                mac,
                config.role,
                self.identity,
                self.trust,
                history=routing_config.hello_history,
            )
        if config.role == "rsu":
            routing = RsuRoutingCore(
                mac,
                self.strategy,
                hello_history=routing_config.hello_history,
                neighbour_timeout=routing_config.neighbour_timeout,
                started=now,
                name=config.node.name,
                first_seq=0 if gate is None else first_seq(now, self.hello_period_s),
                # Data is not signed: only verified replies make routes then
                # (docs/protocol.md §4.5, §2.7).
                data_routes=gate is None,
                period=self.hello_period_s,
            )
            # Frames for a vehicle without a route wait up to two periods.
            dataplane = RsuDataPlane(
                mac, routing, self.codec, hold_s=2 * self.hello_period_s
            )
        else:
            routing = ObuRoutingCore(
                mac,
                self.strategy,
                hello_history=routing_config.hello_history,
                cached_candidates=routing_config.cached_candidates,
                neighbour_timeout=routing_config.neighbour_timeout,
                gateway_switch_threshold=routing_config.gateway_switch_threshold,
                default_period=self.hello_period_s,
                max_hops=routing_config.max_hops,
                relay_scope=routing_config.relay_scope,
                name=config.node.name,
                link_quality=self.link_quality,
            )
            # TAP frames wait up to two periods for a first upstream.
            dataplane = ObuDataPlane(
                mac, routing, self.codec, hold_s=2 * self.hello_period_s
            )
        return NodeEngine(
            name=config.node.name,
            role=config.role,
            mac=mac,
            routing=routing,
            dataplane=dataplane,
            clock=clock,
            hello_period_s=self.hello_period_s,
            strategy_name=routing_config.strategy,
            gate=gate,
        )

    def buildProtocol(self, engine: NodeEngine) -> LinkProtocol:
        return self.protocol(engine)
