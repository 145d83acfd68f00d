"""A real node's own page (its control endpoint's ``/``) in headless
Chromium: an RSU and two OBUs as ``twistd`` processes in network
namespaces (tests/test_twistd_netns.py builds them), the browser started
inside a node's namespace, where the control endpoint listens on loopback.
"""

from __future__ import annotations

import os
import stat
import time

from twisted.trial.unittest import SynchronousTestCase

from tests import netns
from tests.browser import (
    Browser,
    artefact_dir,
    chromium_path,
    first_event_after,
    note_when_gone,
    noted_at,
)
from tests.test_twistd_netns import CONTROL_PORT, PERIOD_MS, start_network
from vanet.web.stream import UPSTREAM_EVENTS

URL = f"http://127.0.0.1:{CONTROL_PORT}/"
PERIOD_S = PERIOD_MS / 1000
# From the node's route event to its page drawing it (wall time): pushed at
# once (vanet.web.stream.MIN_GAP_S at most), then rendered.
RENDER_MARGIN_S = 0.3
ROUNDING_S = 0.001  # a status gives ages to the millisecond
# How late a timer may fire in a busy node (the reactor's lateness, not a
# tick: on a virtual clock the core runs at its deadline exactly).
TIMER_LATE_S = 0.01


def chromium_in(testcase: SynchronousTestCase, ns: str, chromium: str) -> str:
    """A launcher that runs ``chromium`` inside ``ns`` (Playwright's pipes
    are inherited file descriptors, which ``ip netns exec`` keeps)."""
    path = os.path.join(os.path.abspath(testcase.mktemp()) + "-chromium")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f'#!/bin/sh\nexec ip netns exec {ns} {chromium} "$@"\n')
    os.chmod(path, stat.S_IRWXU)
    return path


class NodePageTests(SynchronousTestCase):
    def setUp(self):
        chromium = chromium_path()
        if chromium is None:
            self.skipTest(
                "Chromium is absent: `apt-get install chromium` (or set "
                "VANET_CHROMIUM) to run the browser tests"
            )
        self.chromium = chromium

    def open(self, network, name: str) -> Browser:
        ns = network.segment.namespaces[name]
        browser = Browser(chromium_in(self, ns, self.chromium))
        self.addCleanup(browser.close)
        browser.page.goto(URL)
        browser.page.wait_for_selector("#connection.live")
        browser.page.locator('section[data-section="routes"]').wait_for()
        return browser

    def test_each_nodes_page_shows_its_status_live(self):
        network = start_network(self, "packet")
        nodes = network.nodes
        macs = {name: node.status()["mac"] for name, node in nodes.items()}

        rsu = self.open(network, "rsu")
        page = rsu.page
        self.assertEqual(page.title(), "vanet node rsu")
        routes = page.locator('section[data-section="routes"] tbody td:first-child')
        netns.wait_for(
            lambda: set(routes.all_inner_texts()) == {macs["obu1"], macs["obu2"]},
            5,
            "the RSU's page to list both vehicles' routes",
        )
        # Live: the counters move without a reload.
        frames = page.locator(
            'section[data-section="counters"] tr:has(td:text-is("frames_in")) td.num'
        )
        first = int(frames.inner_text())
        netns.wait_for(
            lambda: int(frames.inner_text()) > first, 5, "frames_in to grow on the page"
        )
        page.screenshot(path=str(artefact_dir() / "web-node-rsu.png"), full_page=True)
        self.assertEqual(rsu.errors, [])
        rsu.close()

        obu = self.open(network, "obu2")
        summary = obu.page.locator("dl.summary")
        netns.wait_for(
            lambda: macs["rsu"] in summary.inner_text(), 5, "obu2's upstream"
        )
        self.assertEqual(nodes["obu2"].status()["upstream"], macs["rsu"])
        self.assertEqual(obu.errors, [])

        # The RSU stops: two periods after its last heartbeat obu2 has no
        # upstream (the node runs its core at that deadline), and its page
        # shows it at once (pushed on the route event).
        note_when_gone(obu.page, "left", "dl.summary", "text", macs["rsu"])
        stopped_at = time.time()
        nodes["rsu"].process.terminate()
        obu.page.wait_for_function(
            "() => (window.__gone || {}).left !== undefined", timeout=10_000
        )
        shown_at = noted_at(obu.page, "left")
        read_at = time.time()
        status = nodes["obu2"].status()
        event, event_at = first_event_after(
            status, UPSTREAM_EVENTS, stopped_at - PERIOD_S, read_at
        )
        decided_after_s = status["neighbours"][macs["rsu"]] - event["s_ago"]
        # Counted in the period obu2 learnt from the RSU's `duration`s
        # (docs/protocol.md §5.1), which its last heartbeat fixed.
        learnt_s = status["sources"][macs["rsu"]]["period_s"]
        print(
            f"obu2 {event['event']} {decided_after_s:.3f} s after the RSU's last"
            f" heartbeat (period {PERIOD_S} s, learnt {learnt_s:.4f} s); its page"
            f" drew it {shown_at - event_at:.3f} s later"
        )
        self.assertLessEqual(abs(learnt_s - PERIOD_S), 0.1 * PERIOD_S)
        self.assertLessEqual(decided_after_s, 2 * learnt_s + TIMER_LATE_S + ROUNDING_S)
        self.assertLessEqual(shown_at - event_at, RENDER_MARGIN_S)

        # The node stops: its page says so.
        nodes["obu2"].process.terminate()
        obu.page.locator("#gone").wait_for(state="visible", timeout=15_000)
