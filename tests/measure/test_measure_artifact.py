"""measure_artifact and the structure metrics on real exported zoo models."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from edgeslim._core.errors import DataError
from edgeslim._core.records import Provenance
from edgeslim.data.spec import DataSpec, Layout, Task
from edgeslim.ir import from_onnx
from edgeslim.measure import (
    layer_costs,
    measure_artifact,
    peak_activation_memory,
    structure_metrics,
    task_metrics,
)

pytestmark = pytest.mark.torch

DIGITS = DataSpec("digits", Task.CLASSIFICATION, Layout.IMAGE, (1, 8, 8), 10, 10)
MOTIONS = DataSpec("basic-motions", Task.CLASSIFICATION, Layout.SERIES, (6, 100), 4, 4)
SINE = DataSpec("sine", Task.REGRESSION, Layout.TABULAR, (5,), 0, 1)
Export = Callable[[str, DataSpec], Any]

UNITS = {
    "accuracy": "1",
    "macro_f1": "1",
    "output_max_abs_diff": "1",
    "prediction_agreement": "1",
    "params": "param",
    "weight_bytes": "B",
    "nonzero_params": "param",
    "sparsity": "1",
    "macs": "MAC",
    "artifact_bytes": "B",
    "artifact_gzip_bytes": "B",
    "peak_activation_bytes": "B",
    "latency_p50": "s",
    "latency_p95": "s",
    "throughput": "samples/s",
}
COMPUTED = {
    "params",
    "weight_bytes",
    "nonzero_params",
    "sparsity",
    "macs",
    "artifact_bytes",
    "artifact_gzip_bytes",
    "peak_activation_bytes",
}


def _data(spec: DataSpec, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *spec.input_shape)).astype(np.float32)
    if spec.task is Task.REGRESSION:
        return x, rng.standard_normal((n, spec.output_dim)).astype(np.float32)
    return x, rng.integers(0, spec.num_classes, n)


@pytest.mark.parametrize("kind", ["cnn", "dscnn", "gru", "mlp", "resnet", "tcn"])
def test_graph_macs_equal_torch_flop_counter(zoo_export: Export, kind: str) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    module, path = zoo_export(kind, DIGITS)
    with FlopCounterMode(display=False) as counter:
        module(torch.zeros(1, *DIGITS.input_shape))
    macs = {m.name: m.value for m in structure_metrics(from_onnx(path))}["macs"]
    assert macs == counter.get_total_flops() // 2  # torch counts 2 FLOPs per MAC


def test_exported_lstm_macs_and_params(zoo_export: Export) -> None:
    module, path = zoo_export("lstm", MOTIONS)
    graph = from_onnx(path)
    steps, features, hidden, classes = 100, 6, 32, 4
    lstm = steps * 4 * hidden * (features + hidden)
    values = {m.name: m.value for m in structure_metrics(graph)}
    assert values["macs"] == lstm + hidden * classes
    assert values["params"] == sum(p.numel() for p in module.parameters())
    assert values["nonzero_params"] == values["params"]  # random init has no zeros
    assert values["sparsity"] == 0.0
    per_op = {c.op: c.macs for c in layer_costs(graph)}
    assert per_op["LSTM"] == lstm


def test_exported_cnn_peak_activation_is_conv_output_pair(zoo_export: Export) -> None:
    _, path = zoo_export("cnn", DIGITS)
    profile = peak_activation_memory(from_onnx(path))
    # conv1 (8 ch x 8 x 8 floats) feeding relu1 (same size) is the largest live pair
    assert profile.peak_bytes == 2 * 8 * 8 * 8 * 4
    assert len(profile.curve) == len(from_onnx(path).nodes)
    assert peak_activation_memory(from_onnx(path), batch=4).peak_bytes == 4 * profile.peak_bytes


def test_measure_artifact_classification(zoo_export: Export) -> None:
    module, path = zoo_export("cnn", DIGITS)
    x, y = _data(DIGITS, 50)
    stages: list[tuple[str, int, int]] = []
    report = measure_artifact(
        path,
        from_onnx(path),
        x_test=x,
        y_test=y,
        task=Task.CLASSIFICATION,
        module=module,
        threads=(1, None),
        batch=16,
        warmup=1,
        repeats=5,
        eval_chunk=16,
        progress=lambda s, d, t: stages.append((s, d, t)),
    )
    keys = {m.key for m in report.metrics}
    assert len(keys) == len(report.metrics)  # every key unique
    assert {m.name for m in report.metrics} == set(UNITS)
    for m in report.metrics:
        assert m.unit == UNITS[m.name], m.name
        expected = Provenance.COMPUTED if m.name in COMPUTED else Provenance.MEASURED
        assert m.provenance is expected, m.name
        assert math.isfinite(m.value) and m.value >= 0, m.key
    for backend in ("torch", "onnxruntime"):
        for t in ("t1", "tall"):
            p50 = report.get("latency_p50", f"{backend},{t},b1")
            p95 = report.get("latency_p95", f"{backend},{t},b1")
            assert p50 is not None and p95 is not None and 0 < p50.value <= p95.value
            assert report.get("throughput", f"{backend},{t},b16") is not None
    # accuracy is the artifact's, on onnxruntime
    from edgeslim.backends import get_backend

    artifact_out = get_backend("onnxruntime").load(path).run(x)
    assert report.get("accuracy") == task_metrics(y, artifact_out, Task.CLASSIFICATION)[0]
    diff = report.get("output_max_abs_diff", "torch")
    assert diff is not None and diff.value < 1e-5
    agreement = report.get("prediction_agreement", "torch")
    assert agreement is not None and agreement.value == 1.0
    assert [s[1] for s in stages] == list(range(len(stages)))  # progress counts up
    assert stages[-1][0] == "done" and stages[-1][1] == stages[-1][2]
    record = json.loads(json.dumps(report.record()))
    assert record["metrics"]["latency_p50[onnxruntime,t1,b1]"]["unit"] == "s"
    assert len(record["layers"]) == len(report.layers) > 0
    assert max(record["activation"]["curve"]) == report.get("peak_activation_bytes").value  # type: ignore[union-attr]
    assert report.warnings == ()


def test_measure_artifact_without_module_skips_torch(zoo_export: Export) -> None:
    _, path = zoo_export("mlp", SINE)
    x, y = _data(SINE, 20)
    report = measure_artifact(
        path,
        x_test=x,
        y_test=y,
        task="regression",
        threads=(1, 1, 0),
        batch=8,
        warmup=0,
        repeats=3,
    )
    names = {m.name for m in report.metrics}
    assert {"mae", "rmse", "latency_p50", "throughput", "macs"} <= names
    assert not names & {"accuracy", "output_max_abs_diff"}
    assert not any(m.context.startswith("torch") for m in report.metrics)
    assert len(report.warnings) == 1 and "torch" in report.warnings[0]  # once, not per count
    assert [m.key for m in report.metrics if m.name == "latency_p50"] == [
        "latency_p50[onnxruntime,t1,b1]",  # the repeated 1 is measured once
        "latency_p50[onnxruntime,tall,b1]",
    ]


def test_measure_artifact_rejects_mismatched_data(zoo_export: Export) -> None:
    _, path = zoo_export("mlp", DIGITS)
    x, y = _data(DIGITS, 4)
    with pytest.raises(DataError, match="4 inputs and 3 labels"):
        measure_artifact(path, x_test=x, y_test=y[:3], task=Task.CLASSIFICATION)
