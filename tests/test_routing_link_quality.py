"""Link quality on the OBU core's candidates: ``loss`` from the seqs a
neighbour delivered, ``rssi_dbm`` from the node's ``ILinkQuality``."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from vanet.discovery import load_strategy
from vanet.interfaces import ILinkQuality
from vanet.node.testing import heartbeat_view
from vanet.routing.obu import ObuRoutingCore

RSU = bytes.fromhex("020000000001")
N1 = bytes.fromhex("020000000011")
N2 = bytes.fromhex("020000000013")
ME = bytes.fromhex("020000000012")


@implementer(ILinkQuality)
class Table:
    def __init__(self, table: dict[bytes, float]) -> None:
        self.table = table
        self.asked: list[bytes] = []

    def rssi_dbm(self, neighbour: bytes) -> float | None:
        self.asked.append(neighbour)
        return self.table.get(neighbour)


def run(core: ObuRoutingCore) -> dict[str, dict]:
    """Seqs 1-4 of one RSU, one a second: N1 relays all, N2 only 1 and 3."""
    for seq in range(1, 5):
        now = float(seq)
        core.on_message(
            heartbeat_view(N1, RSU, seq, hops=2, duration_ms=seq * 1000), now
        )
        if seq in (1, 3):
            core.on_message(
                heartbeat_view(N2, RSU, seq, hops=2, duration_ms=seq * 1000),
                now + 0.01,
            )
        core.tick(now + 0.02)
    return {c["next_hop"]: c for c in core.status(4.02)["candidates"]}


class LinkQualityTests(SynchronousTestCase):
    def test_loss_is_the_share_of_held_seqs_not_delivered(self) -> None:
        cands = run(ObuRoutingCore(ME, load_strategy("latency")))
        self.assertEqual(cands["02:00:00:00:00:11"]["loss"], 0.0)
        self.assertEqual(cands["02:00:00:00:00:13"]["loss"], 0.5)

    def test_without_a_radio_no_rssi(self) -> None:
        cands = run(ObuRoutingCore(ME, load_strategy("latency")))
        self.assertEqual({c["rssi_dbm"] for c in cands.values()}, {None})

    def test_rssi_comes_from_the_nodes_link_quality(self) -> None:
        quality = Table({N1: -61.5})
        verifyObject(ILinkQuality, quality)
        core = ObuRoutingCore(ME, load_strategy("latency"), link_quality=quality)
        cands = run(core)
        self.assertEqual(cands["02:00:00:00:00:11"]["rssi_dbm"], -61.5)
        self.assertIsNone(cands["02:00:00:00:00:13"]["rssi_dbm"])
        self.assertIn(N2, quality.asked)

    def test_the_rssi_strategy_ranks_by_it(self) -> None:
        # N2 delivers less but is heard far stronger: rssi picks it, while
        # latency (equal hops, N1 measured first and fastest) keeps N1
        quality = Table({N1: -90.0, N2: -40.0})
        core = ObuRoutingCore(ME, load_strategy("rssi"), link_quality=quality)
        run(core)
        self.assertEqual(core.upstream, N2)
        latency = ObuRoutingCore(ME, load_strategy("latency"), link_quality=quality)
        run(latency)
        self.assertEqual(latency.upstream, N1)
