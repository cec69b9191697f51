"""Synthetic runs for the report tests: records built directly, or written to a real store."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edgeslim._core import Metric, Provenance
from edgeslim.store import ArtifactRecord, RunRecord, RunStatus, StepRecord, Store, open_store

_T0 = datetime(2025, 1, 1, tzinfo=UTC)
M, C = Provenance.MEASURED, Provenance.COMPUTED

MakeRun = Callable[..., RunRecord]


@pytest.fixture
def make_run() -> MakeRun:
    """``make_run(id, name, metrics, steps=[(kind, name, record)], artifacts=[(kind, bytes)])``."""

    def make(
        run_id: int,
        name: str,
        metrics: Sequence[Metric] = (),
        *,
        steps: Sequence[tuple[str, str, dict[str, Any]]] = (),
        artifacts: Sequence[tuple[str, int]] = (),
        status: RunStatus = RunStatus.FINISHED,
    ) -> RunRecord:
        return RunRecord(
            id=run_id,
            name=name,
            status=status,
            created_at=_T0,
            finished_at=_T0,
            recipe=None,
            model=None,
            notes="",
            steps=tuple(StepRecord(i, k, n, r, _T0) for i, (k, n, r) in enumerate(steps)),
            metrics=tuple(metrics),
            metric_steps=(None,) * len(metrics),
            artifacts=tuple(
                ArtifactRecord(kind, f"/x/{name}.{kind}", "0" * 64, size, _T0)
                for kind, size in artifacts
            ),
        )

    return make


def _layers(scale: float) -> list[dict[str, Any]]:
    return [
        {"name": "conv1", "op": "Conv", "macs": 120_000 * scale, "params": 432},
        {"name": "dw2", "op": "DepthwiseConv", "macs": 30_000 * scale, "params": 144},
        {"name": "fc", "op": "Gemm", "macs": 6_400 * scale, "params": 6_410},
    ]


@pytest.fixture
def report_store(tmp_path: Path) -> Iterator[Store]:
    """A SQLite store with four runs: a baseline, pruned, quantized and a failed one."""
    store = open_store(tmp_path / "runs.db")
    specs = [
        ("baseline", 0.95, 10e-3, 400_000, 1.0, []),
        ("pruned", 0.93, 6e-3, 200_000, 0.5, ["sparsity 0.5 realized only 0.3 in the artifact"]),
        ("int8", 0.92, 3e-3, 100_000, 0.5, []),
        ("overpruned", 0.90, 8e-3, 300_000, 0.4, []),
    ]
    for name, acc, latency, size, scale, warnings in specs:
        run = store.create_run(name, recipe={"name": name})
        store.add_step(run.id, "pass", "prune", {"warnings": warnings})
        step = store.add_step(run.id, "measure", "costs", {"layers": _layers(scale)})
        store.add_metrics(
            run.id,
            [
                Metric("accuracy", acc, "1", M, "test"),
                Metric("latency_p50", latency, "s", M, "ort,t1,b1"),
                Metric("macs", 156_400 * scale, "MAC", C),
            ],
        )
        store.add_metrics(run.id, [Metric("peak_ram", 20_000 * scale, "B", C)], step=step)
        artifact = tmp_path / f"{name}.onnx"
        artifact.write_bytes(b"\0" * size)
        store.add_artifact(run.id, "onnx", artifact)
        store.finish_run(run.id, "failed" if name == "overpruned" else "finished")
    speedup = Metric("warning.realized_speedup", 0.4, "1", Provenance.MEASURED, "ort")
    store.add_metrics(store.get_run("int8").id, [speedup])
    yield store
    store.close()
