from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeslim._core import ExportError, Metric, Provenance
from edgeslim.report import (
    build_report,
    get_comparison_info,
    get_layer_cost_info,
    get_scatter_info,
    render_html,
    render_markdown,
    render_png,
    report_infos,
)
from edgeslim.report._format import layer_figure_title
from edgeslim.store import RunRecord, Store

M = Provenance.MEASURED
MakeRun = Callable[..., RunRecord]


def _two_runs(make_run: MakeRun) -> list[RunRecord]:
    base = [Metric("accuracy", 0.9, "1", M), Metric("latency_p50", 2e-3, "s", M, "ort")]
    small = [
        Metric("accuracy", 0.8, "1", M),
        Metric("latency_p50", 1e-3, "s", Provenance.ESTIMATED, "ort"),
    ]
    warned = [("pass", "prune", {"warnings": ["realized 30 %"]})]
    return [
        make_run(1, "base|line", base, artifacts=[("onnx", 2000)]),
        make_run(2, "small", small, artifacts=[("onnx", 500)], steps=warned),
    ]


def test_markdown_comparison_table(make_run: MakeRun) -> None:
    info = get_comparison_info(_two_runs(make_run), reference=1)
    text = render_markdown(info)
    lines = text.splitlines()
    assert lines[0] == "## Comparison"
    header = lines[2]
    assert "| accuracy ↑ |" in header
    assert "| artifact_bytes[onnx] (B) ↓ |" in header
    assert "| latency_p50[ort] (s) ↓ |" in header
    assert lines[3].count("---") == 6  # run, 3 metrics, Pareto, warnings
    assert lines[4].startswith(r"| base\|line (reference) | ✓ | **0.9 m** ×1 | 2 kB c ×1 |")
    assert "**1 ms e** ×0.5" in lines[5]
    assert "prune: realized 30 %" in lines[5]
    assert "m measured" in text and "ratio to the reference run 'base|line'" in text


def test_markdown_scatter_and_layers(make_run: MakeRun) -> None:
    runs = _two_runs(make_run)
    scatter = render_markdown(get_scatter_info(runs, "artifact_bytes", "accuracy"))
    assert scatter.startswith("## accuracy vs artifact_bytes[onnx]")
    assert "| small | 500 B c | 0.8 m | ✓ |" in scatter
    layers = [
        {"name": "conv", "op": "Conv", "macs": 3000, "params": 10},
        {"name": "relu", "op": "Relu", "macs": 0, "params": 0},
        {"name": "fc", "op": "Gemm", "macs": 1000},
    ]
    layered = make_run(3, "l", steps=[("measure", "m", {"layers": layers})])
    info = get_layer_cost_info(layered)
    assert info is not None
    text = render_markdown(info)
    assert "| conv | Conv | 3 kMAC | 75.0 % | 10 |" in text
    assert "| fc | Gemm | 1 kMAC | 25.0 % | — |" in text
    assert "| relu | Relu | 0 MAC | 0.0 % | 0 |" in text  # the table keeps every layer
    assert [x.name for x in info.working_layers] == ["conv", "fc"]  # figures show these
    assert layer_figure_title(info) == (
        "MACs per layer: l (total 4 kMAC; 1 layer without MACs not shown)"
    )
    with pytest.raises(TypeError, match="report info"):
        render_markdown("not an info")  # type: ignore[arg-type]


def test_html_is_self_contained_atomic_and_kept_without_force(
    make_run: MakeRun, tmp_path: Path
) -> None:
    runs = _two_runs(make_run)
    infos = [get_comparison_info(runs), get_scatter_info(runs, "artifact_bytes", "accuracy")]
    out = tmp_path / "r.html"
    assert render_html(infos, out, title="T <1>") == out
    page = out.read_text(encoding="utf-8")
    assert "<title>T &lt;1&gt;</title>" in page  # escaped
    assert "base|line" in page and "realized 30 %" in page
    assert re.search(r"<script[^>]*\bsrc=", page) is None  # nothing loaded from elsewhere
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js is inlined
    assert '<sup class="prov prov-estimated">e</sup>' in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary left over

    with pytest.raises(ExportError, match="already exists"):
        render_html(infos[:1], out, title="other")
    assert out.read_text(encoding="utf-8") == page
    render_html(infos[:1], out, title="other", force=True)
    table_only = out.read_text(encoding="utf-8")
    assert "<title>other</title>" in table_only and "Plotly" not in table_only


def test_png_from_the_same_infos(make_run: MakeRun, tmp_path: Path) -> None:
    runs = _two_runs(make_run)
    for i, info in enumerate(
        [get_comparison_info(runs), get_scatter_info(runs, "latency_p50", "accuracy")]
    ):
        out = render_png(info, tmp_path / f"{i}.png")
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert out.stat().st_size > 5_000
    with pytest.raises(ExportError, match="already exists"):
        render_png(get_comparison_info(runs), tmp_path / "0.png")


def test_build_report_writes_html_and_markdown(report_store: Store, tmp_path: Path) -> None:
    out = build_report(report_store, None, tmp_path / "out" / "report")
    assert out == tmp_path / "out" / "report.html"
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# edgeslim report: 4 runs")
    assert "## accuracy[test] vs artifact_bytes[onnx]" in md
    assert "## accuracy[test] vs latency_p50[ort,t1,b1]" in md
    assert md.count("## MACs per layer:") == 4
    assert "overpruned [failed]" in md
    assert "realized_speedup [ort]: 0.4" in md
    page = out.read_text(encoding="utf-8")
    assert page.count('class="plotly-graph-div"') == 6  # 2 scatters + 4 layer bar charts


def test_build_report_checks_both_files_before_writing(
    report_store: Store, tmp_path: Path
) -> None:
    (tmp_path / "r.md").write_text("mine", encoding="utf-8")
    with pytest.raises(ExportError, match=r"r\.md already exists"):
        build_report(report_store, ["int8", 1], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    assert (tmp_path / "r.md").read_text(encoding="utf-8") == "mine"
    build_report(report_store, ["int8", 1], tmp_path / "r.html", force=True)
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert md.startswith("# edgeslim report: 2 runs") and "| int8 |" in md


def test_report_infos_pick_the_standard_sections(report_store: Store) -> None:
    runs = [report_store.get_run(r.id) for r in report_store.list_runs()]
    kinds = [type(info).__name__ for info in report_infos(runs)]
    assert kinds == ["ComparisonInfo", "ScatterInfo", "ScatterInfo"] + ["LayerCostInfo"] * 4
