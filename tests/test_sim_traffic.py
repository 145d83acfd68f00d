"""Traffic generators' frames and per-flow statistics."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from vanet.mac import stable_local_mac
from vanet.sim.traffic import (
    ETHERTYPE_TEST,
    MIN_FRAME_SIZE,
    FlowStats,
    parse_test_frame,
    percentile,
)

SRC = stable_local_mac("tap-a")
DST = stable_local_mac("tap-b")


class FrameTests(SynchronousTestCase):
    def test_frame_layout(self) -> None:
        stats = FlowStats()
        flow = stats.add_flow("f", SRC, DST, size=200, rate_per_s=4)
        frame = flow.make_frame(7, now=12.5)
        self.assertEqual(len(frame), 200)
        self.assertEqual(frame[:6], DST)
        self.assertEqual(frame[6:12], SRC)
        self.assertEqual(int.from_bytes(frame[12:14], "big"), ETHERTYPE_TEST)
        self.assertEqual(parse_test_frame(frame), (flow.flow_id, 7, 12.5))
        self.assertEqual(flow.interval_s, 0.25)

    def test_smallest_frame(self) -> None:
        flow = FlowStats().add_flow("f", SRC, DST, size=MIN_FRAME_SIZE)
        frame = flow.make_frame(0, 0.0)
        self.assertEqual(len(frame), MIN_FRAME_SIZE)
        self.assertEqual(parse_test_frame(frame)[1], 0)

    def test_other_frames_are_not_test_frames(self) -> None:
        arp = DST + SRC + b"\x08\x06" + bytes(28)
        self.assertIsNone(parse_test_frame(arp))
        self.assertIsNone(parse_test_frame(b"short"))
        flow = FlowStats().add_flow("f", SRC, DST, size=100)
        frame = bytearray(flow.make_frame(1, 0.0))
        frame[14:18] = b"XXXX"  # right EtherType, wrong magic
        self.assertIsNone(parse_test_frame(bytes(frame)))

    def test_bad_flows_rejected(self) -> None:
        stats = FlowStats()
        stats.add_flow("f", SRC, DST, size=100)
        with self.assertRaises(ValueError):
            stats.add_flow("f", SRC, DST, size=100)
        with self.assertRaises(ValueError):
            stats.add_flow("g", SRC, DST, size=MIN_FRAME_SIZE - 1)
        with self.assertRaises(ValueError):
            stats.add_flow("h", SRC[:5], DST, size=100)

    @given(
        seq=st.integers(0, 2**64 - 1),
        now=st.floats(0, 1e9),
        size=st.integers(MIN_FRAME_SIZE, 1500),
    )
    def test_round_trip(self, seq, now, size) -> None:
        flow = FlowStats().add_flow("f", SRC, DST, size=size)
        frame = flow.make_frame(seq, now)
        self.assertEqual(len(frame), size)
        self.assertEqual(parse_test_frame(memoryview(frame)), (0, seq, now))


class StatsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.stats = FlowStats()
        self.up = self.stats.add_flow("up", SRC, DST, size=100, rate_per_s=10)
        self.down = self.stats.add_flow("down", DST, SRC, size=64, rate_per_s=1)

    def test_delivery_ratio_dedup_and_latency(self) -> None:
        frames = [self.up.make_frame(seq, now=seq * 0.1) for seq in range(10)]
        # 8 of 10 arrive, each 5 + seq ms later; one arrives twice
        for seq in range(8):
            self.stats.on_received(frames[seq], now=seq * 0.1 + (5 + seq) / 1000)
        self.assertIsNone(self.stats.on_received(frames[3], now=5.0))
        summary = self.stats.summary()["up"]
        self.assertEqual(summary["sent"], 10)
        self.assertEqual(summary["received"], 8)
        self.assertEqual(summary["duplicates"], 1)
        self.assertAlmostEqual(summary["delivery_ratio"], 0.8)
        latency = summary["latency_ms"]
        self.assertAlmostEqual(latency["p50"], 8, places=6)  # 5..12 ms
        self.assertAlmostEqual(latency["p90"], 12, places=6)
        self.assertAlmostEqual(latency["max"], 12, places=6)
        self.assertEqual(summary["src_mac"], ":".join(f"{b:02x}" for b in SRC))
        # the other flow is untouched
        down = self.stats.summary()["down"]
        self.assertEqual((down["sent"], down["received"]), (0, 0))
        self.assertIsNone(down["delivery_ratio"])
        self.assertEqual(
            down["latency_ms"], {"p50": None, "p90": None, "p99": None, "max": None}
        )
        self.assertEqual(self.stats.totals()["sent"], 10)
        self.assertAlmostEqual(self.stats.totals()["delivery_ratio"], 0.8)

    def test_flows_are_told_apart(self) -> None:
        up = self.up.make_frame(0, 0.0)
        down = self.down.make_frame(0, 0.0)
        self.assertIs(self.stats.on_received(down, 0.001), self.down)
        self.assertIs(self.stats.on_received(up, 0.002), self.up)
        self.assertEqual(self.stats.summary()["up"]["received"], 1)
        self.assertEqual(self.stats.summary()["down"]["received"], 1)

    def test_reordering_counted(self) -> None:
        frames = [self.up.make_frame(seq, 0.0) for seq in range(3)]
        for seq in (0, 2, 1):
            self.stats.on_received(frames[seq], 0.01)
        self.assertEqual(self.stats.summary()["up"]["out_of_order"], 1)

    def test_foreign_and_misdelivered_frames(self) -> None:
        self.assertIsNone(
            self.stats.on_received(DST + SRC + b"\x08\x00" + bytes(40), 1)
        )
        self.assertEqual(self.stats.totals()["foreign_frames"], 1)
        frame = self.up.make_frame(0, 0.0)
        self.assertIsNone(self.stats.on_received(frame, 0.1, receiver_mac=SRC))
        self.assertEqual(self.stats.summary()["up"]["misdelivered"], 1)
        self.assertIs(self.stats.on_received(frame, 0.1, receiver_mac=DST), self.up)
        self.assertEqual(self.stats.summary()["up"]["received"], 1)

    def test_percentile_nearest_rank(self) -> None:
        values = sorted(float(v) for v in range(1, 101))
        self.assertEqual(percentile(values, 50), 50)
        self.assertEqual(percentile(values, 90), 90)
        self.assertEqual(percentile(values, 99), 99)
        self.assertEqual(percentile(values, 100), 100)
        self.assertEqual(percentile([3.0], 99), 3.0)
        self.assertIsNone(percentile([], 50))
