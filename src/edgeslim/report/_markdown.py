"""Markdown tables of report infos (for terminals, pull requests, the ``.md`` beside the HTML)."""

from __future__ import annotations

from edgeslim.report._format import ARROW, PROVENANCE_LEGEND, PROVENANCE_MARK, format_ratio
from edgeslim.report._format import format_value as fmt
from edgeslim.report._records import (
    Cell,
    Column,
    ComparisonInfo,
    Info,
    LayerCostInfo,
    ScatterInfo,
)


def render_markdown(info: Info) -> str:
    """A markdown section (heading, table, legend) for any report info."""
    if isinstance(info, ComparisonInfo):
        return _comparison(info)
    if isinstance(info, ScatterInfo):
        return _scatter(info)
    if isinstance(info, LayerCostInfo):
        return _layers(info)
    raise TypeError(f"render_markdown takes a report info; got {type(info).__name__}")


def column_title(column: Column) -> str:
    arrow = f" {ARROW[column.direction]}" if column.direction else ""
    unit = f" ({column.unit})" if column.unit not in ("", "1") else ""
    return f"{column.key}{unit}{arrow}"


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_esc(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_esc(c) for c in row) + " |" for row in rows]
    return lines


def _cell(cell: Cell, unit: str) -> str:
    if cell.value is None:
        return "—"
    text = fmt(cell.value, unit)
    if cell.provenance is not None:
        text += f" {PROVENANCE_MARK[cell.provenance]}"
    if cell.is_best:
        text = f"**{text}**"
    ratio = format_ratio(cell.ratio)
    return f"{text} {ratio}" if ratio else text


def _comparison(info: ComparisonInfo) -> str:
    header = ["run", "Pareto", *(column_title(c) for c in info.columns), "warnings"]
    rows = []
    for row in info.rows:
        name = f"{row.run_name} (reference)" if row.is_reference else row.run_name
        if row.status != "finished":
            name += f" [{row.status}]"
        cells = [_cell(cell, col.unit) for cell, col in zip(row.cells, info.columns, strict=True)]
        front = {True: "✓", False: "", None: "?"}[row.on_front]
        rows.append([name, front, *cells, "; ".join(row.warnings) or "—"])
    lines = ["## Comparison", "", *_table(header, rows), ""]
    lines.append(
        f"Provenance: {PROVENANCE_LEGEND}. **Bold**: best in its column (↑ higher, ↓ lower)."
    )
    if info.objectives:
        lines.append(f"Pareto front over: {', '.join(info.objectives)}.")
    if info.reference:
        lines.append(f"×: ratio to the reference run {info.reference!r}.")
    return "\n".join(lines) + "\n"


def _scatter(info: ScatterInfo) -> str:
    header = ["run", column_title(info.x), column_title(info.y), "Pareto"]
    rows = [
        [
            p.run_name,
            f"{fmt(p.x, info.x.unit)} {PROVENANCE_MARK[p.x_provenance]}",
            f"{fmt(p.y, info.y.unit)} {PROVENANCE_MARK[p.y_provenance]}",
            "✓" if p.on_front else "",
        ]
        for p in info.points
    ]
    lines = [f"## {info.title}", "", *_table(header, rows)]
    if info.skipped:
        lines += ["", f"Without both values: {', '.join(info.skipped)}."]
    return "\n".join(lines) + "\n"


def _layers(info: LayerCostInfo) -> str:
    total = info.total_macs or 1.0
    rows = [
        [
            layer.name,
            layer.op,
            fmt(layer.macs, "MAC"),
            f"{100 * layer.macs / total:.1f} %",
            "—" if layer.params is None else f"{layer.params:.0f}",
        ]
        for layer in info.layers
    ]
    header = ["layer", "op", "MACs", "share", "params"]
    lines = [f"## {info.title} (step {info.step})", "", *_table(header, rows)]
    lines += ["", f"Total: {fmt(info.total_macs, 'MAC')}."]
    return "\n".join(lines) + "\n"
