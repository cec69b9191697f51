"""Open a built report in headless Debian chromium and check that every plot rendered cleanly.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe`` (JSON messages ending
in NUL on file descriptors 3 and 4): standard library only, no network port, no download.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edgeslim.report import build_report
from edgeslim.store import Store

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe",
)  # fmt: skip

# Chromium reads commands on fd 3 and writes on fd 4; this trampoline moves the pipe ends there.
_TRAMPOLINE = (
    "import fcntl, os, sys\n"
    "r, w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class DevTools:
    """A minimal DevTools-protocol client over chromium's debugging pipe."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        pipe_ends = [str(to_chrome_r), str(from_chrome_w)]
        command = [sys.executable, "-c", _TRAMPOLINE, *pipe_ends, chromium, *FLAGS]
        self._proc = subprocess.Popen(
            [*command, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        fcntl.fcntl(self._from_chrome, fcntl.F_SETFL, os.O_NONBLOCK)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(
        self, method: str, session: str | None = None, timeout: float = 60, **params: Any
    ) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._receive(deadline))
        return next(e for e in self.events if e.get("method") == method)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise EOFError(f"chromium exited (code {self._proc.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError, EOFError):
            self.call("Browser.close", timeout=10)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def _problems(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and error log entries among the events."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails']}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(f"console.{params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
    return found


_PROBE = """JSON.stringify({
  plots: [...document.querySelectorAll('.plotly-graph-div')].map(
      d => d.querySelectorAll('.main-svg').length),
  points: document.querySelectorAll('.scatterlayer .point').length,
  bars: document.querySelectorAll('.barlayer .point').length,
  rows: document.querySelectorAll('table.comparison tbody tr').length,
})"""


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report_store: Store, tmp_path: Path) -> None:
    chromium = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if chromium is None:
        pytest.skip(f"headless chromium not found ({CHROMIUM}); install Debian's chromium")
    page = build_report(report_store, None, tmp_path / "report.html")
    browser = DevTools(chromium, tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.navigate", session=session, url=page.resolve().as_uri())
        browser.wait_for_event("Page.loadEventFired")
        deadline, seen = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            result = browser.call("Runtime.evaluate", session=session, expression=_PROBE)
            seen = json.loads(result["result"]["value"])
            if len(seen["plots"]) == 6 and min(seen["plots"]) > 0 and seen["bars"]:
                break
            time.sleep(0.2)
        events = list(browser.events)
    finally:
        browser.close()
    assert len(seen["plots"]) == 6, seen  # 2 scatters and 4 per-layer bar charts
    assert min(seen["plots"]) >= 1, seen  # every plot drew its SVG
    assert seen["points"] == 8, seen  # 4 runs in each of the 2 scatters
    assert seen["bars"] == 4 * 3, seen  # 3 layers in each run
    assert seen["rows"] == 4, seen
    assert _problems(events) == []
