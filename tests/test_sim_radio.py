"""Links from positions: the Nakagami-m loss against known values of the
incomplete gamma function, RSSI, and links that appear and disappear at
range through the channel model."""

from __future__ import annotations

import math
import random

from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from vanet.sim.channel import ChannelMedium, ChannelParams
from vanet.sim.clock import VirtualClock
from vanet.sim.mobility.driver import MobilityDriver
from vanet.sim.mobility.highway import StaticPositions
from vanet.sim.mobility.position import Position, distance, pairs_within
from vanet.sim.radio import (
    NakagamiFading,
    RadioSettings,
    regularized_lower_gamma,
    rssi_dbm,
)

# P(m, x), from scipy.special.gammainc and mpmath (regularized=True).
KNOWN = [
    (1, 1.0, 1 - math.exp(-1)),
    (2, 1.0, 1 - 2 / math.e),
    (2, 0.5, 0.09020401043104986),
    (3, 2.0, 0.3233235838169366),
    (5, 5.0, 0.5595067149347879),
    (10, 3.0, 0.0011024881301154815),
]


def sigma(p: float, n: int) -> float:
    """Standard deviation of the share of n draws that hit with chance p."""
    return math.sqrt(p * (1 - p) / n)


class IncompleteGammaTests(SynchronousTestCase):
    def test_known_values(self) -> None:
        for m, x, expected in KNOWN:
            self.assertAlmostEqual(
                regularized_lower_gamma(m, x), expected, places=12, msg=(m, x)
            )

    def test_ends(self) -> None:
        self.assertEqual(regularized_lower_gamma(2, 0.0), 0.0)
        self.assertEqual(regularized_lower_gamma(2, 1e6), 1.0)

    def test_whole_m_only(self) -> None:
        for m in (0, 1.5, -1):
            with self.assertRaises(ValueError):
                regularized_lower_gamma(m, 1.0)


class NakagamiLossTests(SynchronousTestCase):
    radio = RadioSettings()

    def test_defaults_are_the_older_implementations(self) -> None:
        r = self.radio
        self.assertEqual(
            (r.m, r.eta, r.snr0_db, r.snr_threshold_db, r.max_range_m),
            (2, 2.0, 60.0, 5.0, 500.0),
        )
        self.assertEqual((r.ms_per_100m, r.update_ms, r.mode), (2.0, 200, "periodic"))

    def test_loss_is_the_incomplete_gamma_of_threshold_over_mean_snr(self) -> None:
        # d = 500 m: mean SNR = 10^6 / 500^2 = 4; x = 2 * 10^0.5 / 4
        x = 2 * 10**0.5 / 4
        self.assertAlmostEqual(self.radio.loss(500.0), 1 - math.exp(-x) * (1 + x))
        self.assertAlmostEqual(self.radio.loss(500.0), 0.46895479, places=7)
        # m = 3, eta = 3, SNR0 50 dB, threshold 10 dB, 100 m:
        # mean = 10^5 / 10^6 = 0.1; x = 3 * 10 / 0.1 = 300 -> certain loss
        other = RadioSettings(m=3, eta=3.0, snr0_db=50, snr_threshold_db=10)
        self.assertEqual(other.loss(100.0), 1.0)
        # m = 1 (Rayleigh): 1 - exp(-thr/mean); at 20 m: mean 10^4/400 = 25
        rayleigh = RadioSettings(m=1, snr0_db=40, snr_threshold_db=0)
        self.assertAlmostEqual(rayleigh.loss(20.0), 1 - math.exp(-1 / 25))

    def test_loss_grows_with_distance(self) -> None:
        losses = [self.radio.loss(d) for d in (1, 50, 100, 200, 300, 400, 500)]
        self.assertEqual(losses, sorted(losses))
        self.assertLess(losses[0], 1e-6)

    def test_channel_in_range_latency_and_out_of_range_none(self) -> None:
        self.assertEqual(
            self.radio.channel(250.0),
            ChannelParams(latency_ms=5.0, jitter_ms=0.0, loss=self.radio.loss(250.0)),
        )
        self.assertIsNotNone(self.radio.channel(500.0))
        self.assertIsNone(self.radio.channel(500.01))

    def test_rssi(self) -> None:
        self.assertEqual(rssi_dbm(1.0), -20.0)
        self.assertEqual(rssi_dbm(0.2), -20.0)
        self.assertAlmostEqual(rssi_dbm(100.0), -60.0)
        self.assertAlmostEqual(rssi_dbm(500.0), -20 - 20 * math.log10(500))

    def test_per_packet_draws_lose_the_expected_share(self) -> None:
        rng = random.Random(7)
        for d in (150.0, 400.0):
            fading = self.radio.fading(d)
            lost = sum(fading.lost(0.0, rng) for _ in range(40_000))
            expected = self.radio.loss(d)
            self.assertLess(
                abs(lost / 40_000 - expected), 4 * sigma(expected, 40_000), (d, lost)
            )

    def test_a_draw_holds_for_the_coherence_time(self) -> None:
        def runs(coherence_s: float) -> list[int]:
            # the mean at the threshold: about half the draws lose
            fading = NakagamiFading(2, 3.0, 3.0, coherence_s)
            rng = random.Random(1)
            lost = [fading.lost(step * 0.001, rng) for step in range(2000)]
            lengths, count = [], 1
            for before, now in zip(lost, lost[1:]):
                if before == now:
                    count += 1
                else:
                    lengths.append(count)
                    count = 1
            return lengths  # every run of equal outcomes but the last

        # a frame a ms and 10 ms coherence: ten frames (at least) per draw
        held = runs(0.010)
        self.assertGreater(len(held), 20)
        self.assertGreaterEqual(min(held), 10)
        # without coherence every frame draws anew
        self.assertEqual(min(runs(0.0)), 1)


