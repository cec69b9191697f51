"""Measure one exported artifact: quality, structure, storage, memory, latency, throughput."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from edgeslim._core.errors import DataError, EdgeslimError
from edgeslim._core.records import Metric
from edgeslim.backends import (
    ArtifactKind,
    Backend,
    Runner,
    get_backend,
    needs_interp,
    runner_metrics,
)
from edgeslim.data.spec import Task
from edgeslim.ir.graph import Graph
from edgeslim.measure._costs import LayerCost, layer_costs
from edgeslim.measure._memory import ActivationProfile, peak_activation_memory
from edgeslim.measure._storage import storage_metrics
from edgeslim.measure._structure import structure_metrics
from edgeslim.measure._task import agreement_metrics, task_metrics
from edgeslim.measure._timing import latency_metrics, throughput_metrics, timing_context

# progress(stage description, stages done, stages in all)
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MeasureReport:
    """Everything :func:`measure_artifact` found: metrics plus the per-layer and memory records
    that reports draw from. ``warnings`` name what was skipped and why."""

    metrics: tuple[Metric, ...]
    layers: tuple[LayerCost, ...]
    activation: ActivationProfile
    warnings: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, name: str, context: str = "") -> Metric | None:
        for m in self.metrics:
            if m.name == name and m.context == context:
                return m
        return None

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict (metrics by key, layers, activation curve, warnings, settings)."""
        return {
            "metrics": {m.key: m.to_dict() for m in self.metrics},
            "layers": [c.to_dict() for c in self.layers],
            "activation": self.activation.to_dict(),
            "warnings": list(self.warnings),
            "settings": dict(self.settings),
        }


