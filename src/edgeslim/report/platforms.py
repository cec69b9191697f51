"""The platform comparison (``edgeslim compare``) as a table, markdown and an HTML page.

Reads the ``compare`` steps of stored runs (each holds its rows, "n/a" reasons included) and
draws, per platform and engine, latency against batch size (one model) and batch-1 latency
against model size (across the compared models).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim.report._figures import _go, plotly_js
from edgeslim.report._format import PROVENANCE_LEGEND, PROVENANCE_MARK, format_value
from edgeslim.store import RunRecord, Store

COLUMNS = (
    ("latency", "latency"),
    ("throughput", "throughput"),
    ("energy/inf", "energy"),
    ("power", "power"),
    ("memory", "memory"),
    ("accuracy", "accuracy"),
    ("FPGA LUT/FF/BRAM", "_fpga"),
)
_MARK = {p.value: mark for p, mark in PROVENANCE_MARK.items()}


def _cell(metrics: Mapping[str, Any], name: str) -> str:
    if name == "_fpga":
        if "luts" not in metrics:
            return "—"
        parts = [str(int(metrics[k]["value"])) for k in ("luts", "ffs", "brams") if k in metrics]
        fmax = metrics.get("fmax")
        tail = f" @ {format_value(fmax['value'], 'Hz')} (e)" if fmax else ""
        return "/".join(parts) + " (c)" + tail
    m = metrics.get(name)
    if not m or m.get("value") is None:
        return "—"
    return f"{format_value(float(m['value']), m['unit'])} ({_MARK.get(m['provenance'], '?')})"


def table_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and text cells of the comparison table from row dicts (``PlatformRow.to_dict``)."""
    header = ["platform", "engine", "setting", *(c for c, _ in COLUMNS), "note"]
    out = []
    for r in rows:
        if r["status"] == "n/a":
            out.append(
                [
                    r["platform"],
                    r["engine"],
                    r["setting"] or "—",
                    *(["n/a"] * len(COLUMNS)),
                    r["reason"],
                ]
            )
            continue
        cells = [_cell(r["metrics"], name) for _, name in COLUMNS]
        note = r["reason"] or ("failed" if r["status"] == "failed" else "")
        if "exact" in r["metrics"]:
            exact = r["metrics"]["exact"]["value"] == 1.0
            note = (note + "; " if note else "") + (
                "bit-exact vs reference" if exact else "NOT exact"
            )
        extra = []
        if "cycles" in r["metrics"]:
            extra.append(f"{r['metrics']['cycles']['value']:.0f} cycles/inference (s)")
        samples = r.get("details", {}).get("samples")
        total = r.get("details", {}).get("test_samples")
        if samples and samples != total and "accuracy" in r["metrics"]:
            extra.append(f"accuracy on the first {samples} test samples")
        if "agreement" in r["metrics"]:
            extra.append(f"agrees with float model {r['metrics']['agreement']['value']:.4g}")
        if extra:
            note = "; ".join([note, *extra]) if note else "; ".join(extra)
        out.append([r["platform"], r["engine"], r["setting"] or "—", *cells, note])
    return header, out


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    header, body = table_rows(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in body:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(lines) + f"\n\nProvenance: {PROVENANCE_LEGEND}.\n"


def compare_steps(runs: Sequence[RunRecord]) -> list[tuple[RunRecord, dict[str, Any]]]:
    """(run, compare record) for every run that has a ``compare`` step."""
    out = []
    for run in runs:
        for step in run.steps:
            if step.kind == "compare" and isinstance(step.record, dict):
                out.append((run, step.record))
    return out


def _series_key(r: Mapping[str, Any]) -> str:
    threads = r["setting"].split(",")[0] if r["setting"].startswith("t") else ""
    return f"{r['platform']} · {r['engine']}" + (f" · {threads}" if threads else "")


def _batch(setting: str) -> int | None:
    for part in setting.split(","):
        if part.startswith("b") and part[1:].isdigit():
            return int(part[1:])
    return None


def latency_vs_batch(record: Mapping[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """Per platform/engine/threads: (batch, latency of one call) points."""
    series: dict[str, list[tuple[int, float]]] = {}
    for r in record["rows"]:
        lat = r["metrics"].get("latency")
        b = _batch(r["setting"])
        if r["status"] != "ok" or not lat or lat.get("value") is None or b is None:
            continue
        series.setdefault(_series_key(r), []).append((b, float(lat["value"])))
    return {k: sorted(v) for k, v in series.items()}


def latency_vs_size(
    pairs: Sequence[tuple[RunRecord, Mapping[str, Any]]],
) -> dict[str, list[tuple[float, float, str]]]:
    """Per platform/engine: (model parameters or tree nodes, batch-1 latency, run) points."""
    series: dict[str, list[tuple[float, float, str]]] = {}
    for run, record in pairs:
        size = run.metric("params")
        if size is None:
            continue
        for r in record["rows"]:
            lat = r["metrics"].get("latency")
            if r["status"] != "ok" or not lat or lat.get("value") is None:
                continue
            if _batch(r["setting"]) != 1 or r["setting"].startswith("tall"):
                continue
            key = f"{r['platform'].split('-')[0]} · {r['engine']}"
            series.setdefault(key, []).append((size.value, float(lat["value"]), run.name))
    return {k: sorted(v) for k, v in series.items()}


def _figure(series: Mapping[str, Sequence[tuple[Any, ...]]], title: str, xlab: str) -> str:
    go = _go()
    fig = go.Figure()
    for key, pts in series.items():
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in pts],
                y=[p[1] for p in pts],
                mode="lines+markers",
                name=key,
                text=[p[2] if len(p) > 2 else "" for p in pts],
            )
        )
    fig.update_layout(
        title=title,
        xaxis_title=xlab,
        yaxis_title="latency of one call (s)",
        xaxis_type="log",
        yaxis_type="log",
        template="plotly_white",
    )
    return str(fig.to_html(full_html=False, include_plotlyjs=False, default_height="460px"))


