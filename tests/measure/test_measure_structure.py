"""structure_metrics and storage_metrics: known answers on hand-built graphs and files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from measure_graphs import graph, node, weights

from edgeslim._core.errors import ModelError
from edgeslim._core.records import Provenance
from edgeslim.ir.graph import Graph
from edgeslim.measure import (
    initializer_roles,
    storage_metrics,
    structure_metrics,
    weight_initializers,
)


def _values(g: Graph) -> dict[str, float]:
    return {m.name: m.value for m in structure_metrics(g)}


def _dense_with_reshape() -> tuple[Graph, np.ndarray]:
    w = weights(4, 6)
    w[:, :3] = 0.0  # 12 of 24 weights are zero
    inits = {
        "W": w,
        "b": np.zeros(4, dtype=np.float32),  # zero bias: a parameter, not a weight
        "shape": np.array([-1, 6], dtype=np.int64),
        "scale": np.array([2.0], dtype=np.float32),
    }
    g = graph(
        [
            node("Reshape", ["x", "shape"], ["r"]),
            node("Mul", ["r", "scale"], ["s"]),
            node("Gemm", ["s", "W", "b"], ["y"], transB=1),
        ],
        {"x": (None, 2, 3), "r": (None, 6), "s": (None, 6), "y": (None, 4)},
        ["x"],
        ["y"],
        inits,
    )
    return g, w


def test_params_exclude_shape_data_and_sparsity_counts_only_weights() -> None:
    g, _ = _dense_with_reshape()
    v = _values(g)
    assert v["params"] == 24 + 4 + 1  # W, b, scale; not the int64 shape
    assert v["weight_bytes"] == (24 + 4 + 1) * 4
    assert v["nonzero_params"] == 12 + 0 + 1
    assert v["sparsity"] == pytest.approx(12 / 24)
    assert v["macs"] == 6 * 4
    roles = initializer_roles(g)
    assert roles == {"shape": "shape", "scale": "param", "W": "param", "b": "param"}
    assert set(weight_initializers(g)) == {"W"}


def test_metrics_carry_units_and_computed_provenance() -> None:
    g, _ = _dense_with_reshape()
    units = {m.name: m.unit for m in structure_metrics(g)}
    assert units == {
        "params": "param",
        "weight_bytes": "B",
        "nonzero_params": "param",
        "sparsity": "1",
        "macs": "MAC",
    }
    assert {m.provenance for m in structure_metrics(g)} == {Provenance.COMPUTED}


def test_int8_weights_behind_dequantize_count_zero_point_as_zero() -> None:
    q = np.array([[3, 3, 5], [1, 1, 1]], dtype=np.int8)  # per-row zero points 3 and 1
    inits = {
        "Wq": q,
        "Ws": np.array([0.1, 0.2], dtype=np.float32),
        "Wz": np.array([3, 1], dtype=np.int8),
    }
    g = graph(
        [
            node("DequantizeLinear", ["Wq", "Ws", "Wz"], ["W"], axis=0),
            node("Gemm", ["x", "W"], ["y"], transB=1),
        ],
        {"x": (None, 3), "W": (2, 3), "y": (None, 2)},
        ["x"],
        ["y"],
        inits,
    )
    v = _values(g)
    assert weight_initializers(g).keys() == {"Wq"}
    assert v["params"] == 6  # scales and zero points are not parameters ...
    assert v["weight_bytes"] == 6 * 1 + 2 * 4 + 2 * 1  # ... but their bytes are stored
    assert v["nonzero_params"] == 1  # only the 5 differs from its zero point
    assert v["sparsity"] == pytest.approx(5 / 6)


def test_recurrent_weights_count_for_sparsity() -> None:
    w = np.zeros((1, 6, 2), dtype=np.float32)
    r = np.ones((1, 6, 2), dtype=np.float32)
    g = graph(
        [node("RNN", ["x", "W", "R"], ["y"], hidden_size=6)],
        {"x": (5, None, 2), "y": (5, 1, None, 6)},
        ["x"],
        ["y"],
        {"W": w, "R": r},
    )
    v = _values(g)
    assert v["sparsity"] == pytest.approx(0.5)
    assert v["nonzero_params"] == 12


def test_graph_without_weights_has_zero_sparsity() -> None:
    g = graph([node("Relu", ["x"], ["y"])], {"x": (None, 3), "y": (None, 3)}, ["x"], ["y"])
    v = _values(g)
    assert v["sparsity"] == 0.0
    assert v["params"] == v["macs"] == 0


def test_storage_metrics_match_file_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "sparse.bin"
    data = np.zeros(10_000, dtype=np.float32).tobytes() + b"tail"
    path.write_bytes(data)
    raw, packed = storage_metrics(path)
    assert (raw.name, raw.unit, raw.value) == ("artifact_bytes", "B", 40_004)
    assert packed.name == "artifact_gzip_bytes"
    assert packed.value == len(gzip.compress(data, compresslevel=9, mtime=0))
    assert packed.value < raw.value / 10  # zero runs compress away
    assert storage_metrics(path) == (raw, packed)  # deterministic


def test_storage_metrics_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing\.onnx"):
        storage_metrics(tmp_path / "missing.onnx")