def _batched(runner: Runner, x: np.ndarray, chunk: int) -> np.ndarray:
    return np.concatenate([runner.run(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def _rows(x: np.ndarray, n: int) -> np.ndarray:
    """``n`` rows of ``x``, cycling through it if it has fewer."""
    return np.ascontiguousarray(np.take(x, np.arange(n) % len(x), axis=0))


def _artifact_for(backend: Backend, onnx_path: Path, module: Any | None) -> Any | None:
    if backend.artifact_kind is ArtifactKind.ONNX:
        return onnx_path
    if backend.artifact_kind is ArtifactKind.TORCH_MODULE:
        return module
    return None


def _quality(
    path: Path,
    module: Any | None,
    x_test: np.ndarray,
    y_test: np.ndarray,
    task: Task,
    chunk: int,
    on_torch: Callable[[], None],
    runtime: str = "onnxruntime",
) -> list[Metric]:
    """Task metrics of the artifact on ``runtime`` (onnxruntime, or edgeslim's interpreter for
    ops only edgeslim runs); agreement of the torch module with it."""
    with contextlib.closing(get_backend(runtime).load(path)) as ort:
        artifact_out = _batched(ort, x_test, chunk)
    metrics = list(task_metrics(y_test, artifact_out, task))
    on_torch()
    if module is not None:
        with contextlib.closing(get_backend("torch").load(module)) as eager:
            eager_out = _batched(eager, x_test, chunk)
        metrics += agreement_metrics(artifact_out, eager_out, task, context="torch")
    return metrics


def _timings(
    runner: Runner,
    backend: Backend,
    sample: np.ndarray,
    many: np.ndarray,
    warmup: int,
    repeats: int,
    t_repeats: int,
) -> list[Metric]:
    t = backend.resolved_threads
    return [
        *latency_metrics(
            runner,
            sample,
            warmup=warmup,
            repeats=repeats,
            context=timing_context(backend.name, t, 1),
        ),
        *throughput_metrics(
            runner,
            many,
            warmup=min(warmup, 3),
            repeats=t_repeats,
            context=timing_context(backend.name, t, len(many)),
        ),
        *runner_metrics(runner),
    ]


def _backends(names: Sequence[str], threads: Sequence[int | None]) -> list[Backend]:
    """One backend per (name, thread count); 0 and None are the same count, kept once."""
    out: dict[tuple[str, int | None], Backend] = {}
    for name in names:
        for t in threads:
            backend = get_backend(name, threads=t)
            out.setdefault((backend.name, backend.resolved_threads), backend)
    return list(out.values())


def measure_artifact(
    onnx_path: str | os.PathLike[str],
    graph: Graph | None = None,
    *,
    x_test: np.ndarray,
    y_test: np.ndarray,
    task: Task | str,
    module: Any | None = None,
    backends: Sequence[str] = ("torch", "onnxruntime"),
    threads: Sequence[int | None] = (1, None),
    batch: int = 64,
    warmup: int = 10,
    repeats: int = 100,
    throughput_repeats: int | None = None,
    eval_chunk: int = 256,
    progress: ProgressFn | None = None,
) -> MeasureReport:
    """Measure the exported artifact at ``onnx_path`` (its :class:`Graph` is read if not given).

    ``x_test`` are inputs exactly as the artifact takes them (with normalization inside the
    graph: raw inputs); ``y_test`` labels or targets. ``module`` is the torch module equivalent
    to the artifact (same inputs), used only by the ``"torch"`` backend and for the agreement
    metrics; quality metrics always come from running the **artifact** on onnxruntime.

    Metrics: task metrics (:func:`task_metrics`), ``output_max_abs_diff`` and
    ``prediction_agreement`` of torch vs the artifact (context ``torch``), structure
    (:func:`structure_metrics`), storage (:func:`storage_metrics`), ``peak_activation_bytes``
    at batch 1, and per backend x thread count ``latency_p50``/``latency_p95`` at batch 1 and
    ``throughput`` at ``batch`` (contexts such as ``onnxruntime,t1,b1``; ``tall`` for threads
    None or 0 = all cores), plus whatever a runner reports itself. A backend whose artifact is
    missing (torch without ``module``) is skipped with a warning.
    """
    path = Path(onnx_path)
    task = Task(task)
    x_test, y_test = np.asarray(x_test), np.asarray(y_test)
    if len(x_test) == 0 or len(x_test) != len(y_test):
        raise DataError(
            f"measure_artifact needs as many test inputs as labels (>0); "
            f"got {len(x_test)} inputs and {len(y_test)} labels"
        )
    if batch < 1 or eval_chunk < 1:
        raise EdgeslimError(
            f"parameters batch and eval_chunk must be >= 1; got {batch}, {eval_chunk}"
        )
    if graph is None:
        from edgeslim.ir import from_onnx

        graph = from_onnx(path)
    resolved = _backends(backends, threads)
    total = 3 + len(resolved)
    done = 0

    def step(stage: str) -> None:
        nonlocal done
        if progress is not None:
            progress(stage, done, total)
        done += 1

    step("structure")
    layers = layer_costs(graph, batch=1)
    activation = peak_activation_memory(graph, batch=1)
    metrics = [*structure_metrics(graph), *storage_metrics(path), *activation.metrics()]
    own = needs_interp(graph)
    runtime = "interp" if own else "onnxruntime"
    step(f"quality on {runtime}")
    metrics += _quality(
        path, module, x_test, y_test, task, eval_chunk, lambda: step("torch"), runtime
    )
    sample, many = _rows(x_test, 1), _rows(x_test, batch)
    t_repeats = throughput_repeats or max(5, repeats // 5)
    warnings: list[str] = []
    if own:
        warnings.append(
            f"quality from edgeslim's interpreter: onnxruntime cannot run {', '.join(own)}"
        )
    for backend in resolved:
        if own and backend.name == "onnxruntime":
            note = f"skipped backend onnxruntime: it cannot run {', '.join(own)}"
            if note not in warnings:
                warnings.append(note)
            continue
        label = f"{backend.name} threads={backend.resolved_threads or 'all'}"
        step(f"timing {label}")
        artifact = _artifact_for(backend, path, module)
        if artifact is None:
            note = f"skipped backend {backend.name}: no {backend.artifact_kind.value} given"
            if note not in warnings:
                warnings.append(note)
            continue
        with contextlib.closing(backend.load(artifact)) as runner:
            metrics += _timings(runner, backend, sample, many, warmup, repeats, t_repeats)
    if progress is not None:
        progress("done", total, total)
    settings = {
        "backends": list(backends),
        "threads": [t or 0 for t in threads],
        "cpu_count": os.cpu_count(),
        "batch": batch,
        "warmup": warmup,
        "repeats": repeats,
        "throughput_repeats": t_repeats,
        "test_samples": len(x_test),
    }
    return MeasureReport(
        tuple(metrics), layers, activation, tuple(warnings), MappingProxyType(settings)
    )
