"""PNG images of report infos via matplotlib (Agg, no pyplot state). The only matplotlib user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim.report._format import PROVENANCE_MARK, layer_figure_title
from edgeslim.report._format import format_value as fmt
from edgeslim.report._markdown import column_title
from edgeslim.report._records import Cell, Column, ComparisonInfo, Info, LayerCostInfo, ScatterInfo

_FRONT_COLOR = "#1f77b4"
_OTHER_COLOR = "#9aa0a6"


def render_png(
    info: Info, path: str | os.PathLike[str], *, force: bool = False, dpi: int = 120
) -> Path:
    """Draw ``info`` (scatter, layer bars or comparison table) to a PNG file, atomically."""
    target = ensure_writable(path, force)
    size = (8.0, 5.0)
    if isinstance(info, ComparisonInfo):
        size = (max(6.0, 1.7 * (len(info.columns) + 2)), 0.4 * (len(info.rows) + 3))
    figure = _new_figure(size)
    if isinstance(info, ScatterInfo):
        _scatter(figure, info)
    elif isinstance(info, LayerCostInfo):
        _layer_bars(figure, info)
    elif isinstance(info, ComparisonInfo):
        _table(figure, info)
    else:
        raise TypeError(f"render_png takes a report info; got {type(info).__name__}")
    with atomic_write(target) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return target


def _new_figure(size: tuple[float, float]) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EdgeslimError(
            "PNG images need matplotlib; install it with: pip install 'edgeslim[report]'"
        ) from None
    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def _scatter(figure: Any, info: ScatterInfo) -> None:
    ax = figure.add_subplot()
    others = [p for p in info.points if not p.on_front]
    ax.scatter([p.x for p in others], [p.y for p in others], color=_OTHER_COLOR, zorder=2)
    front = [info.points[i] for i in info.front]
    if front:
        xy = ([p.x for p in front], [p.y for p in front])
        ax.plot(*xy, "o:", color=_FRONT_COLOR, zorder=3, label="Pareto front")
        ax.legend()
    for p in info.points:
        ax.annotate(
            p.run_name,
            (p.x, p.y),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    xs = [p.x for p in info.points]
    if xs and min(xs) > 0 and max(xs) / min(xs) > 50:
        ax.set_xscale("log")
    ax.set_xlabel(column_title(info.x))
    ax.set_ylabel(column_title(info.y))
    ax.set_title(info.title)
    ax.grid(True, alpha=0.3)


def _layer_bars(figure: Any, info: LayerCostInfo) -> None:
    ax = figure.add_subplot()
    names = [layer.name for layer in info.working_layers]
    ax.bar(range(len(names)), [layer.macs for layer in info.working_layers], color=_FRONT_COLOR)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("MACs")
    ax.set_title(layer_figure_title(info))
    ax.grid(True, axis="y", alpha=0.3)


def _table(figure: Any, info: ComparisonInfo) -> None:
    ax = figure.add_subplot()
    ax.axis("off")
    header = ["run", *(column_title(c) for c in info.columns), "Pareto"]
    body = []
    for row in info.rows:
        cells = [_cell_text(c, col) for c, col in zip(row.cells, info.columns, strict=True)]
        body.append([row.run_name, *cells, {True: "✓", False: "", None: "?"}[row.on_front]])
    table = ax.table(cellText=body, colLabels=header, loc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.auto_set_column_width(list(range(len(header))))
    for (r, c), cell in table.get_celld().items():
        if r > 0 and 0 < c <= len(info.columns) and info.rows[r - 1].cells[c - 1].is_best:
            cell.set_text_props(fontweight="bold")
    ax.set_title("Comparison")


def _cell_text(cell: Cell, column: Column) -> str:
    if cell.value is None:
        return "—"
    mark = PROVENANCE_MARK[cell.provenance] if cell.provenance else ""
    return f"{fmt(cell.value, column.unit)} {mark}".strip()
