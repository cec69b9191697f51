"""Every zoo model on every layout: export, read, verify, interpret == onnxruntime == torch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from edgeslim.data.spec import DataSpec, Layout, Normalization, Task
from edgeslim.ir import Graph, export_torch, from_onnx, interp, to_onnx, verify
from edgeslim.models import build_model, config_from_dict, with_normalization, zoo_names

torch = pytest.importorskip("torch")
RunOrt = Callable[[onnx.ModelProto, dict[str, np.ndarray]], list[np.ndarray]]
pytestmark = pytest.mark.torch

LAYOUTS = {
    Layout.IMAGE: (1, 8, 8),
    Layout.SERIES: (6, 20),
    Layout.TABULAR: (13,),
}
CASES = [(kind, {}, layout) for kind in zoo_names() for layout in LAYOUTS] + [
    (kind, {"layers": 2, "bidirectional": True}, layout)
    for kind in ("gru", "lstm")
    for layout in LAYOUTS
]


def _randomize(model: Any, seed: int) -> None:
    """Random BN statistics and affine terms, so that folding BN into convs matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)


def _export(kind: str, extra: dict[str, Any], layout: Layout, path: Path) -> tuple[Any, Graph]:
    torch.manual_seed(0)
    shape = LAYOUTS[layout]
    spec = DataSpec("t", Task.CLASSIFICATION, layout, shape, num_classes=3, output_dim=3)
    model = build_model(config_from_dict({"kind": kind, **extra}), spec)
    _randomize(model, seed=1)
    rng = np.random.default_rng(5)
    stats = Normalization(  # deployed models carry the data normalization in the graph
        mean=tuple(rng.standard_normal(shape[0]).tolist()),
        std=tuple((rng.random(shape[0]) + 0.5).tolist()),
        axis=0,
    )
    model = with_normalization(model, stats, shape)
    export_torch(model, shape, path)
    graph = from_onnx(path)
    verify(graph)
    return model, graph


def _case_id(case: tuple[str, dict[str, Any], Layout]) -> str:
    kind, extra, layout = case
    return f"{kind}{'-2x-bi' if extra else ''}-{layout.value}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_zoo_model_matches_onnxruntime_and_torch(
    tmp_path: Path, run_ort: RunOrt, case: tuple[str, dict[str, Any], Layout]
) -> None:
    kind, extra, layout = case
    path = tmp_path / "model.onnx"
    model, graph = _export(kind, extra, layout, path)
    x = np.random.default_rng(2).standard_normal((3, *LAYOUTS[layout])).astype(np.float32)

    got = interp.run(graph, {"input": x})["output"]
    (want,) = run_ort(onnx.load(str(path)), {"input": x})
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)
    assert got.shape == (3, 3) and got.dtype == np.float32


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_zoo_tensor_infos_match_a_run(
    tmp_path: Path, case: tuple[str, dict[str, Any], Layout]
) -> None:
    kind, extra, layout = case
    _, graph = _export(kind, extra, layout, tmp_path / "model.onnx")
    x = np.random.default_rng(3).standard_normal((5, *LAYOUTS[layout])).astype(np.float32)
    names = [t for n in graph.nodes for t in n.outputs if t]
    values = interp.run(graph, {"input": x}, outputs=names)
    for name, value in values.items():
        info = graph.tensors[name]
        assert info.dtype == value.dtype.name, name
        assert len(info.shape) == value.ndim, name
        assert sum(d is None for d in info.shape) <= 1, (name, info.shape)  # only the batch
        for d, v in zip(info.shape, value.shape, strict=True):
            assert d is None or d == v, (name, info.shape, value.shape)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_zoo_round_trip_through_to_onnx(
    tmp_path: Path, run_ort: RunOrt, case: tuple[str, dict[str, Any], Layout]
) -> None:
    kind, extra, layout = case
    _, graph = _export(kind, extra, layout, tmp_path / "model.onnx")
    proto = to_onnx(graph)
    again = from_onnx(proto)
    verify(again)
    assert [(n.op, n.inputs, n.outputs) for n in again.nodes] == [
        (n.op, n.inputs, n.outputs) for n in graph.nodes
    ]
    assert [sorted(n.attrs) for n in again.nodes] == [sorted(n.attrs) for n in graph.nodes]
    assert again.tensors == graph.tensors
    x = np.random.default_rng(4).standard_normal((2, *LAYOUTS[layout])).astype(np.float32)
    (back,) = run_ort(proto, {"input": x})
    np.testing.assert_allclose(
        interp.run(graph, {"input": x})["output"], back, atol=1e-5, rtol=1e-5
    )
