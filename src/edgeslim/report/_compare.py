"""Compute the comparison table and scatter data: plain records, no drawing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.records import Metric
from edgeslim.report._directions import direction_of
from edgeslim.report._metrics import resolve_key, run_metrics, unit_of, warnings_of
from edgeslim.report._records import (
    Cell,
    Column,
    ComparisonInfo,
    Direction,
    Row,
    ScatterInfo,
    ScatterPoint,
)
from edgeslim.store import RunRecord

#: Column order of a comparison: quality, then size, then speed, then work and energy.
PREFERRED_ORDER = (
    "accuracy", "f1", "agreement", "artifact_bytes", "flash_bytes", "ram_bytes", "peak_ram",
    "latency_p50", "latency_p95", "throughput", "macs", "params", "energy", "instructions",
)  # fmt: skip

#: Default Pareto objectives: quality, deployed size, latency. Each group's first name that every
#: run has a finite value of is used; when no group matches, every complete directed column is.
QUALITY_METRICS = ("accuracy", "f1", "macro_f1", "agreement")
DEFAULT_OBJECTIVES = (QUALITY_METRICS, ("artifact_bytes",), ("latency_p50",))


def get_comparison_info(
    runs: Sequence[RunRecord],
    *,
    reference: int | str | None = None,
    metrics: Sequence[str] | None = None,
    objectives: Sequence[str] | None = None,
    directions: Mapping[str, Direction] | None = None,
) -> ComparisonInfo:
    """Runs × metric columns with units, provenance, best cells and Pareto flags.

    ``metrics`` picks columns by key (``latency_p50[ort]``) or name (all its contexts); default:
    every metric any run has. ``objectives`` are the keys the Pareto front is computed over;
    default: quality, size and latency p50 (:data:`DEFAULT_OBJECTIVES`) where all runs have
    them, else every column with a direction that all runs have a finite value for. ``reference``
    (a run id or name among ``runs``) adds each value's ratio to the reference's.
    ``directions`` overrides :data:`~edgeslim.report.DIRECTIONS` by metric name.
    """
    tables = [run_metrics(run) for run in runs]
    keys = _column_keys(tables, metrics)
    columns = tuple(_column(runs, tables, key, directions) for key in keys)
    ref_index = _reference_index(runs, reference)
    chosen = _objectives(columns, tables, objectives)
    by_key = {c.key: c for c in columns}
    vectors = [
        _oriented([_value(t, k) for k in chosen], [by_key[k].direction for k in chosen])
        for t in tables
    ]
    front = _front(vectors) if chosen else [None] * len(runs)
    best = [_best([_value(t, c.key) for t in tables], c.direction) for c in columns]
    ref_table = None if ref_index is None else tables[ref_index]
    rows = tuple(
        Row(
            run_id=run.id,
            run_name=run.name,
            status=run.status.value,
            cells=tuple(
                _cell(table.get(c.key), i in best[j], _value(ref_table, c.key))
                for j, c in enumerate(columns)
            ),
            on_front=front[i],
            is_reference=i == ref_index,
            warnings=warnings_of(run),
        )
        for i, (run, table) in enumerate(zip(runs, tables, strict=True))
    )
    return ComparisonInfo(
        columns=columns,
        rows=rows,
        objectives=tuple(chosen),
        reference=None if ref_index is None else runs[ref_index].name,
    )


def _value(table: Mapping[str, Metric] | None, key: str) -> float | None:
    return table[key].value if table is not None and key in table else None


def _cell(metric: Metric | None, is_best: bool, ref: float | None) -> Cell:
    if metric is None:
        return Cell(None, None)
    return Cell(metric.value, metric.provenance, is_best, _ratio(metric.value, ref))


def _objectives(
    columns: Sequence[Column],
    tables: Sequence[Mapping[str, Metric]],
    wanted: Sequence[str] | None,
) -> list[str]:
    """The objective keys: checked if given, else :data:`DEFAULT_OBJECTIVES` or, failing them,
    every directed column that all runs have."""
    if wanted is None:
        complete = [
            c
            for c in columns
            if c.direction is not None and all(_finite(_value(t, c.key)) for t in tables)
        ]
        chosen = []
        for group in DEFAULT_OBJECTIVES:
            found = [c for name in group for c in complete if c.name == name]
            if found:  # the group's first name; its context-free column, else the first context
                first = [c for c in found if c.name == found[0].name]
                chosen.append(min(first, key=lambda c: (c.context != "", c.key)).key)
        return chosen or [c.key for c in complete]
    by_key = {c.key: c for c in columns}
    unknown = [k for k in wanted if k not in by_key]
    if unknown:
        raise EdgeslimError(f"objectives {unknown} are not among the columns {list(by_key)}")
    undirected = [k for k in wanted if by_key[k].direction is None]
    if undirected:
        raise EdgeslimError(f"objectives {undirected} have no direction; pass directions=")
    return list(wanted)


def get_scatter_info(
    runs: Sequence[RunRecord],
    x_metric: str,
    y_metric: str,
    *,
    directions: Mapping[str, Direction] | None = None,
) -> ScatterInfo:
    """One point per run of ``y_metric`` against ``x_metric`` (keys or names, see
    :func:`resolve_key`) and their 2-D Pareto front. Runs lacking a finite x or y are skipped."""
    tables = [run_metrics(run) for run in runs]
    x_key = resolve_key(runs, x_metric) or x_metric
    y_key = resolve_key(runs, y_metric) or y_metric
    x_col, y_col = (_column(runs, tables, k, directions) for k in (x_key, y_key))
    points: list[ScatterPoint] = []
    skipped: list[str] = []
    for run, table in zip(runs, tables, strict=True):
        x, y = table.get(x_key), table.get(y_key)
        if x is None or y is None or not (_finite(x.value) and _finite(y.value)):
            skipped.append(run.name)
            continue
        points.append(
            ScatterPoint(run.id, run.name, x.value, y.value, x.provenance, y.provenance, False)
        )
    front: tuple[int, ...] = ()
    if x_col.direction is not None and y_col.direction is not None:
        dirs = [x_col.direction, y_col.direction]
        flags = _front([_oriented([p.x, p.y], dirs) for p in points])
        front = tuple(sorted((i for i, f in enumerate(flags) if f), key=lambda i: points[i].x))
        points = [
            ScatterPoint(
                p.run_id, p.run_name, p.x, p.y, p.x_provenance, p.y_provenance, i in front
            )
            for i, p in enumerate(points)
        ]
    return ScatterInfo(x_col, y_col, tuple(points), front, tuple(skipped))


def _column_keys(
    tables: Sequence[Mapping[str, Metric]], wanted: Sequence[str] | None
) -> list[str]:
    present: dict[str, str] = {}  # key -> name
    for table in tables:
        present.update({key: m.name for key, m in table.items()})
    if wanted is None:
        keys = list(present)
    else:
        keys = []
        for item in wanted:
            matches = [k for k, name in present.items() if k == item or name == item]
            if not matches:
                raise EdgeslimError(f"no run has a metric {item!r}; they have {sorted(present)}")
            keys.extend(k for k in matches if k not in keys)
    rank = {name: i for i, name in enumerate(PREFERRED_ORDER)}
    return sorted(keys, key=lambda k: (rank.get(present[k], len(rank)), present[k], k))


def _column(
    runs: Sequence[RunRecord],
    tables: Sequence[Mapping[str, Metric]],
    key: str,
    directions: Mapping[str, Direction] | None,
) -> Column:
    sample = next((t[key] for t in tables if key in t), None)
    name = sample.name if sample else key.split("[", 1)[0]
    context = sample.context if sample else ""
    unit = unit_of(runs, key, tables)
    return Column(key, name, context, unit, direction_of(name, unit, directions))


def _reference_index(runs: Sequence[RunRecord], reference: int | str | None) -> int | None:
    if reference is None:
        return None
    for i, run in enumerate(runs):
        if reference in (run.id, run.name) or str(reference) == str(run.id):
            return i
    raise EdgeslimError(f"reference run {reference!r} is not among the compared runs")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _oriented(values: Sequence[float | None], dirs: Sequence[Direction | None]) -> list[float]:
    """Values turned so that higher is better everywhere; NaN where missing."""
    out = []
    for v, d in zip(values, dirs, strict=True):
        v = math.nan if v is None or math.isnan(v) else v
        out.append(-v if d is Direction.LOWER else v)
    return out


def _front(vectors: Sequence[Sequence[float]]) -> list[bool | None]:
    """Pareto flags of higher-is-better vectors; ``None`` for a vector with a missing value."""
    complete = [not any(math.isnan(v) for v in vec) for vec in vectors]

    def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and any(
            x > y for x, y in zip(a, b, strict=True)
        )

    flags: list[bool | None] = []
    for i, vec in enumerate(vectors):
        if not complete[i]:
            flags.append(None)
            continue
        beaten = any(complete[j] and dominates(vectors[j], vec) for j in range(len(vectors)))
        flags.append(not beaten)
    return flags


def _best(values: Sequence[float | None], direction: Direction | None) -> set[int]:
    """Indices of the best finite values (all of them on a tie)."""
    finite = {i: v for i, v in enumerate(values) if v is not None and math.isfinite(v)}
    if direction is None or not finite:
        return set()
    target = (max if direction is Direction.HIGHER else min)(finite.values())
    return {i for i, v in finite.items() if v == target}


def _ratio(value: float | None, ref: float | None) -> float | None:
    if not (_finite(value) and _finite(ref)) or ref == 0:
        return None
    return value / ref  # type: ignore[operator]
