"""What a report reads from a stored run: its metrics by key, its warnings, its layer costs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.records import Metric, Provenance
from edgeslim.report._format import format_value
from edgeslim.store import RunRecord

#: Metrics named ``warning.<what>`` are warnings (e.g. ``warning.realized_speedup``), not columns.
WARNING_PREFIX = "warning."

#: The size of the deployed file; derived from the run's artifacts when no metric gives it.
ARTIFACT_BYTES = "artifact_bytes"

#: Artifact kinds that are not deployed, so their size is no ``artifact_bytes`` column.
NOT_DEPLOYED = frozenset({"checkpoint"})


def run_metrics(run: RunRecord) -> dict[str, Metric]:
    """The run's metrics by key: a run-level metric wins over a step's, a later step's over an
    earlier one's. Unless the run stored an ``artifact_bytes`` metric, each deployed artifact adds
    ``artifact_bytes[<kind>]`` computed from the store's byte count. ``warning.*`` metrics are
    left out.
    """
    found: dict[str, Metric] = {}
    stored_size = any(m.name == ARTIFACT_BYTES for m in run.metrics)
    for artifact in run.artifacts:
        if artifact.kind not in NOT_DEPLOYED and not stored_size:
            size = Metric(
                "artifact_bytes", artifact.bytes, "B", Provenance.COMPUTED, artifact.kind
            )
            found[size.key] = size
    run_level: dict[str, Metric] = {}
    for metric, step in zip(run.metrics, run.metric_steps, strict=True):
        if metric.name.startswith(WARNING_PREFIX):
            continue
        (run_level if step is None else found)[metric.key] = metric
    found.update(run_level)
    return found


def warnings_of(run: RunRecord) -> tuple[str, ...]:
    """Texts of the run's ``warning.*`` metrics and of its steps' ``record["warnings"]``."""
    texts: list[str] = []
    for metric in run.metrics:
        if metric.name.startswith(WARNING_PREFIX):
            what = metric.name[len(WARNING_PREFIX) :]
            where = f" [{metric.context}]" if metric.context else ""
            texts.append(f"{what}{where}: {format_value(metric.value, metric.unit)}")
    for step in run.steps:
        items = step.record.get("warnings")
        if items is None:
            continue
        for item in items if isinstance(items, list) else [items]:
            message = item.get("message", item) if isinstance(item, Mapping) else item
            texts.append(f"{step.name}: {message}")
    return tuple(texts)


def resolve_key(runs: Sequence[RunRecord], metric: str) -> str | None:
    """A metric key for ``metric``: itself if it names a context (``name[ctx]``) or is found as
    a key; else, of the keys with that name, the one most runs have (ties: alphabetical)."""
    tables = [run_metrics(run) for run in runs]
    if "[" in metric or any(metric in t for t in tables):
        return metric
    counts: dict[str, int] = {}
    for table in tables:
        for key, m in table.items():
            if m.name == metric and math.isfinite(m.value):
                counts[key] = counts.get(key, 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda k: (-counts[k], k))


def unit_of(runs: Sequence[RunRecord], key: str, tables: Sequence[Mapping[str, Metric]]) -> str:
    """The one unit of ``key`` across runs; runs that disagree cannot share a column."""
    units = {t[key].unit: run.name for run, t in zip(runs, tables, strict=True) if key in t}
    if len(units) > 1:
        listing = ", ".join(f"{unit!r} in run {name!r}" for unit, name in units.items())
        raise EdgeslimError(f"metric {key} has different units ({listing}); cannot compare them")
    return next(iter(units), "")
