"""Verilog generators: bit packing, and Verilator simulation equal to the Python reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeslim.codegen.verilog import pack_fields, unpack_fields

needs_verilator = pytest.mark.skipif(
    shutil.which("verilator") is None or shutil.which("c++") is None,
    reason="verilator not installed (apt install verilator)",
)
needs_synth = pytest.mark.skipif(
    shutil.which("yosys") is None or shutil.which("nextpnr-ice40") is None,
    reason="yosys / nextpnr-ice40 not installed (apt install yosys nextpnr-ice40)",
)


def test_pack_unpack_roundtrip_signed_fields() -> None:
    rng = np.random.default_rng(0)
    for bits in (8, 13, 16, 32):
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1)
        v = rng.integers(lo, hi, size=(5, 7))
        v[0, 0], v[0, 1] = lo, hi - 1
        words = pack_fields(v, bits)
        assert words.shape == (5, (7 * bits + 31) // 32)
        assert np.array_equal(unpack_fields(words, bits, 7), v)


def _small_forest(n_trees: int = 3, depth: int = 3):
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    from edgeslim.trees import from_sklearn

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    rf = RandomForestClassifier(n_estimators=n_trees, max_depth=depth, random_state=0)
    rf.fit(x[::2], y[::2])
    return from_sklearn(rf), x[::2], x[1::2], y[1::2]


def test_tree_verilog_structure_and_reference_matches_float_model() -> None:
    from edgeslim.codegen.verilog import tree_verilog
    from edgeslim.trees import predict_index

    ens, x_train, x_test, _ = _small_forest()
    hw = tree_verilog(ens, x_train, name="rf")
    text = hw.artifact.files[0].text
    assert "module rf (" in text and text.count("<= (f") == hw.artifact.info["n_comparators"]
    sums, cls = hw.reference(hw.encode(x_test))
    # integer sums decide like the float forest (leaf rounding bound is 0 for these leaves
    # or the margin is large); the exactness census proves every split
    assert hw.artifact.info["feature_quantization"]["exact"]
    assert np.mean(hw.predict_index(sums) == predict_index(ens, x_test)) >= 0.98
    assert np.array_equal(cls, np.argmax(sums, axis=1))


@pytest.mark.toolchain
@needs_verilator
def test_tree_verilog_simulation_is_bit_exact(tmp_path: Path) -> None:
    from edgeslim.backends import fpga
    from edgeslim.codegen.verilog import tree_verilog

    ens, x_train, x_test, _ = _small_forest()
    hw = tree_verilog(ens, x_train, name="rf")
    art = hw.artifact
    art.write(tmp_path)
    codes = hw.encode(x_test)
    res = fpga.simulate(
        tmp_path, art.name, art.pack_inputs(codes), (art.out_width + 31) // 32, tmp_path / "sim"
    )
    sums, cls = hw.reference(codes)
    assert np.array_equal(art.unpack_outputs(res.words), sums)
    assert np.array_equal(res.cls, cls)
    assert set(res.latency.tolist()) == {art.info["latency_cycles"]}
    # pipelined: one sample per cycle once full
    assert res.span == len(codes) - 1 + art.info["latency_cycles"]
    with pytest.raises(Exception, match="exists"):
        art.write(tmp_path)


def _tiny_mlp():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 5),
        torch.nn.ReLU(),
        torch.nn.Linear(5, 3),
    )


def test_int8_mlp_reference_tracks_float_and_rejects_other_layers() -> None:
    torch = pytest.importorskip("torch")
    from edgeslim._core.errors import ModelError
    from edgeslim.codegen.verilog.mlp import quantize_mlp

    net = _tiny_mlp()
    x = np.random.default_rng(1).normal(size=(200, 6)).astype(np.float32)
    mlp = quantize_mlp(net, x)
    logits, cls = mlp.reference(mlp.encode(x))
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert logits.dtype == np.int64 and logits.shape == (200, 3)
    assert np.mean(cls == ref.argmax(axis=1)) > 0.9
    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with pytest.raises(ModelError, match="Conv1d"):
        quantize_mlp(conv, x[:, :6].reshape(200, 1, 6))


@pytest.mark.toolchain
@pytest.mark.slow
@needs_verilator
def test_int8_mlp_simulation_is_bit_exact(tmp_path: Path) -> None:
    from edgeslim.backends import fpga
    from edgeslim.codegen.verilog.mlp import mlp_verilog, quantize_mlp

    net = _tiny_mlp()
    x = np.random.default_rng(2).normal(size=(100, 6)).astype(np.float32)
    mlp = quantize_mlp(net, x)
    art = mlp_verilog(mlp, "tiny")
    art.write(tmp_path)
    codes = mlp.encode(x[:12])
    res = fpga.simulate(
        tmp_path, art.name, art.pack_inputs(codes), (art.out_width + 31) // 32, tmp_path / "sim"
    )
    logits, cls = mlp.reference(codes)
    assert np.array_equal(art.unpack_outputs(res.words), logits)
    assert np.array_equal(res.cls, cls)
    assert set(res.latency.tolist()) == {mlp.cycles}


@pytest.mark.toolchain
@needs_synth
def test_synthesis_smoke_tiny_tree_design(tmp_path: Path) -> None:
    from edgeslim.backends import fpga
    from edgeslim.codegen.verilog import tree_verilog

    ens, x_train, _, _ = _small_forest(n_trees=2, depth=2)
    art = tree_verilog(ens, x_train, name="tiny").artifact
    art.write(tmp_path)
    res = fpga.synthesize(tmp_path, art.name, tmp_path / "syn", part="up5k")
    assert res.fits and res.part == "up5k"
    assert res.luts > 0 and res.ffs >= art.in_width  # the serial input register alone
    assert res.fmax_hz is not None and res.fmax_hz > 1e6
    assert res.logic_cells is not None and res.logic_cells <= fpga.ICE40_PARTS["up5k"]["lcs"]
