"""Open a built report in headless Debian chromium and check that every plot rendered cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import render_page
from edgeslim.report import build_report
from edgeslim.store import Store

_PROBE = """JSON.stringify({
  plots: [...document.querySelectorAll('.plotly-graph-div')].map(
      d => d.querySelectorAll('.main-svg').length),
  points: document.querySelectorAll('.scatterlayer .point').length,
  bars: document.querySelectorAll('.barlayer .point').length,
  rows: document.querySelectorAll('table.comparison tbody tr').length,
})"""


@pytest.mark.browser
def test_report_renders_in_headless_chromium(report_store: Store, tmp_path: Path) -> None:
    page = build_report(report_store, None, tmp_path / "report.html")
    seen, problems = render_page(
        page,
        _PROBE,
        lambda s: len(s["plots"]) == 6 and min(s["plots"]) > 0 and s["bars"],
        tmp_path / "profile",
    )
    assert len(seen["plots"]) == 6, seen  # 2 scatters and 4 per-layer bar charts
    assert min(seen["plots"]) >= 1, seen  # every plot drew its SVG
    assert seen["points"] == 8, seen  # 4 runs in each of the 2 scatters
    assert seen["bars"] == 4 * 3, seen  # 3 layers in each run
    assert seen["rows"] == 4, seen
    assert problems == []
