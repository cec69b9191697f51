"""Wall-clock latency and throughput of a runner (``time.perf_counter_ns`` per call)."""

from __future__ import annotations

import time

import numpy as np

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.records import Metric, Provenance
from edgeslim.backends import Runner


def timing_context(backend: str, threads: int | None, batch: int) -> str:
    """The context string of timing metrics: ``"onnxruntime,t1,b1"``; ``tall`` = all cores."""
    t = f"t{threads}" if threads else "tall"
    return f"{backend},{t},b{batch}"


def _check(warmup: int, repeats: int) -> None:
    if warmup < 0:
        raise EdgeslimError(f"parameter warmup must be >= 0; got {warmup}")
    if repeats < 1:
        raise EdgeslimError(f"parameter repeats must be >= 1; got {repeats}")


def time_calls(runner: Runner, x: np.ndarray, *, warmup: int, repeats: int) -> np.ndarray:
    """Seconds of each of ``repeats`` timed ``runner.run(x)`` calls after ``warmup`` untimed."""
    _check(warmup, repeats)
    x = np.ascontiguousarray(x)
    for _ in range(warmup):
        runner.run(x)
    out = np.empty(repeats, dtype=np.int64)
    for i in range(repeats):
        t0 = time.perf_counter_ns()
        runner.run(x)
        out[i] = time.perf_counter_ns() - t0
    return out.astype(np.float64) * 1e-9


def latency_metrics(
    runner: Runner,
    sample: np.ndarray,
    *,
    warmup: int = 10,
    repeats: int = 100,
    context: str = "",
) -> tuple[Metric, ...]:
    """``latency_p50`` and ``latency_p95`` in seconds of single ``run(sample)`` calls.

    ``sample`` usually holds one sample (batch 1); the context string should say so.
    Percentiles interpolate linearly between timed calls; ``p50 <= p95`` always holds.
    """
    times = time_calls(runner, sample, warmup=warmup, repeats=repeats)
    p50, p95 = np.percentile(times, [50, 95])
    m = Provenance.MEASURED
    return (
        Metric("latency_p50", float(p50), "s", m, context),
        Metric("latency_p95", float(max(p50, p95)), "s", m, context),
    )


def throughput_metrics(
    runner: Runner,
    batch: np.ndarray,
    *,
    warmup: int = 3,
    repeats: int = 20,
    context: str = "",
) -> tuple[Metric, ...]:
    """``throughput`` in samples/s: ``len(batch)`` over the median time of one ``run(batch)``.

    The median of repeated calls is used (not the mean) so one preempted call on a shared
    machine does not move the number.
    """
    if len(batch) < 1:
        raise EdgeslimError("throughput_metrics needs a batch with at least one sample")
    times = time_calls(runner, batch, warmup=warmup, repeats=repeats)
    median = float(np.median(times))
    value = len(batch) / median if median > 0 else float("inf")
    return (Metric("throughput", value, "samples/s", Provenance.MEASURED, context),)
