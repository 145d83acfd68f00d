"""Driving Debian's Chromium with Playwright, for the web view's tests.

Playwright's own browser downloads are never used: the tests launch the
system's ``chromium`` (``apt-get install chromium``; CI installs it) and
skip, saying so, where there is none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """``$VANET_CHROMIUM``, or Debian's ``chromium`` on ``PATH``."""
    explicit = os.environ.get("VANET_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip(
            "Chromium is absent: `apt-get install chromium` (or set "
            "VANET_CHROMIUM) to run the browser tests"
        )
    return path


def artefact_dir() -> Path:
    """Where screenshots go: ``$VANET_ARTEFACTS``, else a folder in the
    system's temporary directory (never the work tree)."""
    path = Path(
        os.environ.get("VANET_ARTEFACTS")
        or Path(tempfile.gettempdir()) / "vanet-artefacts"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def get_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def post_json(url: str, body: dict, timeout: float = 5.0):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def eventually(
    check: Callable[[], object], timeout: float, interval: float = 0.1
) -> object:
    """``check()``'s first true result within ``timeout`` seconds; else the
    last ``AssertionError`` (or a timeout) is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
        else:
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(interval)


class Browser:
    """One headless Chromium page that records console errors."""

    def __init__(self, executable: str) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox"]
        )
        self.page = self.browser.new_page(
            viewport={"width": 1500, "height": 950}, accept_downloads=True
        )
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.errors.append(message.text) if message.type == "error" else None
            ),
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def close(self) -> None:
        """Stop the browser (once; a second call does nothing). One
        Playwright runs per thread at a time: close one before the next."""
        if self._playwright is None:
            return
        self.browser.close()
        self._playwright.stop()
        self._playwright = None


def note_when_gone(page, name: str, selector: str, attribute: str, old: str) -> None:
    """From now on, note in the page the wall time (s, ``Date.now()``: the
    clock a real-time simulation and a node run on) of the first DOM
    change after which ``selector``'s ``attribute`` (``"text"``: its text)
    no longer contains ``old``, or nothing matches it; ``noted_at`` reads
    it."""
    page.evaluate(
        """([name, selector, attribute, old]) => {
          window.__gone = window.__gone || {};
          const gone = () => {
            const e = document.querySelector(selector);
            if (!e) return true;
            const value = attribute === "text" ? e.textContent : e.getAttribute(attribute);
            return !(value || "").includes(old);
          };
          const observer = new MutationObserver(() => {
            if (gone()) { window.__gone[name] = Date.now() / 1000; observer.disconnect(); }
          });
          observer.observe(document.body,
            { subtree: true, childList: true, attributes: true, characterData: true });
        }""",
        [name, selector, attribute, old],
    )


def noted_at(page, name: str) -> float | None:
    return page.evaluate("name => (window.__gone || {})[name] ?? null", name)


def first_event_after(
    status: dict, names: set[str], since: float, read_at: float
) -> tuple[dict, float]:
    """The oldest of a node's ``recent_events`` named in ``names`` that
    happened at or after ``since`` (wall time), and when (wall time, from
    its ``s_ago`` and ``read_at``, the time the status was read at)."""
    found = [
        (read_at - event["s_ago"], event)
        for event in status["recent_events"]
        if event["event"] in names and read_at - event["s_ago"] >= since
    ]
    if not found:
        raise AssertionError(f"no {sorted(names)} event since {since}: {status}")
    at, event = min(found, key=lambda pair: pair[0])
    return event, at
