"""Steps a mobility model on the simulation's clock and keeps the channel
model's links in step with the positions (the Twisted edge of
``vanet.sim.mobility`` and ``vanet.sim.radio``).

The model advances every ``step_ms`` and the radio recomputes every
``update_ms``, both as ``LoopingCall``s on the simulation's clock, so on a
virtual clock they run in lock step with the nodes, and on the real clock a
late step catches up (it runs the steps it missed). Links the radio
makes are ordinary channel links: the API shows and counts them like any
other. Pairs with a link in the topology file, or changed through the API,
are the user's: the radio leaves them alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from vanet.interfaces import ILinkQuality, IMobilityModel
from vanet.sim.channel import ChannelMedium
from vanet.sim.mobility.position import Position, distance, pairs_within
from vanet.sim.radio import NakagamiFading, RadioSettings, rssi_dbm

log = Logger()


class MobilityDriver:
    """See the module docstring. ``nodes``: every node name, in file order
    (the order links are made in, so a seed reproduces a run)."""

    def __init__(
        self,
        model: IMobilityModel,
        radio: RadioSettings,
        medium: ChannelMedium,
        clock: IReactorTime,
        nodes: Iterable[str],
        step_ms: int,
        pinned: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.model = model
        self.radio = radio
        self.medium = medium
        self.clock = clock
        self.nodes = list(nodes)
        self.step_s = step_ms / 1000.0
        self._pinned = set(pinned)
        self._managed: set[tuple[str, str]] = set()
        self._fading: dict[tuple[str, str], NakagamiFading] = {}
        # RSSI of every pair in range at the last update, for strategies
        self._rssi: dict[tuple[str, str], float] = {}
        self._loops: list[LoopingCall] = []
        self.links_made = 0
        self.links_cut = 0
        #: called after every radio update (e.g. to sample the gateways)
        self.observers: list[Callable[[], None]] = []
        self.update()  # links exist before the first heartbeat

    # -- running -----------------------------------------------------------

    def start(self) -> None:
        step = LoopingCall.withCount(self._steps)
        update = LoopingCall(self.update)
        for loop, interval in (
            (step, self.step_s),
            (update, self.radio.update_ms / 1000.0),
        ):
            loop.clock = self.clock
            loop.start(interval, now=False)
            self._loops.append(loop)

    def _steps(self, count: int) -> None:
        # A late real clock runs the steps it missed, each of step_ms, so
        # the model moves as it would have on time.
        for _ in range(count):
            self.model.step(self.step_s)

    def stop(self) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops.clear()
        self.model.close()

    # -- the radio ---------------------------------------------------------

    def update(self) -> None:
        """Make, change and cut the radio's links from the positions now."""
        positions = self.model.positions()
        placed = [(name, positions[name]) for name in self.nodes if name in positions]
        radio = self.radio
        per_packet = radio.mode == "per-packet"
        medium = self.medium
        wanted: set[tuple[str, str]] = set()
        rssi: dict[tuple[str, str], float] = {}
        for a, b, d in pairs_within(placed, radio.max_range_m):
            params = radio.channel(d)  # in range: never None
            rssi[(a, b)] = rssi[(b, a)] = rssi_dbm(d)
            for pair in ((a, b), (b, a)):
                if pair in self._pinned:
                    continue
                wanted.add(pair)
                medium.set_link(pair[0], pair[1], params)
                if pair not in self._managed:
                    self.links_made += 1
                if per_packet:
                    fading = self._fading.get(pair)
                    if fading is None or pair not in self._managed:
                        fading = self._fading[pair] = radio.fading(d)
                    else:
                        fading.retarget(radio.mean_snr(d))
                    medium.set_fading(pair[0], pair[1], fading)
        for pair in self._managed - wanted:
            medium.remove_link(*pair)
            self._fading.pop(pair, None)
            self.links_cut += 1
        self._managed = wanted
        self._rssi = rssi
        for observer in self.observers:
            observer()

    def pin(self, a: str, b: str) -> None:
        """The user set a -> b (through the API): the radio keeps off it."""
        self._pinned.add((a, b))
        if (a, b) in self._managed:
            self._managed.discard((a, b))
            self.medium.set_fading(a, b, None)
            self._fading.pop((a, b), None)

    # -- what the API shows ------------------------------------------------

    def positions(self) -> dict[str, Position]:
        return self.model.positions()

    def set_position(self, name: str, x: float, y: float) -> None:
        """Move a node the model lets us move; the links follow at once."""
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError("x and y must be finite numbers (metres)")
        self.model.set_position(name, x, y)
        self.update()

    def road(self) -> dict[str, object]:
        """``GET /road``: the model's road, JSON-ready."""
        return self.model.road().as_dict()

    def link_quality(self, a: str, b: str) -> dict[str, float] | None:
        """Distance and RSSI between two placed nodes, else ``None``."""
        positions = self.model.positions()
        if a not in positions or b not in positions:
            return None
        d = distance(positions[a], positions[b])
        return {"distance_m": round(d, 2), "rssi_dbm": round(rssi_dbm(d), 2)}

    def link_quality_of(
        self, node: str, names_by_mac: dict[bytes, str]
    ) -> RadioLinkQuality:
        """``node``'s ``ILinkQuality``: the RSSI of its link to each
        neighbour as of the last update, which its routing core puts on
        its candidates."""
        return RadioLinkQuality(self, node, names_by_mac)

    def describe(self) -> dict[str, object]:
        """``GET /fading``: the radio's model and parameters, and the
        mobility model's."""
        return {
            **self.radio.describe(),
            "mobility": self.model.describe(),
            "radio_links": len(self._managed),
            "links_made": self.links_made,
            "links_cut": self.links_cut,
        }


@implementer(ILinkQuality)
class RadioLinkQuality:
    """One node's view of the radio: the RSSI of its link to a neighbour
    (by MAC) as of the driver's last update; ``None`` out of range."""

    __slots__ = ("_driver", "_node", "_names")

    def __init__(
        self, driver: MobilityDriver, node: str, names_by_mac: dict[bytes, str]
    ) -> None:
        self._driver = driver
        self._node = node
        self._names = names_by_mac

    def rssi_dbm(self, neighbour: bytes) -> float | None:
        name = self._names.get(bytes(neighbour))
        if name is None:
            return None
        return self._driver._rssi.get((self._node, name))
