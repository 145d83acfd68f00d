"""Radio links from positions: distance, Nakagami-m fading, RSSI (sans-I/O).

For each ordered pair of placed nodes at distance ``d`` metres:

- beyond ``max_range_m`` there is no link;
- latency = ``d * ms_per_100m / 100`` ms (plus ``jitter_ms``);
- the mean SNR (linear) is ``SNR0 / d**eta``; under Nakagami-m fading the
  received SNR is Gamma(m, mean/m) distributed, so a frame is lost when it
  falls below the threshold with probability
  ``P(m, m * SNR_threshold / mean_SNR)``, ``P`` the regularized lower
  incomplete gamma function (exact closed form for whole ``m``);
- RSSI = ``-20 - 20 * log10(max(d, 1))`` dBm.

Defaults are the older implementation's. ``periodic`` mode sets each link's
loss to that probability at every update; ``per-packet`` mode draws the
fading per frame instead (``NakagamiFading``), keeping a draw for
``coherence_ms``.
"""

from __future__ import annotations

import math
import random

import attrs

from vanet.schema import choice, number, setting, whole
from vanet.sim.channel import ChannelParams
from vanet.sim.sections import finite, positive

RADIO_MODES = ("periodic", "per-packet")


def regularized_lower_gamma(m: int, x: float) -> float:
    """P(m, x) for a whole ``m >= 1``: 1 - e^-x * sum_{k<m} x^k / k!."""
    if m < 1 or int(m) != m:
        raise ValueError(f"m must be a whole number >= 1, got {m!r}")
    if x <= 0:
        return 0.0
    term = 1.0
    total = 1.0
    for k in range(1, int(m)):
        term *= x / k
        total += term
    return min(1.0, max(0.0, 1.0 - math.exp(-x) * total))


def db_to_linear(db: float) -> float:
    return 10.0 ** (db / 10.0)


def rssi_dbm(distance_m: float) -> float:
    """The RSSI reported for a link of ``distance_m`` metres."""
    return -20.0 - 20.0 * math.log10(max(distance_m, 1.0))


@attrs.frozen(kw_only=True)
class RadioSettings:
    """The ``[radio]`` section: links from the distance between nodes."""

    model: str = setting(
        choice("nakagami"), "nakagami", "the fading model (nakagami-m)"
    )
    m: int = setting(whole(1, 64), 2, "Nakagami shape m, a whole number (1: Rayleigh)")
    eta: float = setting(positive, 2.0, "path-loss exponent: mean SNR = SNR0 / d^eta")
    snr0_db: float = setting(finite, 60.0, "SNR0: mean SNR at 1 m, in dB")
    snr_threshold_db: float = setting(
        finite, 5.0, "a frame is received when its SNR is at least this, in dB"
    )
    max_range_m: float = setting(positive, 500.0, "no link beyond this distance")
    ms_per_100m: float = setting(number(0), 2.0, "latency per 100 m of distance, in ms")
    jitter_ms: float = setting(
        number(0), 0.0, "plus a uniform draw in ±jitter_ms on every frame"
    )
    update_ms: int = setting(
        whole(1), 200, "links are recomputed from positions this often"
    )
    mode: str = setting(
        choice(*RADIO_MODES),
        "periodic",
        "periodic: each link's loss is the fading's loss probability, "
        "recomputed every update; per-packet: fading drawn per frame",
    )
    coherence_ms: float = setting(
        number(0),
        0.0,
        "per-packet mode: a fading draw holds this long on a link (0: every "
        "frame its own draw)",
    )

    @property
    def snr0(self) -> float:
        return db_to_linear(self.snr0_db)

    @property
    def snr_threshold(self) -> float:
        return db_to_linear(self.snr_threshold_db)

    def mean_snr(self, distance_m: float) -> float:
        """Linear mean SNR at ``distance_m`` (1 m at the least)."""
        return self.snr0 / max(distance_m, 1.0) ** self.eta

    def loss(self, distance_m: float) -> float:
        """Probability that a frame is lost to fading at this distance."""
        return regularized_lower_gamma(
            self.m, self.m * self.snr_threshold / self.mean_snr(distance_m)
        )

    def channel(self, distance_m: float) -> ChannelParams | None:
        """The link's parameters at this distance, ``None`` out of range."""
        if distance_m > self.max_range_m:
            return None
        return ChannelParams(
            latency_ms=distance_m * self.ms_per_100m / 100.0,
            jitter_ms=self.jitter_ms,
            loss=self.loss(distance_m),
        )

    def fading(self, distance_m: float) -> NakagamiFading:
        """Per-packet mode: the link's per-frame fading at this distance."""
        return NakagamiFading(
            self.m,
            self.mean_snr(distance_m),
            self.snr_threshold,
            self.coherence_ms / 1000.0,
        )

    def describe(self) -> dict[str, object]:
        return attrs.asdict(self)


class NakagamiFading:
    """Per-frame fading on one link: the received SNR is a Gamma(m,
    mean/m) draw, held for ``coherence_s``; below the threshold the frame
    is lost. The channel asks ``lost(now, rng)`` for each frame."""

    __slots__ = ("m", "mean_snr", "threshold", "coherence_s", "_until", "_snr")

    def __init__(
        self, m: int, mean_snr: float, threshold: float, coherence_s: float
    ) -> None:
        self.m = m
        self.mean_snr = mean_snr
        self.threshold = threshold
        self.coherence_s = coherence_s
        self._until = -math.inf
        self._snr = 0.0

    def retarget(self, mean_snr: float) -> None:
        """The nodes moved: a new mean, the held draw rescaled to it."""
        if self.mean_snr > 0:
            self._snr *= mean_snr / self.mean_snr
        self.mean_snr = mean_snr

    def lost(self, now: float, rng: random.Random) -> bool:
        if self.coherence_s <= 0 or now >= self._until:
            self._snr = rng.gammavariate(self.m, self.mean_snr / self.m)
            self._until = now + self.coherence_s
        return self._snr < self.threshold
