"""Sparse storage: every format round-trips exactly, auto picks the smallest, and the sparse
artifact rebuilds a model onnxruntime runs to the same outputs while taking fewer bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from prune_cases import IMAGE, zoo_model

from edgeslim.ir import export_torch
from edgeslim.passes.prune import (
    pack_tensor,
    read_sparse_artifact,
    unpack_tensor,
    write_sparse_artifact,
)


@st.composite
def _sparse_arrays(draw: st.DrawFn) -> np.ndarray:
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=4)))
    density = draw(st.floats(0.0, 1.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    arr = rng.normal(size=shape).astype(np.float32)
    arr[rng.random(shape) >= density] = 0.0
    return arr


@settings(max_examples=60, deadline=None)
@given(arr=_sparse_arrays(), fmt=st.sampled_from(["dense", "bitmask", "csr", "auto"]))
def test_every_format_round_trips_exactly(arr: np.ndarray, fmt: str) -> None:
    packed = pack_tensor("w", arr, fmt)
    back = unpack_tensor(packed)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert np.array_equal(back, arr)
    if fmt == "auto":
        sizes = [pack_tensor("w", arr, f).nbytes for f in ("dense", "bitmask", "csr")]
        assert packed.nbytes == min(sizes)


def test_sparse_formats_beat_dense_when_sparse() -> None:
    arr = np.zeros((64, 64), dtype=np.float32)
    arr[::4, ::2] = 1.0  # 12.5 % non-zero
    dense = pack_tensor("w", arr, "dense").nbytes
    assert pack_tensor("w", arr, "bitmask").nbytes < 0.3 * dense
    assert pack_tensor("w", arr, "csr").nbytes < 0.3 * dense


@pytest.mark.torch
def test_sparse_artifact_rebuilds_the_model_in_fewer_bytes(tmp_path: Path) -> None:
    model = zoo_model("cnn", {"channels": [8, 16]}, IMAGE).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p[torch.rand(p.shape, generator=torch.Generator().manual_seed(0)) < 0.8] = 0.0
    path = export_torch(model, IMAGE.input_shape, tmp_path / "m.onnx")
    art = write_sparse_artifact(path, tmp_path / "m.esw")
    assert art.path.stat().st_size == art.bytes
    assert art.bytes < 0.6 * path.stat().st_size
    rebuilt = read_sparse_artifact(art.path)
    onnx.checker.check_model(rebuilt)
    x = np.random.default_rng(0).normal(size=(3, *IMAGE.input_shape)).astype(np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    got = ort.InferenceSession(rebuilt.SerializeToString()).run(None, {"input": x})[0]
    assert np.array_equal(got, want)


def test_reading_a_foreign_file_names_it(tmp_path: Path) -> None:
    from edgeslim._core.errors import ModelError

    bad = tmp_path / "x.esw"
    bad.write_bytes(b"nope")
    with pytest.raises(ModelError, match=r"x\.esw"):
        read_sparse_artifact(bad)
