"""Latency and throughput with scripted runners and a fake clock (no timing thresholds)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.records import Provenance
from edgeslim.measure import _timing, latency_metrics, throughput_metrics, timing_context


class _Clock:
    def __init__(self) -> None:
        self.now = 0

    def perf_counter_ns(self) -> int:
        return self.now


class _ScriptedRunner:
    """Advances a fake clock by scripted durations (ns), one per call, and counts calls."""

    def __init__(self, clock: _Clock, durations: list[int]) -> None:
        self.clock, self.durations, self.calls = clock, durations, 0
        self.shapes: list[tuple[int, ...]] = []

    def run(self, x: np.ndarray) -> np.ndarray:
        self.clock.now += self.durations[self.calls % len(self.durations)]
        self.calls += 1
        self.shapes.append(x.shape)
        return np.zeros((len(x), 2), dtype=np.float32)

    def close(self) -> None:
        pass


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    c = _Clock()
    monkeypatch.setattr(_timing, "time", SimpleNamespace(perf_counter_ns=c.perf_counter_ns))
    return c


def test_latency_percentiles_from_exact_durations(clock: _Clock) -> None:
    # warmup calls take 1 s each and must not count; timed calls take 1..100 us
    durations = [1_000_000_000] * 5 + [1000 * i for i in range(1, 101)]
    runner = _ScriptedRunner(clock, durations)
    p50, p95 = latency_metrics(
        runner, np.zeros((1, 3), np.float32), warmup=5, repeats=100, context="fake,t1,b1"
    )
    assert runner.calls == 105
    assert p50.value == pytest.approx(np.percentile(np.arange(1, 101) * 1e-6, 50))
    assert p95.value == pytest.approx(np.percentile(np.arange(1, 101) * 1e-6, 95))
    assert (p50.name, p95.name, p50.unit, p50.context) == (
        "latency_p50",
        "latency_p95",
        "s",
        "fake,t1,b1",
    )
    assert p50.provenance is Provenance.MEASURED


def test_throughput_uses_median_batch_time(clock: _Clock) -> None:
    runner = _ScriptedRunner(clock, [2_000_000, 2_000_000, 50_000_000])  # one slow outlier
    (m,) = throughput_metrics(runner, np.zeros((64, 3), np.float32), warmup=0, repeats=3)
    assert m.name == "throughput" and m.unit == "samples/s"
    assert m.value == pytest.approx(64 / 2e-3)
    assert runner.shapes == [(64, 3)] * 3


def test_real_clock_gives_positive_finite_ordered_latency() -> None:
    runner = _ScriptedRunner(_Clock(), [0])  # does nothing; the real clock measures overhead
    p50, p95 = latency_metrics(runner, np.zeros((1, 4), np.float32), warmup=1, repeats=20)
    assert math.isfinite(p95.value) and p50.value > 0
    assert p50.value <= p95.value


def test_bad_parameters_raise() -> None:
    runner = _ScriptedRunner(_Clock(), [0])
    with pytest.raises(EdgeslimError, match="repeats"):
        latency_metrics(runner, np.zeros((1, 1)), repeats=0)
    with pytest.raises(EdgeslimError, match="warmup"):
        latency_metrics(runner, np.zeros((1, 1)), warmup=-1)
    with pytest.raises(EdgeslimError, match="at least one sample"):
        throughput_metrics(runner, np.zeros((0, 1)))


def test_timing_context_strings() -> None:
    assert timing_context("onnxruntime", 1, 1) == "onnxruntime,t1,b1"
    assert timing_context("torch", None, 64) == "torch,tall,b64"
    assert timing_context("torch", 0, 8) == "torch,tall,b8"
