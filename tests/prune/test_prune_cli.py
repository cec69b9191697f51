"""``edgeslim prune``: compare (options and recipe), apply, sensitivity, methods; the stored
runs, the sparse files, the realized-gain warnings and the report they produce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from edgeslim._core.errors import EdgeslimError
from edgeslim.cli.prune import app

pytestmark = pytest.mark.torch

_root = typer.Typer()
_root.add_typer(app, name="prune")


def _cli(*argv: str) -> tuple[int, str]:
    """Run ``edgeslim prune ...`` in-process the way the console entry point does."""
    try:
        result = CliRunner().invoke(_root, ["prune", *argv], catch_exceptions=False)
    except EdgeslimError as err:
        return 2, f"error: {err}"
    return result.exit_code, result.output


def _json(output: str) -> Any:
    return json.loads(output[output.index("{") :])


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("compare")
    code, out = _cli(
        "compare",
        "cnn",
        "--data",
        "digits",
        "--methods",
        "magnitude,channel-l2",
        "--sparsity",
        "0.5,0.8",
        "--fine-tune-epochs",
        "1",
        "--epochs",
        "2",
        "--repeats",
        "3",
        "--set",
        "channels=4,8",
        "--store",
        str(root / "s.db"),
        "--out",
        str(root / "out"),
        "--format",
        "json",
    )
    assert code == 0, out
    return {"root": root, "doc": _json(out)}


def test_compare_runs_every_method_at_every_level(compared: dict[str, Any]) -> None:
    runs = compared["doc"]["runs"]
    assert [(r["method"], r["sparsity"]) for r in runs] == [
        ("magnitude", 0.5),
        ("magnitude", 0.8),
        ("channel-l2", 0.5),
        ("channel-l2", 0.8),
    ]
    base = compared["doc"]["base"]["metrics"]
    for r in runs:
        m = r["metrics"]
        assert Path(r["artifacts"]["sparse"]).is_file()
        if r["method"] == "channel-l2":
            assert m["params"]["value"] < base["params"]["value"]
            assert m["macs"]["value"] < base["macs"]["value"]
            gains = [w for w in r["warnings"] if w.startswith("realized gain")]
            assert not [w for w in gains if "latency_p50" not in w]  # latency is timed: noisy
        else:
            assert m["params"]["value"] == base["params"]["value"]
            assert m["sparse_artifact_bytes"]["value"] < m["artifact_bytes"]["value"]
            assert any("dense ONNX artifact" in w for w in r["warnings"])


def test_compare_writes_the_report(compared: dict[str, Any]) -> None:
    files = [Path(f) for f in compared["doc"]["files"]]
    html = next(f for f in files if f.name == "prune.html").read_text(encoding="utf-8")
    for fragment in (
        "accuracy vs sparsity",
        "accuracy vs macs",
        "accuracy vs latency",
        "sparsity per layer",
        "kept channels",
        "pruning process",
        "best method per criterion",
        "sliders",
        "dense ONNX artifact",
    ):
        assert fragment.lower() in html.lower(), fragment
    pngs = [f for f in files if f.suffix == ".png"]
    assert len(pngs) >= 8 and all(p.stat().st_size > 1000 for p in pngs)
    md = next(f for f in files if f.name == "prune.md").read_text(encoding="utf-8")
    assert "| accuracy at sparsity 0.5 |" in md
    assert (files[-1].name, files[-1].is_file()) == ("runs.html", True)


def test_compare_recipe_with_a_bidirectional_lstm(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: motions-lstm\ndata: {name: basic-motions}\n"
        "model: {kind: lstm, hidden: 8, layers: 2, bidirectional: true}\n"
        "train: {epochs: 1, batch_size: 8}\nmeasure: {threads: [1], repeats: 2, warmup: 1}\n"
        "compare: {methods: [channel-l2, {name: gl, pass: prune.channel, regularizer: "
        "group_lasso, reg_epochs: 1}], sparsity: [0.5], fine_tune_epochs: 1}\n",
        encoding="utf-8",
    )
    code, out = _cli(
        "compare",
        str(recipe),
        "--store",
        str(tmp_path / "s.db"),
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
        "--no-report",
    )
    assert code == 0, out
    doc = _json(out)
    assert [r["method"] for r in doc["runs"]] == ["channel-l2", "gl"]
    base = doc["base"]["metrics"]["params"]["value"]
    assert all(r["metrics"]["params"]["value"] < 0.7 * base for r in doc["runs"])
    assert doc["report"] is None


def test_apply_and_its_realized_gain_check(tmp_path: Path) -> None:
    code, out = _cli(
        "apply",
        "gru",
        "--data",
        "basic-motions",
        "--set",
        "layers=2",
        "--set",
        "hidden=8",
        "--method",
        "nm",
        "--sparsity",
        "0.5",
        "--epochs",
        "1",
        "--fine-tune-epochs",
        "0",
        "--repeats",
        "2",
        "--store",
        str(tmp_path / "s.db"),
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
    )
    assert code == 0, out
    run = _json(out)["runs"][0]
    assert run["metrics"]["prune_sparsity"]["value"] == pytest.approx(0.5, abs=0.05)  # 6-wide rows
    by = {c["metric"]: c for c in run["checks"]}
    assert by["sparsity"]["ok"] and not by["artifact_bytes"]["ok"]


def test_sensitivity_prints_an_allocation(tmp_path: Path) -> None:
    code, out = _cli(
        "sensitivity",
        "mlp",
        "--data",
        "digits",
        "--set",
        "hidden=16,8",
        "--epochs",
        "1",
        "--levels",
        "0.5,0.9",
        "--target",
        "0.6",
        "--store",
        str(tmp_path / "s.db"),
        "--out",
        str(tmp_path / "out"),
        "--format",
        "json",
    )
    assert code == 0, out
    doc = _json(out)
    assert [c["layer"] for c in doc["curves"]] == ["net.1.weight", "net.3.weight", "net.5.weight"]
    assert set(doc["allocation"]) == {"net.1.weight", "net.3.weight", "net.5.weight"}
    assert all(Path(f).is_file() for f in doc["files"])


def test_methods_lists_every_pass() -> None:
    code, out = _cli("methods", "--format", "json")
    assert code == 0
    doc = _json(out)
    from edgeslim.passes.prune import PRUNE_PASSES

    assert {m["pass"] for m in doc.values()} == {cls.name for cls in PRUNE_PASSES}


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (
            ["compare", "cnn", "--data", "digits", "--methods", "best"],
            "unknown pruning method 'best'",
        ),
        (
            ["compare", "cnn", "--data", "digits", "--sparsity", "0.5,1.5"],
            "sparsity levels must be in (0, 1)",
        ),
        (["apply", "nothing.pt", "--data", "digits"], "must be a zoo kind"),
        (["apply", "cnn"], "option --data is needed"),
    ],
)
def test_user_errors_are_one_line(argv: list[str], fragment: str, tmp_path: Path) -> None:
    code, out = _cli(*argv, "--store", str(tmp_path / "s.db"), "--out", str(tmp_path))
    assert code == 2
    assert fragment in out


_PRUNE_PROBE = """JSON.stringify({
  plots: [...document.querySelectorAll('.plotly-graph-div')].map(
      d => d.querySelectorAll('.main-svg').length),
  sliders: document.querySelectorAll('.slider-container').length,
  lines: document.querySelectorAll('.scatterlayer .trace').length,
  rows: document.querySelectorAll('table tr').length,
})"""


@pytest.mark.browser
def test_compare_report_renders_in_headless_chromium(compared: dict[str, Any]) -> None:
    from browser_support import render_page

    page = next(compared["root"].rglob("prune.html"))
    seen, problems = render_page(
        page,
        _PRUNE_PROBE,
        lambda s: s["plots"] and min(s["plots"]) > 0 and s["sliders"] > 0,
        compared["root"] / "profile",
    )
    assert len(seen["plots"]) >= 6, seen  # curves, heatmap, channel maps, histograms, process
    assert min(seen["plots"]) >= 1, seen  # every figure drew its SVG
    assert seen["sliders"] >= 1, seen  # the pruning process is viewable step by step
    assert seen["lines"] >= 3, seen  # one line per method plus the unpruned reference
    assert seen["rows"] >= 1 + 5, seen  # header, the unpruned model and 4 pruned runs
    assert problems == []
