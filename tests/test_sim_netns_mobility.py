"""netns mode with mobility (issue 13, Done means 3): two vehicles drive
past an RSU as real node processes; ``ping`` from a vehicle's namespace
works while it is in range, through the other vehicle while that is the
way (the rear one while the RSU is ahead of its range, the front one once
past it), and stops when both have driven out of range.

Needs root and network namespaces (skips with the reason otherwise).
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests import netns
from tests.test_sim_netns import SimProcess, namespaces, ping

# One lane at 8 m/s; radio range 150 m with no fading loss. The RSU
# stands at x = 260: car1 starts at 120 (in range), car2 at 0 (260 m from
# the RSU, 120 m behind car1): car2 reaches the RSU through car1 until it
# is within 150 m itself (x = 110, about 14 s in); car1 drives out of the
# RSU's range past x = 410 (about 36 s in) and reaches it through car2
# until car2 is past it too (about 51 s in).
ROAD = """\
[sim]
mode = netns
seed = 5

[mobility]
model = highway
lanes = 1
speed_mps = 8
spacing_m = 120
length_m = 2000
exit = leave
rsu_start_m = 260

[radio]
max_range_m = 150
snr0_db = 150
"""


class NetnsDrivePastTests(SynchronousTestCase):
    def setUp(self) -> None:
        netns.skip_unless_root_netns()
        self.tmp = Path(tempfile.mkdtemp(prefix="vanet-netns-mobility-"))
        self.addCleanup(subprocess.run, ["rm", "-rf", str(self.tmp)])
        tag = secrets.token_hex(2)
        self.names = {key: f"{key}-{tag}" for key in ("rsu", "car1", "car2")}
        text = ROAD
        for key, role, address in (
            ("rsu", "rsu", "10.78.0.1/24"),
            ("car1", "obu", "10.78.0.2/24"),
            ("car2", "obu", "10.78.0.3/24"),
        ):
            text += (
                f"\n[node:{self.names[key]}]\nrole = {role}\n"
                f"routing.hello_period_ms = 1000\ntap.address = {address}\n"
            )
        config = self.tmp / "road.ini"
        config.write_text(text)
        self.sim = SimProcess(self, config)
        self.addCleanup(self.assert_torn_down)

    def assert_torn_down(self) -> None:
        self.sim.stop()
        left = {f"vanet-{name}" for name in self.names.values()} & namespaces()
        self.assertEqual(left, set(), f"namespaces left behind: {left}")

    def info(self, key: str) -> dict:
        for entry in self.sim.get("/api/v1/node_info"):
            if entry["name"] == self.names[key]:
                return entry
        raise AssertionError(f"no {key} in /node_info")

    def upstream(self, key: str) -> tuple[str | None, int | None]:
        upstream = self.info(key)["upstream"] or {}
        return upstream.get("node"), upstream.get("hops")

    def first_echo(self, key: str, timeout: float) -> None:
        """Wait until one echo from ``key``'s namespace gets through (the
        RSU's route down and ARP come with the first frames)."""
        self.sim.wait_for(
            lambda: ping(f"vanet-{self.names[key]}", "10.78.0.1", count=1) == 1,
            timeout=timeout,
            what=f"a first echo from {key} to the RSU",
        )

    def test_two_vehicles_drive_past_an_rsu(self) -> None:
        sim, names = self.sim, self.names
        start = time.monotonic()
        # Behind, out of the RSU's range: through car1.
        sim.wait_for(
            lambda: (
                self.upstream("car2") == (names["car1"], 2)
                and self.upstream("car1") == (names["rsu"], 1)
            ),
            timeout=12,
            what="car2 through car1, car1 direct",
        )
        self.first_echo("car2", timeout=4)
        x = sim.get("/api/v1/positions")[names["car2"]]["x"]
        self.assertLess(x, 110, "car2 should still be out of the RSU's range")
        sim.assert_pings(
            self,
            f"vanet-{names['car2']}",
            "10.78.0.1",
            count=5,
            minimum=4,
            interval=0.2,
        )
        # Within range itself: direct (it hears the RSU with fewer hops).
        sim.wait_for(
            lambda: self.upstream("car2") == (names["rsu"], 1),
            timeout=25,
            what="car2 direct to the RSU once in range",
        )
        entry = self.info("car2")
        self.assertLessEqual(entry["upstream"]["distance_m"], 150.0)
        sim.assert_pings(
            self,
            f"vanet-{names['car2']}",
            "10.78.0.1",
            count=5,
            minimum=4,
            interval=0.2,
        )
        # car1 drives out of the RSU's range (x > 410, about 36 s in) while
        # car2, 120 m behind, is still in it: now car1 goes through car2.
        sim.wait_for(
            lambda: self.upstream("car1") == (names["car2"], 2),
            timeout=50 - (time.monotonic() - start),
            what="car1 through car2 once past the RSU's range",
        )
        positions = sim.get("/api/v1/positions")
        self.assertGreater(positions[names["car1"]]["x"], 410)
        self.first_echo("car1", timeout=4)
        sim.assert_pings(
            self,
            f"vanet-{names['car1']}",
            "10.78.0.1",
            count=5,
            minimum=4,
            interval=0.2,
        )
        # Both past it (car2 beyond x = 410, about 51 s in): no upstream, no echo.
        sim.wait_for(
            lambda: (
                self.upstream("car1") == (None, None)
                and self.upstream("car2") == (None, None)
            ),
            timeout=75 - (time.monotonic() - start),
            what="both to lose their upstream beyond the range",
        )
        positions = sim.get("/api/v1/positions")
        self.assertGreater(positions[names["car2"]]["x"], 410)
        self.assertEqual(ping(f"vanet-{names['car1']}", "10.78.0.1", count=3), 0)
