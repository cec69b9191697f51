"""The pruning report: compare methods and show the pruning process.

Computed first (``get_*_info``, plain records, tested), drawn second: plotly figures in one
offline HTML page and matplotlib PNGs of the very same records, plus a markdown twin.

* accuracy vs sparsity, vs MACs, vs latency, vs deployable bytes: one line per method, the
  unpruned model as reference (:func:`get_curve_info`);
* sparsity per layer for every run (:func:`get_layer_sparsity_info`);
* kept/removed channel maps of structured runs (:func:`get_channel_map_info`);
* weight histograms before and after (:func:`get_histogram_info`);
* the pruning process, step by step with a slider in HTML (:func:`get_process_info`);
* the best method per criterion (:func:`get_ranking_info`) and realized-gain warnings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim.report.prune import _plotly
from edgeslim.report.prune._info import (
    get_channel_map_info,
    get_curve_info,
    get_histogram_info,
    get_layer_sparsity_info,
    get_process_info,
    get_ranking_info,
    get_sensitivity_info,
    get_warnings_info,
    prune_run,
    split,
)
from edgeslim.report.prune._page import FigureView, render_markdown, render_page
from edgeslim.report.prune._png import render_prune_png
from edgeslim.report.prune._records import (
    ChannelMapInfo,
    CurveInfo,
    HeatmapInfo,
    HistogramInfo,
    ProcessInfo,
    PruneInfo,
    PruneRun,
    RankingInfo,
    SensitivityInfo,
)

_FIGURES: dict[type, Any] = {
    CurveInfo: _plotly.curve,
    HeatmapInfo: _plotly.heatmap,
    ChannelMapInfo: _plotly.channel_map,
    HistogramInfo: _plotly.histogram,
    ProcessInfo: _plotly.process,
    SensitivityInfo: _plotly.sensitivity,
}


def prune_infos(runs: Sequence[PruneRun]) -> list[tuple[str, PruneInfo, bool]]:
    """(file stem, record, shown open) of every figure of the report, in page order."""
    out: list[tuple[str, PruneInfo, bool]] = []
    for x in ("sparsity", "macs", "latency", "bytes"):
        info = get_curve_info(runs, x)
        if info.lines:
            out.append((f"accuracy-vs-{x}", info, True))
    _, pruned = split(runs)
    heat = get_layer_sparsity_info(runs)
    if heat.rows and heat.columns:
        out.append(("layer-sparsity", heat, True))
    hist = get_histogram_info(runs)
    if hist is not None:
        out.append(("weight-histograms", hist, True))
    top = {r.method: r for r in sorted(pruned, key=lambda r: r.target)}  # highest level
    for r in top.values():
        cmap = get_channel_map_info(r)
        if cmap is not None:
            out.append((f"channels-{r.run_id}", cmap, False))
    for r in pruned:
        proc = get_process_info(r)
        if proc is not None:
            out.append((f"process-{r.run_id}", proc, len(proc.steps) > 2 and r is top[r.method]))
    return out


def build_prune_report(
    store: Any,
    base_id: int | str,
    run_ids: Sequence[int | str],
    folder: str | os.PathLike[str],
    *,
    force: bool = False,
) -> list[Path]:
    """Write ``prune.html``, ``prune.md`` and one PNG per figure into ``folder``; return the
    HTML, the markdown, then the PNGs."""
    runs = [prune_run(store.get_run(i)) for i in [base_id, *run_ids]]
    out = Path(folder)
    html_path, md_path = out / "prune.html", out / "prune.md"
    for p in (html_path, md_path):
        ensure_writable(p, force)
    figures, pngs = [], []
    for stem, info, is_open in prune_infos(runs):
        png = render_prune_png(info, out / "png" / f"{stem}.png", force=force)
        pngs.append(png)
        div = _plotly.figure_div(_FIGURES[type(info)](info))
        figures.append(FigureView(info.title, div, f"png/{png.name}", is_open))
    ranking = get_ranking_info(runs)
    title = f"edgeslim pruning report: {runs[0].name}"
    page = render_page(title, runs, ranking, figures, _plotly.plotly_js() if figures else "")
    with atomic_write(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    md = render_markdown(
        title, runs, ranking, get_warnings_info(runs), [f"png/{p.name}" for p in pngs]
    )
    with atomic_write(md_path) as tmp:
        tmp.write_text(md, encoding="utf-8")
    return [html_path, md_path, *pngs]


def build_sensitivity_report(
    curves: Sequence[Any],
    allocation: dict[str, float],
    folder: str | os.PathLike[str],
    *,
    force: bool = False,
) -> list[Path]:
    """``sensitivity.html`` and ``sensitivity.png`` of a layer sensitivity analysis."""
    info = get_sensitivity_info(curves, allocation)
    out = Path(folder)
    html_path = ensure_writable(out / "sensitivity.html", force)
    png = render_prune_png(info, out / "sensitivity.png", force=force)
    fig = FigureView(info.title, _plotly.figure_div(_plotly.sensitivity(info)), png.name)
    page = render_page(info.title, [], RankingInfo("", None, 0.0, ()), [fig], _plotly.plotly_js())
    with atomic_write(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return [html_path, png]


__all__ = [
    "build_prune_report",
    "build_sensitivity_report",
    "get_channel_map_info",
    "get_curve_info",
    "get_histogram_info",
    "get_layer_sparsity_info",
    "get_process_info",
    "get_ranking_info",
    "get_sensitivity_info",
    "get_warnings_info",
    "prune_infos",
    "prune_run",
    "render_prune_png",
]