class Port:
    def __init__(self, name: str) -> None:
        self.name = name
        self.mac = bytes([2, 0, 0, 0, 0, len(name)])
        self.received: list[bytes] = []

    def receive(self, frame: bytes) -> None:
        self.received.append(frame)


def links(medium: ChannelMedium) -> dict[tuple[str, str], ChannelParams]:
    return {(a, b): params for a, b, params in medium.links()}


class RadioLinksTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = VirtualClock()
        self.medium = ChannelMedium(self.clock, seed=1)
        self.model = StaticPositions(
            {"rsu": Position(0, 0), "car": Position(300, 0), "far": Position(2000, 0)}
        )

    def driver(self, radio: RadioSettings | None = None, pinned=()) -> MobilityDriver:
        return MobilityDriver(
            self.model,
            radio or RadioSettings(),
            self.medium,
            self.clock,
            ["rsu", "car", "far"],
            step_ms=100,
            pinned=pinned,
        )

    def test_links_inside_range_both_ways_with_distance_latency(self) -> None:
        self.driver()
        self.assertEqual(set(links(self.medium)), {("rsu", "car"), ("car", "rsu")})
        params = links(self.medium)[("rsu", "car")]
        self.assertEqual(params.latency_ms, 6.0)
        self.assertAlmostEqual(params.loss, RadioSettings().loss(300.0))

    def test_a_link_appears_and_disappears_at_the_range(self) -> None:
        driver = self.driver()
        driver.set_position("car", 500.0, 0.0)
        self.assertIn(("rsu", "car"), links(self.medium))
        driver.set_position("car", 500.5, 0.0)
        self.assertEqual(links(self.medium), {})
        driver.set_position("far", 900.0, 0.0)
        self.assertEqual(set(links(self.medium)), {("car", "far"), ("far", "car")})
        self.assertEqual((driver.links_made, driver.links_cut), (4, 2))

    def test_frames_follow_the_links(self) -> None:
        driver = self.driver(RadioSettings(snr0_db=200))  # no fading loss
        ports = {name: Port(name) for name in ("rsu", "car", "far")}
        for port in ports.values():
            self.medium.attach(port)
        frame = b"\xff" * 6 + b"x" * 20
        self.medium.transmit(ports["rsu"], frame)
        self.clock.advance(1)
        self.assertEqual(len(ports["car"].received), 1)
        self.assertEqual(self.clock.seconds(), 1)
        driver.set_position("car", 501.0, 0.0)
        self.medium.transmit(ports["rsu"], frame)
        self.clock.advance(1)
        self.assertEqual(len(ports["car"].received), 1)
        self.assertEqual(ports["far"].received, [])

    def test_the_driver_follows_the_clock(self) -> None:
        moving = _Mover()
        driver = MobilityDriver(
            moving,
            RadioSettings(update_ms=500),
            self.medium,
            self.clock,
            ["a", "b"],
            step_ms=100,
        )
        driver.start()
        self.clock.run_until(10.0)
        driver.stop()
        # 100 steps of 0.1 s: b drove 10 s at 60 m/s from 0 m
        self.assertAlmostEqual(moving.time_s, 10.0)
        # the last update (t = 10 s) saw b at 600 m: out of range
        self.assertEqual(links(self.medium), {})
        self.assertEqual(driver.links_cut, 2)

    def test_a_late_real_clock_catches_up_step_by_step(self) -> None:
        reactor = task.Clock()
        moving = _Mover()
        driver = MobilityDriver(
            moving, RadioSettings(), self.medium, reactor, ["a", "b"], step_ms=100
        )
        driver.start()
        reactor.advance(2.5)  # the reactor was busy for 2.5 s
        driver.stop()
        self.assertEqual(moving.steps, [0.1] * 25)

    def test_fixed_links_win(self) -> None:
        self.medium.set_link("rsu", "far", ChannelParams(latency_ms=1))
        driver = self.driver(pinned=[("rsu", "far")])
        self.assertEqual(links(self.medium)[("rsu", "far")].latency_ms, 1)
        self.assertNotIn(("far", "rsu"), links(self.medium))
        # a pair the user changed is the user's from then on
        driver.pin("car", "rsu")
        self.medium.set_params("car", "rsu", loss=1.0)
        driver.set_position("car", 100.0, 0.0)
        self.assertEqual(links(self.medium)[("car", "rsu")].loss, 1.0)
        self.assertEqual(links(self.medium)[("rsu", "car")].latency_ms, 2.0)

    def test_per_packet_mode_puts_fading_on_the_links(self) -> None:
        self.driver(RadioSettings(mode="per-packet", coherence_ms=5))
        ports = {name: Port(name) for name in ("rsu", "car")}
        for port in ports.values():
            self.medium.attach(port)
        for i in range(4000):
            self.clock.run_until(i * 0.001)
            self.medium.transmit(ports["rsu"], b"\xff" * 6 + b"y" * 20)
        self.clock.advance(1)
        stats = self.medium.link_stats("rsu", "car")
        # 5 ms coherence, a frame a ms: 800 independent draws
        expected = RadioSettings().loss(300.0)
        share = stats["frames_lost"] / 4000
        self.assertLess(abs(share - expected), 4 * sigma(expected, 800), share)


