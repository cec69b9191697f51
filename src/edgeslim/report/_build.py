"""The whole report of a store's runs: one HTML file and a markdown twin beside it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim.report._compare import QUALITY_METRICS, get_comparison_info, get_scatter_info
from edgeslim.report._html import render_html
from edgeslim.report._layers import get_layer_cost_info
from edgeslim.report._markdown import render_markdown
from edgeslim.report._metrics import resolve_key
from edgeslim.report._records import Info
from edgeslim.store import RunRecord, Store

#: x axes of the standard plots: deployed size, then median latency.
COST_METRICS = ("artifact_bytes", "latency_p50")


def build_report(
    store: Store,
    run_ids_or_all: Sequence[int | str] | None,
    out_path: str | os.PathLike[str],
    *,
    force: bool = False,
    reference: int | str | None = None,
) -> Path:
    """Write ``out_path`` (``.html`` added if missing) and the ``.md`` beside it; return the HTML.

    ``run_ids_or_all`` are run ids or names, or ``None`` for every run in the store. The report
    holds the comparison table, quality against size and against latency p50 (where runs have
    them) and the MACs per layer of each run that recorded layer costs. Neither file is written
    when either exists, unless ``force``.
    """
    html_path = Path(out_path)
    if html_path.suffix.lower() not in (".html", ".htm"):
        html_path = html_path.with_name(html_path.name + ".html")
    md_path = html_path.with_suffix(".md")
    for path in (html_path, md_path):
        ensure_writable(path, force)
    runs = _runs(store, run_ids_or_all)
    infos = report_infos(runs, reference=reference)
    title = f"edgeslim report: {len(runs)} run{'s' if len(runs) != 1 else ''}"
    render_html(infos, html_path, title=title, force=force)
    markdown = f"# {title}\n\n" + "\n".join(render_markdown(info) for info in infos)
    with atomic_write(md_path) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return html_path


def report_infos(runs: Sequence[RunRecord], *, reference: int | str | None = None) -> list[Info]:
    """The sections of :func:`build_report`, computed and not yet drawn."""
    infos: list[Info] = [get_comparison_info(runs, reference=reference)]
    quality = next((q for q in QUALITY_METRICS if resolve_key(runs, q)), None)
    if quality is not None:
        for cost in COST_METRICS:
            if resolve_key(runs, cost) is None:
                continue
            scatter = get_scatter_info(runs, cost, quality)
            if scatter.points:
                infos.append(scatter)
    for run in runs:
        layers = get_layer_cost_info(run)
        if layers is not None and layers.working_layers:
            infos.append(layers)
    return infos


def _runs(store: Store, wanted: Sequence[int | str] | None) -> list[RunRecord]:
    if isinstance(wanted, str):  # one name, not a sequence of one-letter names
        wanted = [wanted]
    ids: Sequence[int | str] = [r.id for r in store.list_runs()] if wanted is None else wanted
    if not ids:
        raise EdgeslimError(f"no runs to report in store {store.url}")
    return [store.get_run(i) for i in ids]
