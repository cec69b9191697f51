"""One self-contained HTML file: comparison tables and plotly figures, plotly.js inlined."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

import edgeslim
from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim.report import _figures
from edgeslim.report._format import ARROW, PROVENANCE_LEGEND, PROVENANCE_MARK, format_ratio
from edgeslim.report._format import format_value as fmt
from edgeslim.report._markdown import column_title
from edgeslim.report._records import Cell, Column, ComparisonInfo, Info

_TEMPLATE = "report.html.j2"


@dataclass(frozen=True, slots=True)
class _CellView:
    text: str
    mark: str
    provenance: str
    ratio: str
    best: bool


@dataclass(frozen=True, slots=True)
class _RowView:
    name: str
    status: str
    reference: bool
    front: str
    cells: tuple[_CellView, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _TableView:
    headers: tuple[tuple[str, str], ...]  # (title, tooltip)
    rows: tuple[_RowView, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Section:
    kind: str  # "table" or "figure"
    title: str
    table: _TableView | None = None
    figure: str = ""  # plotly's <div> and <script>, trusted markup


def render_html(
    infos: Sequence[Info], path: str | os.PathLike[str], *, title: str, force: bool = False
) -> Path:
    """Write ``infos`` (tables and figures, in order) to one HTML file that works offline.

    The file is written atomically; an existing one is kept unless ``force``.
    """
    target = ensure_writable(path, force)
    sections = [_section(info) for info in infos]
    has_figures = any(s.kind == "figure" for s in sections)
    page = (
        _environment()
        .get_template(_TEMPLATE)
        .render(
            title=title,
            version=edgeslim.__version__,
            sections=sections,
            plotly_js=_figures.plotly_js() if has_figures else "",
        )
    )
    with atomic_write(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("edgeslim.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _section(info: Info) -> _Section:
    if isinstance(info, ComparisonInfo):
        return _Section("table", "Comparison", table=_table(info))
    return _Section("figure", info.title, figure=_figures.figure_html(info))


def _table(info: ComparisonInfo) -> _TableView:
    front_tip = "on the Pareto front over: " + ", ".join(info.objectives)
    headers = [("run", ""), ("Pareto", front_tip)]
    headers += [(column_title(c), _header_tooltip(c)) for c in info.columns]
    headers.append(("warnings", ""))
    rows = []
    for row in info.rows:
        cells = tuple(_cell(c, col) for c, col in zip(row.cells, info.columns, strict=True))
        front = {True: "✓", False: "", None: "?"}[row.on_front]
        rows.append(
            _RowView(row.run_name, row.status, row.is_reference, front, cells, row.warnings)
        )
    notes = [f"Provenance: {PROVENANCE_LEGEND}. Bold: best in its column (↑ higher, ↓ lower)."]
    if info.objectives:
        notes.append(f"Pareto front over: {', '.join(info.objectives)}.")
    if info.reference:
        notes.append(f"×: ratio to the reference run {info.reference!r}.")
    return _TableView(tuple(headers), tuple(rows), tuple(notes))


def _header_tooltip(column: Column) -> str:
    if column.direction is None:
        return f"{column.name}: no better side"
    return f"{column.name}: {column.direction.value} is better {ARROW[column.direction]}"


def _cell(cell: Cell, column: Column) -> _CellView:
    if cell.value is None:
        return _CellView("—", "", "not measured", "", False)
    prov = cell.provenance
    return _CellView(
        text=fmt(cell.value, column.unit),
        mark=PROVENANCE_MARK[prov] if prov else "",
        provenance=prov.value if prov else "",
        ratio=format_ratio(cell.ratio),
        best=cell.is_best,
    )
