"""Compute the pruning report's records from stored runs (no drawing here).

A comparison's runs are read from the store: the ``prune`` step names the method and target
sparsity, the ``pass`` step holds the pass record (claim, per-layer sparsity, channel maps,
histograms) and its schedule steps, the ``check`` step the realized-gain warnings, and the
metrics the measured artifact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from edgeslim.report.prune._records import (
    ChannelMapInfo,
    CurveInfo,
    HeatmapInfo,
    HistogramInfo,
    Line,
    ProcessInfo,
    ProcessStep,
    PruneRun,
    Ranked,
    RankingInfo,
    SensitivityInfo,
    WarningsInfo,
)

LATENCY_CONTEXT = "onnxruntime,t1,b1"


def _metric(run: Any, name: str, context: str = "") -> float | None:
    m = run.metric(name, context)
    return None if m is None or not math.isfinite(m.value) else float(m.value)


def _step(run: Any, kind: str) -> dict[str, Any]:
    found = [s.record for s in run.steps if s.kind == kind]
    return found[-1] if found else {}


def _process(steps: Sequence[dict[str, Any]]) -> tuple[ProcessStep, ...]:
    return tuple(
        ProcessStep(
            step=i,
            phase=str(s.get("phase", "prune" if s.get("step", i) else "start")),
            target=float(s.get("target", 0.0)),
            sparsity=float(s.get("sparsity", 0.0)),
            accuracy_pruned=s.get("accuracy_pruned"),
            accuracy=s.get("accuracy"),
            layers=tuple((k, float(v)) for k, v in s.get("layers", {}).items()),
        )
        for i, s in enumerate(steps)
    )


def prune_run(run: Any) -> PruneRun:
    """A stored run as the report sees it (see module docstring)."""
    meta, record, check = _step(run, "prune"), _step(run, "pass"), _step(run, "check")
    hist = record.get("histogram")
    warnings = [
        str(w)
        for s in run.steps
        for w in s.record.get("warnings", [])
        if s.kind in ("check", "measure")
    ]
    return PruneRun(
        run_id=run.id,
        name=run.name,
        method=str(meta.get("method", "unpruned" if not record else record.get("method"))),
        target=float(meta.get("sparsity", 0.0)),
        sparsity=float(record.get("claim", {}).get("sparsity", 0.0)),
        structured=bool(record.get("structured", check.get("structured", False))),
        accuracy=_metric(run, "accuracy"),
        params=_metric(run, "params"),
        macs=_metric(run, "macs"),
        latency=_metric(run, "latency_p50", LATENCY_CONTEXT),
        artifact_bytes=_metric(run, "artifact_bytes"),
        sparse_bytes=_metric(run, "sparse_artifact_bytes"),
        warnings=tuple(dict.fromkeys(warnings)),
        layers=tuple((k, float(v)) for k, v in record.get("layers", {}).items()),
        channels=tuple((k, tuple(v)) for k, v in record.get("channels", {}).items()),
        channel_types=tuple(record.get("source_types", {}).items()),
        histogram=(tuple(hist["edges"]), tuple(hist["before"]), tuple(hist["after"]))
        if hist
        else None,
        steps=_process(record.get("steps", [])) if "steps" in record else (),
    )


def split(runs: Sequence[PruneRun]) -> tuple[PruneRun | None, list[PruneRun]]:
    ref = next((r for r in runs if r.method == "unpruned"), None)
    return ref, [r for r in runs if r.method != "unpruned"]


def _methods(runs: Sequence[PruneRun]) -> list[str]:
    return list(dict.fromkeys(r.method for r in runs))


_X: dict[str, tuple[str, str, Callable[[PruneRun], float | None]]] = {
    "sparsity": ("weight sparsity (removed or zero)", "1", lambda r: r.sparsity),
    "macs": ("MACs of the exported model", "MAC", lambda r: r.macs),
    "latency": ("latency p50, onnxruntime, 1 thread (s)", "s", lambda r: r.latency),
    "bytes": ("deployable bytes (dense ONNX or sparse file)", "B", lambda r: r.deploy_bytes),
}


def get_curve_info(runs: Sequence[PruneRun], x: str) -> CurveInfo:
    """Accuracy against ``x`` (sparsity, macs, latency or bytes), one line per method."""
    label, unit, get = _X[x]
    ref, pruned = split(runs)
    lines = []
    for method in _methods(pruned):
        pts = sorted(
            (get(r), r.accuracy, r.label)
            for r in pruned
            if r.method == method and get(r) is not None and r.accuracy is not None
        )
        if pts:
            lines.append(
                Line(
                    method,
                    tuple(float(p[0]) for p in pts),  # type: ignore[arg-type]
                    tuple(float(p[1]) for p in pts),
                    tuple(p[2] for p in pts),
                )
            )  # type: ignore[arg-type]
    reference = None
    if ref is not None and get(ref) is not None and ref.accuracy is not None:
        reference = (float(get(ref)), float(ref.accuracy))  # type: ignore[arg-type]
    xs = [v for line in lines for v in line.xs] + ([reference[0]] if reference else [])
    log_x = x != "sparsity" and bool(xs) and min(xs) > 0 and max(xs) / min(xs) > 20
    return CurveInfo(f"accuracy vs {x}", label, "accuracy", unit, tuple(lines), reference, log_x)


def get_layer_sparsity_info(runs: Sequence[PruneRun]) -> HeatmapInfo:
    _, pruned = split(runs)
    columns = list(dict.fromkeys(k for r in pruned for k, _ in r.layers))
    values = tuple(tuple(dict(r.layers).get(c) for c in columns) for r in pruned)
    return HeatmapInfo(
        "sparsity per layer", tuple(r.label for r in pruned), tuple(columns), values
    )


def get_channel_map_info(run: PruneRun) -> ChannelMapInfo | None:
    """Kept/removed channel maps of the conv layers (of every prunable layer where the model
    has no convolutions: neurons, recurrent hidden units)."""
    types = dict(run.channel_types)
    convs = [(k, v) for k, v in run.channels if types.get(k, "").startswith("Conv")]
    chosen = convs or list(run.channels)
    if not chosen:
        return None
    return ChannelMapInfo(
        f"kept channels: {run.label}",
        run.label,
        tuple(k for k, _ in chosen),
        tuple(v for _, v in chosen),
    )


def get_histogram_info(runs: Sequence[PruneRun]) -> HistogramInfo | None:
    """Before (shared) and after per run; runs with other bin edges are left out."""
    _, pruned = split(runs)
    with_hist = [r for r in pruned if r.histogram is not None]
    if not with_hist:
        return None
    edges, before, _ = with_hist[0].histogram  # type: ignore[misc]
    after = tuple(
        (r.label, r.histogram[2])
        for r in with_hist
        if r.histogram is not None and r.histogram[0] == edges
    )
    return HistogramInfo("non-zero weight values before and after pruning", edges, before, after)


def get_process_info(run: PruneRun) -> ProcessInfo | None:
    if not run.steps:
        return None
    layers = tuple(dict.fromkeys(k for s in run.steps for k, _ in s.layers))
    return ProcessInfo(f"pruning process: {run.label}", run.label, run.steps, layers)


def _rank(
    criterion: str, unit: str, better: str, rows: Sequence[tuple[str, float | None]]
) -> Ranked:
    valid = [(n, float(v)) for n, v in rows if v is not None and math.isfinite(v)]
    valid.sort(key=lambda e: -e[1] if better == "higher" else e[1])
    return Ranked(criterion, unit, better, tuple(valid))


def get_ranking_info(runs: Sequence[PruneRun], tolerance: float = 0.01) -> RankingInfo:
    """Best method per criterion: accuracy at each sparsity, mean accuracy, and the smallest
    deployable bytes, MACs and latency among runs within ``tolerance`` of the reference."""
    ref, pruned = split(runs)
    criteria = []
    for level in sorted({r.target for r in pruned}):
        at = [(r.method, r.accuracy) for r in pruned if r.target == level]
        criteria.append(_rank(f"accuracy at sparsity {level:g}", "1", "higher", at))
    means = []
    for method in _methods(pruned):
        accs = [r.accuracy for r in pruned if r.method == method and r.accuracy is not None]
        means.append((method, sum(accs) / len(accs) if accs else None))
    criteria.append(_rank("mean accuracy over sparsities", "1", "higher", means))
    floor = (ref.accuracy - tolerance) if ref is not None and ref.accuracy is not None else None
    good = [r for r in pruned if floor is None or (r.accuracy is not None and r.accuracy >= floor)]
    qualifier = f" within {tolerance:g} of the unpruned accuracy" if floor is not None else ""
    for title, unit, get in (
        ("deployable bytes", "B", lambda r: r.deploy_bytes),
        ("MACs", "MAC", lambda r: r.macs),
        ("latency p50", "s", lambda r: r.latency),
    ):
        criteria.append(
            _rank(f"smallest {title}{qualifier}", unit, "lower", [(r.label, get(r)) for r in good])
        )
    return RankingInfo(
        "best method per criterion", ref.accuracy if ref else None, tolerance, tuple(criteria)
    )


def get_warnings_info(runs: Sequence[PruneRun]) -> WarningsInfo:
    return WarningsInfo(
        "realized-gain warnings", tuple((r.label, r.warnings) for r in runs if r.warnings)
    )


def get_sensitivity_info(curves: Sequence[Any], allocation: dict[str, float]) -> SensitivityInfo:
    """From :class:`edgeslim.passes.prune.SensitivityCurve` records (or their dicts)."""
    rows = [c if isinstance(c, dict) else c.to_dict() for c in curves]
    lines = tuple(
        Line(
            str(c["layer"]),
            tuple(c["levels"]),
            tuple(c["scores"]),
            tuple(f"{v:g}" for v in c["levels"]),
        )
        for c in rows
    )
    kind = str(rows[0]["kind"]) if rows else "weights"
    baseline = float(rows[0]["baseline"]) if rows else math.nan
    return SensitivityInfo(
        f"layer sensitivity ({kind})", kind, baseline, lines, tuple(allocation.items())
    )
