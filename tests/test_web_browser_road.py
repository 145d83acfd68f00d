"""The simulator's web page in real headless Chromium (Debian's, driven by
Playwright) against ``vanet-sim`` running examples/moving-highway.ini in
real time: the road is drawn under the nodes, and the vehicles move along
it."""

from __future__ import annotations

import pytest

from tests.browser import Browser, eventually, require_chromium
from tests.geometry import distance_to_line
from tests.simproc import ROOT, Running

MOVING = ROOT / "examples" / "moving-highway.ini"
#: how far (SVG units) a drawn vehicle may be from a drawn lane
NEAR = 3.0


@pytest.fixture(scope="module")
def sim():
    require_chromium()
    running = Running(MOVING)

    def placed():
        assert running.process.poll() is None, running.stop()
        try:
            return running.api("positions")
        except OSError:
            return False

    try:
        eventually(placed, timeout=20, interval=0.3)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser(sim):
    chromium = Browser(require_chromium())
    chromium.page.goto(sim.url + "/")
    chromium.page.wait_for_selector("#connection.live")
    chromium.page.wait_for_selector("#layer-road polyline.road", state="attached")
    try:
        yield chromium
    finally:
        chromium.close()


def picture(page) -> dict:
    """The drawn road (polylines' points) and nodes (centres), in one go."""
    return page.evaluate(
        """() => ({
          road: [...document.querySelectorAll('#layer-road polyline.road')].map(
            l => [...l.points].map(p => [p.x, p.y])),
          nodes: Object.fromEntries([...document.querySelectorAll('g.node')].map(g => {
            const m = g.transform.baseVal.consolidate().matrix;
            return [g.dataset.node, [m.e, m.f]];
          })),
          order: [...document.getElementById('graph').children].map(c => c.id),
        })"""
    )


def test_the_road_is_drawn_under_the_nodes(browser, sim):
    road = sim.api("road")
    assert road["lanes"] == 2 and len(road["polylines"]) == 2
    drawn = picture(browser.page)
    assert len(drawn["road"]) == len(road["polylines"])
    # the road's layer comes before (under) the links and the nodes
    order = drawn["order"]
    assert order.index("layer-road") < order.index("layer-links")
    assert order.index("layer-road") < order.index("layer-nodes")
    # a 3 km road east across the picture, north up: lane 1 above lane 0
    (lane0, lane1) = drawn["road"]
    assert lane0[-1][0] - lane0[0][0] > 500
    assert lane1[0][1] < lane0[0][1]
    assert browser.errors == []


def test_vehicles_sit_on_the_road_and_move(browser, sim):
    vehicles = [n["name"] for n in sim.api("nodes") if n["role"] == "obu"]
    first = picture(browser.page)
    on_road = [name for name in vehicles if name in first["nodes"]]
    assert len(on_road) > len(vehicles) // 2
    for name in on_road:
        point = first["nodes"][name]
        nearest = min(distance_to_line(point, line) for line in first["road"])
        assert nearest <= NEAR, (name, point, nearest)
    # RSUs stand 10 m beside the road, drawn too
    rsus = [n["name"] for n in sim.api("nodes") if n["role"] == "rsu"]
    assert all(name in first["nodes"] for name in rsus)

    def moved():
        later = picture(browser.page)
        assert later["road"] == first["road"]  # the road stays put
        return any(
            later["nodes"][n][0] != first["nodes"][n][0]
            for n in on_road
            if n in later["nodes"]
        )

    eventually(moved, timeout=5, interval=0.25)
    again = picture(browser.page)
    for name in vehicles:
        if name in again["nodes"]:
            point = again["nodes"][name]
            nearest = min(distance_to_line(point, line) for line in again["road"])
            assert nearest <= NEAR, (name, point, nearest)
    assert browser.errors == []
