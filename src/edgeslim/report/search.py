"""The search report: every trial, the Pareto front and the hand-designed baselines on one
accuracy-vs-instructions plot, the front's measured (QEMU) vs predicted cost, a markdown twin.

``get_search_info(show_dict)`` turns what :func:`edgeslim.api.search.show` returns into a plain
record (tested); ``build_search_report(info, folder)`` renders ``search.html`` (plotly inlined,
works offline) and ``search.md``.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeslim._core.io import atomic_write, ensure_writable


@dataclass(frozen=True, slots=True)
class SearchPoint:
    label: str
    kind: str  # front | baseline | trained | pruned | rejected
    accuracy: float | None  # validation quality: accuracy or MAE (None: not trained)
    test_accuracy: float | None
    instructions: float
    flash_bytes: float
    ram_bytes: float
    model: str


@dataclass(frozen=True, slots=True)
class SearchInfo:
    name: str
    target: str
    budget: dict[str, float]
    counts: dict[str, int]
    status: dict[str, int]
    points: tuple[SearchPoint, ...]
    exports: tuple[dict[str, Any], ...]
    calibration: dict[str, float]
    quality: str = "accuracy"  # or "mae" (regression)


def describe(c: dict[str, Any] | None) -> str:
    if not c:
        return "-"
    if "family" in c:
        arch = " ".join(f"{k}={v}" for k, v in c["arch"].items())
        sp = c.get("policy", {}).get("sparsity", 0)
        return f"{c['family']} {arch}" + (f" sparsity={sp}" if sp else "")
    return " ".join(f"{k}={v}" for k, v in c.items())


def get_search_info(info: dict[str, Any]) -> SearchInfo:
    front = {r["number"] for r in info["front"]}
    q = "mae" if "mae" in info.get("objectives", {}) else "accuracy"
    points = []
    for t in info["trials"]:
        cost = t.get("cost") or t.get("predicted")
        if not cost:
            continue
        kind = "front" if t["number"] in front else t["status"]
        if kind not in ("front", "trained", "pruned", "rejected"):
            continue
        points.append(
            SearchPoint(
                f"#{t['number']}",
                kind,
                (t.get("val") or {}).get(q),
                (t.get("test") or {}).get(q),
                float(cost["instructions"]),
                float(cost["flash_bytes"]),
                float(cost["ram_bytes"]),
                describe(t.get("candidate")),
            )
        )
    for b in info["baselines"]:
        points.append(
            SearchPoint(
                b["name"],
                "baseline",
                b["val"].get(q),
                b["test"].get(q),
                float(b["cost"]["instructions"]),
                float(b["cost"]["flash_bytes"]),
                float(b["cost"]["ram_bytes"]),
                describe(b["config"]),
            )
        )
    return SearchInfo(
        str(info["name"]),
        str(info["target"]),
        dict(info["budget"]),
        dict(info["counts"]),
        dict(info["status"]),
        tuple(points),
        tuple(info.get("exports", [])),
        dict(info.get("calibration", {})),
        q,
    )


_STYLE = {
    "front": ("#1f77b4", "circle", 11),
    "baseline": ("#d62728", "star", 15),
    "trained": ("#9aa0a6", "circle", 7),
    "pruned": ("#c7c7c7", "circle-open", 7),
}


def _figure_div(info: SearchInfo) -> str:
    from edgeslim.report._figures import _go

    go = _go()
    fig = go.Figure()
    for kind, (color, symbol, size) in _STYLE.items():
        pts = [p for p in info.points if p.kind == kind and p.accuracy is not None]
        if not pts:
            continue
        fig.add_trace(
            go.Scatter(
                x=[p.instructions for p in pts],
                y=[p.accuracy for p in pts],
                mode="markers+text" if kind in ("front", "baseline") else "markers",
                text=[p.label for p in pts] if kind in ("front", "baseline") else None,
                textposition="top center",
                name=kind,
                marker={"color": color, "symbol": symbol, "size": size},
                hovertext=[
                    f"{p.label}: {p.model}<br>flash {p.flash_bytes / 1024:.1f} KiB, "
                    f"RAM {p.ram_bytes / 1024:.1f} KiB, test {info.quality} {p.test_accuracy}"
                    for p in pts
                ],
            )
        )
    fig.update_layout(
        title=f"{info.name}: validation {info.quality} vs predicted instructions on {info.target}",
        xaxis={"title": "instructions per inference", "type": "log"},
        yaxis={"title": f"validation {info.quality}"},
        height=480,
    )
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _rows(info: SearchInfo) -> list[list[str]]:
    rows = []
    for p in info.points:
        if p.kind not in ("front", "baseline"):
            continue
        rows.append(
            [
                p.label,
                p.kind,
                p.model,
                _f(p.accuracy),
                _f(p.test_accuracy),
                f"{p.flash_bytes / 1024:.1f}",
                f"{p.ram_bytes / 1024:.1f}",
                f"{p.instructions / 1e3:.0f}k",
            ]
        )
    return rows


def _export_rows(info: SearchInfo) -> list[list[str]]:
    out = []
    for e in info.exports:
        m, p = e["measured"], e["predicted"]
        out.append(
            [
                e["label"],
                _f(e.get("test_quality", e.get("test_accuracy"))),
                f"{m['flash_bytes'] / 1024:.1f}",
                f"{p['flash_bytes'] / 1024:.1f}",
                f"{m['arena_bytes'] / 1024:.1f}",
                f"{m['instructions'] / 1e3:.0f}k",
                f"{p['instructions'] / 1e3:.0f}k",
                f"{e['instructions_error']:+.1%}",
                f"{m.get('latency', 0) * 1e3:.2f}",
            ]
        )
    return out


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


HEAD = ["", "kind", "model", "val", "test", "flash KiB", "RAM KiB", "instructions"]
EXPORT_HEAD = [
    "model", "test", "flash KiB (QEMU)", "flash KiB (pred)", "arena KiB",
    "instr (QEMU)", "instr (pred)", "instr error", "latency ms",
]  # fmt: skip


def _summary(info: SearchInfo) -> str:
    cal = info.calibration
    calib = (
        f"instruction model leave-one-out error: mean {cal['mean_rel_error']:.1%}, "
        f"max {cal['max_rel_error']:.1%}"
        if "mean_rel_error" in cal
        else "instruction model: uncalibrated"
    )
    return (
        f"target {info.target}, budget {info.budget}; trials {info.status}; quality "
        f"{info.quality} (val: objective, test: reported); {calib}"
    )


def render_search_markdown(info: SearchInfo) -> str:
    def table(head: list[str], rows: list[list[str]]) -> str:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])

    parts = [f"# Search {info.name}", "", _summary(info), "", "## Pareto front and baselines", ""]
    parts.append(table(HEAD, _rows(info)))
    if info.exports:
        parts += ["", f"## Measured on {info.target} (QEMU) vs predicted", ""]
        parts.append(table(EXPORT_HEAD, _export_rows(info)))
    return "\n".join(parts) + "\n"


def render_search_html(info: SearchInfo) -> str:
    from edgeslim.report._figures import plotly_js

    def table(head: list[str], rows: list[list[str]]) -> str:
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
        )
        return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

    exports = ""
    if info.exports:
        exports = f"<h2>Measured on {html.escape(info.target)} (QEMU) vs predicted</h2>" + table(
            EXPORT_HEAD, _export_rows(info)
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>edgeslim search {html.escape(info.name)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style>"
        f"<script>{plotly_js()}</script></head><body>"
        f"<h1>Search {html.escape(info.name)}</h1><p>{html.escape(_summary(info))}</p>"
        f"{_figure_div(info)}<h2>Pareto front and hand-designed baselines</h2>"
        f"{table(HEAD, _rows(info))}{exports}</body></html>"
    )


def build_search_report(
    info: SearchInfo, folder: str | os.PathLike[str], *, force: bool = False
) -> list[Path]:
    """Write ``search.html`` and ``search.md`` into ``folder``; return both paths."""
    out = Path(folder)
    html_path, md_path = out / "search.html", out / "search.md"
    for p in (html_path, md_path):
        ensure_writable(p, force)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(html_path) as tmp:
        tmp.write_text(render_search_html(info), encoding="utf-8")
    with atomic_write(md_path) as tmp:
        tmp.write_text(render_search_markdown(info), encoding="utf-8")
    return [html_path, md_path]
