"""MemoryTap: the in-memory TAP for tests and the simulator."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from vanet.interfaces import ITapDevice
from vanet.mac import stable_local_mac
from vanet.tap import MemoryTap

INNER = bytes.fromhex("0200000000020200000000010800") + b"payload"


class MemoryTapTests(SynchronousTestCase):
    def test_interface(self) -> None:
        self.assertTrue(
            verifyObject(ITapDevice, MemoryTap("t0", stable_local_mac("t0")))
        )

    def test_inject_delivers_to_reader(self) -> None:
        tap = MemoryTap("t0", stable_local_mac("t0"))
        delivered = []
        tap.startReading(delivered.append)
        tap.inject(bytearray(INNER))
        self.assertEqual(delivered, [INNER])
        self.assertIs(type(delivered[0]), bytes)
        self.assertEqual(tap.counters.received, 1)

    def test_inject_without_reader_is_counted(self) -> None:
        tap = MemoryTap("t0", stable_local_mac("t0"))
        tap.inject(INNER)
        self.assertEqual(tap.counters.filtered, 1)
        tap.startReading(lambda frame: None)
        tap.close()
        tap.inject(INNER)
        self.assertEqual(tap.counters.filtered, 2)

    def test_write_records_and_calls_back(self) -> None:
        seen = []
        tap = MemoryTap("t0", stable_local_mac("t0"), on_write=seen.append)
        buf = bytearray(INNER)
        tap.write(memoryview(buf))
        buf[0] = 0xFF  # the node reuses its buffer
        self.assertEqual(list(tap.written), [INNER])
        self.assertEqual(seen, [INNER])
        self.assertEqual(tap.counters.sent, 1)

    def test_history_is_bounded(self) -> None:
        tap = MemoryTap("t0", stable_local_mac("t0"), history=3)
        for i in range(5):
            tap.write(INNER + bytes([i]))
        self.assertEqual([f[-1] for f in tap.written], [2, 3, 4])
        self.assertEqual(tap.counters.sent, 5)

    def test_runt_write_is_dropped_and_counted(self) -> None:
        tap = MemoryTap("t0", stable_local_mac("t0"))
        tap.write(b"\x02\x00")
        self.assertEqual(list(tap.written), [])
        self.assertEqual(tap.counters.runts, 1)

    def test_write_after_close_raises(self) -> None:
        tap = MemoryTap("t0", stable_local_mac("t0"))
        tap.close()
        self.assertRaises(OSError, tap.write, INNER)
