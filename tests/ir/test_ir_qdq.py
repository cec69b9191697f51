"""QDQ models from onnxruntime's static quantizer: the interpreter follows them exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from edgeslim.data.spec import DataSpec, Layout, Task
from edgeslim.ir import export_torch, from_onnx, interp, verify
from edgeslim.models import build_model, default_config

pytest.importorskip("torch")
quantization = pytest.importorskip("onnxruntime.quantization")
pytestmark = pytest.mark.torch

SHAPE = (1, 8, 8)


class _Calibration(quantization.CalibrationDataReader):  # type: ignore[misc]
    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self._batches = iter(
            [{"input": rng.standard_normal((1, *SHAPE)).astype(np.float32)} for _ in range(4)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


@pytest.mark.parametrize("kind", ["cnn", "dscnn", "resnet"])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("activations", ["QInt8", "QUInt8"])
def test_qdq_model_matches_unoptimized_onnxruntime(
    tmp_path: Path, kind: str, per_channel: bool, activations: str
) -> None:
    spec = DataSpec("t", Task.CLASSIFICATION, Layout.IMAGE, SHAPE, 3, 3)
    float_path = export_torch(build_model(default_config(kind), spec), SHAPE, tmp_path / "f.onnx")
    q_path = tmp_path / "q.onnx"
    quantization.quantize_static(
        str(float_path),
        str(q_path),
        _Calibration(),
        quant_format=quantization.QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=getattr(quantization.QuantType, activations),
        weight_type=quantization.QuantType.QInt8,
    )
    graph = from_onnx(q_path)
    verify(graph)
    quantized = [t for t in graph.tensors.values() if t.quant is not None]
    assert quantized and any((t.quant.axis is not None) == per_channel for t in quantized)
    assert {t.dtype for t in quantized} >= {"int8"}

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # run QDQ as is
    sess = ort.InferenceSession(str(q_path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((3, *SHAPE)).astype(np.float32)
    (want,) = sess.run(None, {"input": x})
    got = interp.run(graph, {"input": x})["output"]
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6)
