"""The search report view, and calibration + export measured in QEMU (toolchain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.report.search import build_search_report, get_search_info
from edgeslim.targets import load_target

pytestmark = pytest.mark.torch


def _trial(n: int, status: str, acc: float | None, instr: float) -> dict[str, Any]:
    cost = {"instructions": instr, "flash_bytes": 4096.0, "ram_bytes": 2048.0}
    return {
        "number": n,
        "status": status,
        "val": None if acc is None else {"accuracy": acc},
        "test": None if acc is None else {"accuracy": acc - 0.1},
        "cost": cost if acc is not None else None,
        "predicted": cost,
        "candidate": {"family": "recurrent", "arch": {"cell": "gru"}, "policy": {}},
    }


SHOW = {
    "name": "s",
    "target": "cortex-m4",
    "budget": {"ram_bytes": 16384.0},
    "counts": {"complete": 3, "pruned": 1},
    "status": {"trained": 2, "rejected": 1, "pruned": 1},
    "front": [{"number": 0}],
    "trials": [
        _trial(0, "trained", 0.9, 1e5),
        _trial(1, "trained", 0.5, 2e5),
        _trial(2, "rejected", None, 9e6),
        _trial(3, "pruned", None, 1e5),
    ],
    "baselines": [
        {
            "name": "gru-32",
            "config": {"kind": "gru", "hidden": 32},
            "val": {"accuracy": 0.8},
            "test": {"accuracy": 0.7},
            "cost": {"instructions": 3e6, "flash_bytes": 18000.0, "ram_bytes": 15000.0},
        }
    ],
    "calibration": {"mean_rel_error": 0.05, "max_rel_error": 0.1},
}


def test_search_info_marks_front_and_baselines() -> None:
    info = get_search_info(SHOW)
    kinds = {p.label: p.kind for p in info.points}
    assert kinds == {"#0": "front", "#1": "trained", "#2": "rejected", "#3": "pruned",
                     "gru-32": "baseline"}  # fmt: skip
    assert next(p for p in info.points if p.label == "#2").accuracy is None


def test_search_report_writes_html_and_markdown(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    paths = build_search_report(get_search_info(SHOW), tmp_path)
    html, md = (p.read_text() for p in paths)
    assert "gru-32" in html and "Plotly" in html and "#0" in html
    assert "| #0 | front |" in md and "| gru-32 | baseline |" in md and "5.0%" in md
    with pytest.raises(Exception, match="force"):
        build_search_report(get_search_info(SHOW), tmp_path)


@pytest.mark.toolchain
@pytest.mark.slow
@pytest.mark.skipif(
    not mcu_toolchain_available(load_target("cortex-m4")),
    reason="needs arm-none-eabi-gcc, arm-none-eabi-size and qemu-system-arm",
)
def test_calibrated_search_exports_front_measured_in_qemu(
    tmp_path: Path, tiny_recipe: Any
) -> None:
    from edgeslim.api import open_store
    from edgeslim.api import search as s

    store = open_store(tmp_path / "s.db")
    recipe = tiny_recipe(baselines="{gru-4: {kind: gru, hidden: 4}}", export_top=1)
    model = s.calibrate(recipe, "cortex-m4", store, samples=3)
    assert model["coef"] and "mean_rel_error" in model["error"]
    run = store.get_run("search-calibration-cortex-m4")
    assert run.metric("calibration_mean_rel_error", "cortex-m4") is not None
    info = s.search(recipe, target="cortex-m4", store=store, trials=2, out_dir=tmp_path / "o")
    assert info["calibration"] == model["error"]  # the stored calibration was reused
    labels = [e["label"] for e in info["exports"]]
    assert labels[-1] == "baseline-gru-4" and len(labels) == 2
    for e in info["exports"]:
        assert e["exact"]  # the generated C matches the reference on the test inputs
        m, p = e["measured"], e["predicted"]
        assert m["flash_bytes"] == p["flash_bytes"]  # same object, same size
        assert m["arena_bytes"] == p["ram_bytes"]
        assert abs(e["instructions_error"]) < 0.5
    front = store.get_run("tiny-front")
    assert front.metric("instructions", f"{labels[0]}|cortex-m4") is not None
    paths = s.report("tiny", store=store, folder=tmp_path / "rep")
    assert "Measured on cortex-m4" in paths[1].read_text()
