"""Structured pruning really shrinks the exported artifact, and the artifact computes exactly
what the pruned torch model computes (onnxruntime against torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from prune_cases import ZOO_CASES, zoo_model

from edgeslim.ir import export_torch, from_onnx
from edgeslim.measure import structure_metrics
from edgeslim.passes import PassContext, apply

pytestmark = pytest.mark.torch


def _structure(path: Path) -> dict[str, float]:
    return {m.name: m.value for m in structure_metrics(from_onnx(path))}


@pytest.mark.parametrize(
    ("case", "kind", "params", "spec"), ZOO_CASES, ids=[c[0] for c in ZOO_CASES]
)
def test_exported_structured_model_matches_pruned_torch_model(
    case: str, kind: str, params: dict[str, Any], spec: Any, tmp_path: Path
) -> None:
    model = zoo_model(kind, params, spec).eval()
    ctx = PassContext(None, seed=3, extras={"input_shape": spec.input_shape})
    result = apply("prune.channel", model, {"sparsity": 0.5, "importance": "l1"}, ctx)
    pruned = result.model.eval()
    base_path = export_torch(model, spec.input_shape, tmp_path / "base.onnx")
    path = export_torch(pruned, spec.input_shape, tmp_path / "pruned.onnx")
    x = np.random.default_rng(0).normal(size=(5, *spec.input_shape)).astype(np.float32)
    got = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    with torch.no_grad():
        want = pruned(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    base, small = _structure(base_path), _structure(path)
    claim = result.record["claim"]
    assert small["params"] < 0.75 * base["params"]
    assert small["macs"] < 0.75 * base["macs"]
    assert small["macs"] == claim["macs_after"]  # torch count = artifact count
    assert base["macs"] == claim["macs_before"]
