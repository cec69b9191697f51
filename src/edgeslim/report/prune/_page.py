"""The pruning report page (one offline HTML file) and its markdown twin.

Tables (ranking, runs, warnings) are built as plain row data here and rendered by one Jinja
template for HTML and by string joins for markdown; figures come from :mod:`._plotly`, each with
a link to the PNG drawn from the same record by :mod:`._png`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jinja2

import edgeslim
from edgeslim.report._format import format_value as fmt
from edgeslim.report.prune._records import PruneRun, RankingInfo, WarningsInfo

RUN_COLUMNS = (
    ("method", ""),
    ("target", "1"),
    ("sparsity", "1"),
    ("accuracy", "1"),
    ("params", "param"),
    ("MACs", "MAC"),
    ("ONNX", "B"),
    ("sparse file", "B"),
    ("latency p50", "s"),
)

NOTE = (
    "Every number is measured on the exported ONNX artifact (onnxruntime, 1 thread, batch 1) "
    "except the claimed sparsity. Structured pruning removes channels, so parameters, MACs and "
    "bytes drop in the artifact. Unstructured and N:M pruning only zero weights: the dense "
    "artifact keeps its size, MACs and latency; the saving shows in the sparse file (bitmask or "
    "CSR, whichever is smaller per tensor). Latency is what onnxruntime's dense kernels take."
)


@dataclass(frozen=True, slots=True)
class FigureView:
    title: str
    div: str
    png: str
    open: bool = True


def run_rows(runs: Sequence[PruneRun]) -> list[list[str]]:
    rows = []
    for r in runs:
        values = (
            r.target,
            r.sparsity,
            r.accuracy,
            r.params,
            r.macs,
            r.artifact_bytes,
            r.sparse_bytes,
            r.latency,
        )
        cells = [fmt(v, unit) for v, (_, unit) in zip(values, RUN_COLUMNS[1:], strict=True)]
        rows.append([r.method, *cells])
    return rows


def ranking_rows(info: RankingInfo) -> list[list[str]]:
    rows = []
    for c in info.criteria:
        ranked = [f"{name} ({fmt(v, c.unit)})" for name, v in c.entries[:3]]
        best = c.entries[0][0] if c.entries else "—"
        rows.append([c.criterion, best, ", ".join(ranked) or "—"])
    return rows


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="edgeslim {{ version }}"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #202124; }
table { border-collapse: collapse; font-size: 0.9rem; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #dadce0; padding: 0.3rem 0.6rem; text-align: left; }
th { background: #f1f3f4; } td.warn { color: #b06000; }
p.note { color: #5f6368; font-size: 0.9rem; max-width: 60rem; }
details { margin: 0.5rem 0; } summary { font-weight: 600; cursor: pointer; }
</style>
{% if plotly_js %}<script type="text/javascript">{{ plotly_js | safe }}</script>{% endif %}
</head><body>
<h1>{{ title }}</h1>
<p class="note">{{ note }}</p>
<h2>Best method per criterion</h2>
<table><tr><th>criterion</th><th>best</th><th>ranked (top 3)</th></tr>
{% for row in ranking %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>Runs</h2>
<table><tr>{% for h in run_headers %}<th>{{ h }}</th>{% endfor %}<th>warnings</th></tr>
{% for row, warns in runs %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}
<td class="warn">{{ warns | join("; ") }}</td></tr>{% endfor %}
</table>
{% for f in figures %}
<details {% if f.open %}open{% endif %}><summary>{{ f.title }}</summary>
<div>{{ f.div | safe }}</div><p class="note">PNG: <a href="{{ f.png }}">{{ f.png }}</a></p>
</details>
{% endfor %}
<p class="note">edgeslim {{ version }}</p>
</body></html>
"""


def render_page(
    title: str,
    runs: Sequence[PruneRun],
    ranking: RankingInfo,
    figures: Sequence[FigureView],
    plotly_js: str,
) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        title=title,
        version=edgeslim.__version__,
        note=NOTE,
        ranking=ranking_rows(ranking),
        run_headers=[h for h, _ in RUN_COLUMNS],
        runs=list(zip(run_rows(runs), [r.warnings for r in runs], strict=True)),
        figures=list(figures),
        plotly_js=plotly_js,
    )


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(
    title: str,
    runs: Sequence[PruneRun],
    ranking: RankingInfo,
    warnings: WarningsInfo,
    pngs: Sequence[str],
) -> str:
    parts = [
        f"# {title}",
        "",
        NOTE,
        "",
        "## Best method per criterion",
        "",
        _md_table(["criterion", "best", "ranked (top 3)"], ranking_rows(ranking)),
        "",
        "## Runs",
        "",
        _md_table(
            [h for h, _ in RUN_COLUMNS] + ["warnings"],
            [[*row, "; ".join(r.warnings)] for row, r in zip(run_rows(runs), runs, strict=True)],
        ),
    ]
    if warnings.rows:
        parts += ["", "## Realized-gain warnings", ""]
        parts += [f"- **{label}**: {'; '.join(ws)}" for label, ws in warnings.rows]
    parts += ["", "## Figures", ""] + [f"![{p}]({p})" for p in pngs]
    return "\n".join(parts) + "\n"