def build_platform_report(
    store: Store,
    runs: Sequence[int | str] | None,
    out_path: str | os.PathLike[str],
    *,
    force: bool = False,
) -> Path:
    """Write the platform page (HTML, plotly inlined) and its markdown twin; return the HTML."""
    html_path = Path(out_path)
    if html_path.suffix.lower() not in (".html", ".htm"):
        html_path = html_path.with_name(html_path.name + ".html")
    md_path = html_path.with_suffix(".md")
    for p in (html_path, md_path):
        ensure_writable(p, force)
    chosen = (
        [store.get_run(r) for r in runs]
        if runs
        else [store.get_run(s.id) for s in store.list_runs()]
    )
    pairs = compare_steps(chosen)
    md = ["# edgeslim: platforms side by side", ""]
    body = [f"<h1>edgeslim: platforms side by side</h1><p>Provenance: {PROVENANCE_LEGEND}.</p>"]
    for run, record in pairs:
        header, rows = table_rows(record["rows"])
        md += [
            f"## {run.name} ({record.get('kind', '')}: {record.get('model', '')})",
            "",
            markdown_table(record["rows"]),
        ]
        body.append(
            f"<h2>{html.escape(run.name)}</h2><p>{html.escape(str(record.get('model', '')))}</p>"
        )
        body.append(_html_table(header, rows))
        series = latency_vs_batch(record)
        if any(len(v) > 1 for v in series.values()):
            body.append(_figure(series, f"{run.name}: latency vs batch size", "batch size"))
    size = latency_vs_size(pairs)
    if size:
        body.append("<h2>Latency vs model size</h2>")
        body.append(
            _figure(size, "batch-1 latency vs model size (params or tree nodes)", "model size")
        )
        md += ["## Batch-1 latency vs model size", ""]
        for key, pts in size.items():
            md.append(
                f"- {key}: "
                + ", ".join(
                    f"{n} ({format_value(x, '')} → {format_value(y, 's')})" for x, y, n in pts
                )
            )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>edgeslim platforms</title>"
        f"<script>{plotly_js()}</script>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )
    with atomic_write(html_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    with atomic_write(md_path) as tmp:
        tmp.write_text("\n".join(md) + "\n", encoding="utf-8")
    return html_path


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)
