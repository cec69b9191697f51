"""Integer GRU/LSTM cells: ``ir.interp`` computes them bit for bit as an independent scalar
reference written from the spec does; the exported model agrees with the float model on
basic-motions (onnxruntime has no integer GRU/LSTM, so the float model on onnxruntime is the
reference); the fixed-point activations are within a few codes of the exact functions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from quant_helpers import run_onnx
from quant_helpers import trained as _trained

from edgeslim import ir
from edgeslim._core.errors import ModelError
from edgeslim.ir import interp
from edgeslim.ir.interp._intrnn import activation
from edgeslim.passes.quantize._intrnn import cell_frac, integer_recurrent
from edgeslim.passes.quantize._model import calibration_inputs, float_onnx

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def recurrent(motions: Any) -> dict[str, onnx.ModelProto]:
    out = {
        kind: float_onnx(_trained(kind, motions, 40, hidden=12), motions)
        for kind in ("gru", "lstm")
    }
    for kind in ("gru", "lstm"):  # stacked and bidirectional (few epochs: only exactness)
        model = _trained(kind, motions, 2, hidden=6, layers=2, bidirectional=True)
        out[f"{kind}-bi2"] = float_onnx(model, motions)
    return out


# -- an independent reference: Python ints, one element at a time, straight from the spec --


def _rs(v: int, n: int) -> int:
    return (v + (1 << (n - 1))) >> n


def _sat(v: int, bits: int) -> int:
    return max(-(1 << (bits - 1)), min((1 << (bits - 1)) - 1, v))


def _act(name: str, x: int) -> int:
    def sample(k: int) -> int:
        v = (k * 256 - 32768) / 4096
        f = 1 / (1 + math.exp(-v)) if name == "sigmoid" else math.tanh(v)
        return _sat(round(f * 32768), 16)

    u = x + 32768
    i, fr = u >> 8, u & 255
    lo, hi = sample(i), sample(i + 1)
    return lo + (((hi - lo) * fr + 128) >> 8)


def _reference(node: Any, c: dict[str, np.ndarray], x: np.ndarray, d: int) -> np.ndarray:
    """Y codes of direction ``d`` of one sample (seq, input) of an IntGRU/IntLSTM node."""
    lstm = node.op.endswith("LSTM")
    zx, bits = int(node.attrs["x_zero_point"]), int(node.attrs["state_bits"])
    cf = int(node.attrs.get("cell_frac", 12))
    w, r = c["W"][d].astype(int).tolist(), c["R"][d].astype(int).tolist()
    b = c["B"][d].astype(int).tolist()
    mx, sx, mh, sh = (c[k][d].astype(int).tolist() for k in ("MX", "SX", "MH", "SH"))
    hid = len(r[0])
    gates = 4 if lstm else 3
    up = 15 - (bits - 1)
    h, cell, ys = [0] * hid, [0] * hid, []
    backward = d == 1 or str(node.attrs.get("direction", "forward")) == "reverse"
    for xt in (x[::-1] if backward else x).astype(int).tolist():
        xc = [v - zx for v in xt]
        gx, gh = [], []
        for row in range(gates * hid):
            ax = sum(a * q for a, q in zip(w[row], xc, strict=True)) + b[row]
            ah = sum(a * q for a, q in zip(r[row], h, strict=True)) + b[gates * hid + row]
            gx.append(_sat(_rs(ax * mx[row], 31 - sx[row]), 16))
            gh.append(_sat(_rs(ah * mh[row], 31 - sh[row]), 16))
        new = []
        for j in range(hid):
            if lstm:
                pre = [_sat(gx[k * hid + j] + gh[k * hid + j], 16) for k in range(4)]
                i_, o_, f_ = (_act("sigmoid", p) for p in pre[:3])
                g_ = _act("tanh", pre[3])
                cell[j] = _sat(_rs(f_ * cell[j], 15) + _rs(i_ * g_, 30 - cf), 16)
                c12 = _sat(cell[j] << (12 - cf), 16)
                v = _rs(o_ * _act("tanh", c12), 15)
            else:
                z = _act("sigmoid", _sat(gx[j] + gh[j], 16))
                rr = _act("sigmoid", _sat(gx[hid + j] + gh[hid + j], 16))
                n = _act("tanh", _sat(gx[2 * hid + j] + _rs(rr * gh[2 * hid + j], 15), 16))
                v = _sat(n + _rs(z * ((h[j] << up) - n), 15), 16)
            new.append(_sat(_rs(v, up) if up else v, bits))
        h = new
        ys.append(list(h))
    return np.asarray(ys[::-1] if backward else ys)


@pytest.mark.parametrize("kind", ["gru", "lstm", "gru-bi2", "lstm-bi2"])
@pytest.mark.parametrize("state_bits", [16, 8])
def test_interpreter_is_bit_exact_with_the_scalar_reference(
    motions: Any, recurrent: dict[str, onnx.ModelProto], kind: str, state_bits: int
) -> None:
    proto, _ = integer_recurrent(
        recurrent[kind], calibration_inputs(motions, 64, 0), state_bits=state_bits
    )
    g = ir.from_onnx(proto)
    ir.verify(g)
    cells = [n for n in g.nodes if n.op.startswith("edgeslim.Int")]
    assert len(cells) == (2 if "bi2" in kind else 1)
    names = ("W", "R", "B", "MX", "SX", "MH", "SH")
    x = np.asarray(motions.x_test[:2], np.float32)
    for node in cells:
        consts = {k: g.initializers[t] for k, t in zip(names, node.inputs[1:], strict=True)}
        codes_in, y = node.inputs[0], node.outputs[0]
        got = interp.run(g, {"input": x}, outputs=[codes_in, y])
        assert got[y].dtype == (np.int16 if state_bits == 16 else np.int8)
        assert got[y].shape[1] == len(consts["W"])  # one slot per direction
        for sample in range(len(x)):
            for d in range(got[y].shape[1]):
                want = _reference(node, consts, got[codes_in][:, sample], d)
                np.testing.assert_array_equal(got[y][:, d, sample], want)
        assert np.abs(got[y]).max() > 0


@pytest.mark.parametrize("kind", ["gru", "lstm"])
@pytest.mark.parametrize(("state_bits", "int8_rest"), [(16, False), (8, True)])
def test_integer_cells_agree_with_the_float_model(
    motions: Any,
    recurrent: dict[str, onnx.ModelProto],
    kind: str,
    state_bits: int,
    int8_rest: bool,
) -> None:
    f = recurrent[kind]
    x_cal = calibration_inputs(motions, 512, 0)
    q, record = integer_recurrent(f, x_cal, state_bits=state_bits, int8_rest=int8_rest)
    ops = [n.op_type for n in q.graph.node]
    assert set(ops) >= {f"Int{kind.upper()}", "QuantizeLinear"}
    assert not {"GRU", "LSTM"} & set(ops)
    gemm_input = next(n for n in q.graph.node if n.op_type == "Gemm").input[0]
    assert gemm_input.endswith("_dq") == int8_rest  # the head reads int8 codes, or floats
    x = np.asarray(motions.x_test, np.float32)
    ours = interp.run(ir.from_onnx(q), {"input": x})["output"]
    ref = run_onnx(f, x)
    assert np.mean(ours.argmax(1) == ref.argmax(1)) >= 0.9
    assert np.abs(ours - ref).mean() < 0.1 * (np.abs(ref).mean() + 1e-6)
    (cell,) = record["cells"].values()
    assert cell["input_range"][0] < 0 < cell["input_range"][1]


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_fixed_point_activations_are_accurate(name: str) -> None:
    x = np.arange(-32768, 32768, dtype=np.int64)
    exact = 1 / (1 + np.exp(-x / 4096)) if name == "sigmoid" else np.tanh(x / 4096)
    err = np.abs(activation(name, x) - exact * 32768)
    assert err.max() <= (4 if name == "sigmoid" else 16)
    assert np.all(np.diff(activation(name, x)) >= 0)  # monotone, like the function


def test_cell_format_covers_the_calibrated_range() -> None:
    assert cell_frac(0.5) == 12 and cell_frac(7.0) == 12
    assert cell_frac(7.5) == 11 and cell_frac(14.4) == 10
    assert 2.0 ** (15 - cell_frac(100.0)) > 100.0


def test_unsupported_cells_are_named(motions: Any, recurrent: dict[str, onnx.ModelProto]) -> None:
    f = onnx.ModelProto()
    f.CopyFrom(recurrent["gru"])
    gru = next(n for n in f.graph.node if n.op_type == "GRU")
    for a in gru.attribute:
        if a.name == "linear_before_reset":
            a.i = 0
    with pytest.raises(ModelError, match="linear_before_reset"):
        integer_recurrent(f, calibration_inputs(motions, 8, 0))
    mlp = float_onnx(_trained("mlp", motions, 1, hidden=(4,)), motions)
    with pytest.raises(ModelError, match="no GRU or LSTM"):
        integer_recurrent(mlp, calibration_inputs(motions, 8, 0))


def test_cli_int_rnn_stores_the_comparison(
    tmp_path: Path, motions: Any, recurrent: dict[str, onnx.ModelProto]
) -> None:
    from typer.testing import CliRunner

    from edgeslim import api
    from edgeslim.cli.quantize import app

    src = tmp_path / "gru.onnx"
    onnx.save(recurrent["gru"], str(src))
    store = tmp_path / "s.db"
    args = ["int-rnn", str(src), "--data", "basic-motions", "--store", str(store)]
    args += ["--out", str(tmp_path / "out"), "--state-bits", "8", "--format", "json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rec = api.open_store(store).get_run("gru-int-rnn8")
    agree = rec.metric("prediction_agreement", "float")
    assert agree is not None and agree.value >= 0.9
    bound = rec.metric("output_deviation_bound", "float")
    worst = rec.metric("output_max_abs_diff", "float")
    assert bound is not None and worst is not None and bound.value >= worst.value
    assert Path(next(a.path for a in rec.artifacts if a.kind == "onnx")).is_file()
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0  # the artifact exists: --force needed