class _Mover:
    """A model with one node driving away at 60 m/s."""

    name = "mover"

    def __init__(self) -> None:
        self.time_s = 0.0
        self.steps: list[float] = []

    def step(self, dt: float) -> None:
        self.time_s += dt
        self.steps.append(dt)

    def positions(self):
        return {"a": Position(0, 0), "b": Position(60.0 * self.time_s, 0, 60.0, 90)}

    def set_position(self, name, x, y):
        raise ValueError("no")

    def describe(self):
        return {"model": self.name}

    def close(self):
        pass


class PairsWithinTests(SynchronousTestCase):
    @settings(max_examples=100, deadline=None)
    # exactly reach apart, across two square borders once rounded
    @example(points=[(-1e-300, 0.0), (1.0, 0.0)], reach=1.0)
    @given(
        points=st.lists(
            st.tuples(st.floats(-3000, 3000), st.floats(-3000, 3000)), max_size=40
        ),
        reach=st.floats(1.0, 2000.0),
    )
    def test_the_grid_finds_what_every_pair_would(self, points, reach) -> None:
        placed = [(f"n{i}", Position(x, y)) for i, (x, y) in enumerate(points)]
        expected = [
            (a, b, distance(pa, pb))
            for i, (a, pa) in enumerate(placed)
            for b, pb in placed[i + 1 :]
            if distance(pa, pb) <= reach
        ]
        self.assertEqual(pairs_within(placed, reach), expected)
