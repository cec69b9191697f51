"""TFLite models to C: the QDQ rewrite, generated C bit-exact with the TFLM-exact interpreter
over a stream of calls (state carried), and the CLI (import, export, measure on cortex-m4)."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tflite", reason="needs the tflite package (pip install tflite)")
pmw = pytest.importorskip("pymicro_wakeword", reason="needs pymicro-wakeword (its .tflite models)")

from tflite_build_fixture import Op, T, build  # noqa: E402

from cli_support import run_cli  # noqa: E402
from edgeslim import ir  # noqa: E402
from edgeslim._core.errors import ModelError  # noqa: E402
from edgeslim.codegen.nn import QOptions  # noqa: E402
from edgeslim.codegen.nn._lower import lower  # noqa: E402
from edgeslim.codegen.nn._qlower import INT8_KERNELS  # noqa: E402
from edgeslim.ir._stream import state_vars  # noqa: E402
from edgeslim.ir._tflite_fixed import quantize_multiplier  # noqa: E402
from edgeslim.ir._tflite_qdq import (  # noqa: E402
    _fc_scales,
    packed_inputs,
    packed_layout,
    packed_outputs,
    to_qdq,
)

MODELS = sorted(glob.glob(os.path.join(os.path.dirname(pmw.__file__), "models", "*.tflite")))
DOUBLE = QOptions(rounding="double")
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no host C compiler")


def _frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(n, 120)).astype(np.int8)


def test_fc_multiplier_is_matched_exactly() -> None:
    g = ir.import_model(MODELS[0])
    n = next(n for n in g.nodes if n.op == "tflite.FullyConnected")
    sx, sy = float(n.attrs["x_scale"]), float(n.attrs["y_scale"])
    ws = np.asarray(n.attrs["w_scale"], np.float32)
    tfl = quantize_multiplier(float(np.float32(sx) * ws[0]) / float(np.float32(sy)))
    naive = quantize_multiplier(float(np.float32(sx)) * float(ws[0]) / float(np.float32(sy)))
    assert tfl != naive  # the reason the rewrite adjusts the scales
    ws2, sy2 = _fc_scales(n, sx, ws, sy)
    assert quantize_multiplier(float(np.float32(sx)) * float(ws2[0]) / float(sy2)) == tfl


@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).stem)
def test_qdq_rewrite_lowers_to_int8_kernels_only(path: str) -> None:
    g = ir.import_model(path)
    q = to_qdq(g, pack_state=True)
    ir.verify(q)
    prog = lower(q, "auto", DOUBLE)
    kernels = {s.kernel for s in prog.steps}
    assert kernels <= INT8_KERNELS, kernels - INT8_KERNELS
    assert {"qconv", "qdense", "qlut"} <= kernels
    lay = packed_layout(g)
    assert prog.value(prog.inputs[0]).size == lay["in"]
    assert prog.value(prog.outputs[0]).size == lay["out"]


@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).stem)
def test_integer_reference_of_the_rewrite_equals_the_stream(path: str) -> None:
    from edgeslim.passes.quantize._integer import run_integer

    g = ir.import_model(path)
    q = to_qdq(g, pack_state=True)
    frames = _frames(6, seed=1)
    x = packed_inputs(g, frames)
    want = packed_outputs(g, frames)
    for i in range(len(x)):
        got = run_integer(q, x[i : i + 1], rounding="double")["packed_out"]
        assert np.array_equal(np.asarray(got).reshape(-1), want[i])


@pytest.mark.toolchain
@needs_cc
@pytest.mark.parametrize("path", MODELS, ids=lambda p: Path(p).stem)
def test_generated_c_is_bit_exact_over_a_stream(path: str, tmp_path: Path) -> None:
    from edgeslim.api.deploy import export_c, run_host

    g = ir.import_model(path)
    art = export_c(to_qdq(g, pack_state=True), tmp_path / "c", "host", qopts=DOUBLE)
    frames = _frames(25, seed=2)
    got = run_host(art, packed_inputs(g, frames), workdir=tmp_path / "h")
    want = packed_outputs(g, frames)
    assert np.array_equal(got, want)
    assert len({r[1:].tobytes() for r in want}) == len(want)  # the state moves every call


def test_float_graph_has_no_int8_c_pattern() -> None:
    m = build(
        [T("x", "float32", (1, 4)), T("w", "float32", (3, 4), np.ones((3, 4), np.float32)),
         T("y", "float32", (1, 3))],
        [Op("FULLY_CONNECTED", (0, 1, -1), (2,), ("FullyConnectedOptions", {}))], [0], [2],
    )  # fmt: skip
    with pytest.raises(ModelError, match="FULLY_CONNECTED_0"):
        to_qdq(ir.load_tflite(m))


def test_packed_inputs_rejects_wrong_frames() -> None:
    g = ir.import_model(MODELS[0])
    with pytest.raises(ModelError, match=r"\(n, 120\)"):
        packed_inputs(g, np.zeros((2, 7), np.int8))


_cli = run_cli


def test_cli_import_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx_path = tmp_path / "m.onnx"
    code, out, err = _cli(capsys, "import", MODELS[0], "-o", str(onnx_path))
    assert code == 0, err
    assert "tflite.Conv2D" in out and onnx_path.is_file()
    back = ir.load_graph(onnx_path)
    assert len(state_vars(back)) == 6
    code, out, err = _cli(
        capsys, "export", MODELS[0], "--target", "cortex-m4", "-o", str(tmp_path / "c")
    )
    assert code == 0, err
    assert (tmp_path / "c" / "model.c").is_file() and "double rounding" in out


def test_cli_unsupported_op_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = build(
        [T("x", "float32", (1, 4)), T("y", "float32", (1, 4))], [Op("TANH", (0,), (1,))], [0], [1]
    )
    p = tmp_path / "tanh.tflite"
    p.write_bytes(m)
    code, _, err = _cli(capsys, "import", str(p), "-o", str(tmp_path / "o.onnx"))
    assert code == 2 and "TANH (operator 0)" in err and "Traceback" not in err


@pytest.mark.toolchain
@pytest.mark.slow
def test_cli_measure_on_cortex_m4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgeslim.backends.qemu import mcu_toolchain_available
    from edgeslim.targets import load_target

    if not mcu_toolchain_available(load_target("cortex-m4")):
        pytest.skip("arm-none-eabi-gcc or qemu-system-arm missing")
    data = tmp_path / "frames.npz"
    np.savez(data, x=_frames(3, seed=4))
    code, out, err = _cli(
        capsys, "deploy", "measure", MODELS[0], "--target", "cortex-m4", "--data", str(data),
        "--store", str(tmp_path / "s.db"), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    import json

    rep = json.loads(out)
    assert rep["exact"] and rep["max_error"] == 0.0
    assert rep["options"]["rounding"] == "double"
    assert sum(layer["instructions"] for layer in rep["layers"]) > 0
    assert rep["run_id"] >= 1


def test_unpacked_rewrite_keeps_state_as_nchw_inputs_and_outputs() -> None:
    g = ir.import_model(MODELS[0])
    q = to_qdq(g)
    ir.verify(q)
    assert [t.name for t in q.inputs] == [t.name for t in g.inputs]
    assert [t.name for t in q.outputs] == [t.name for t in g.outputs]
    for v in state_vars(g):
        n, h, w, c = v.input.shape
        assert q.tensors[v.input.name].shape == (n, c, h, w)
        init = np.asarray(g.initializers[v.init])
        assert np.array_equal(q.initializers[v.init], init.transpose(0, 3, 1, 2))


def test_cli_measure_without_target_says_use_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "xy.npz"
    rng = np.random.default_rng(0)
    np.savez(data, X=rng.integers(-128, 128, (8, 3, 40)).astype(np.float32), y=np.arange(8) % 2)
    code, _, err = _cli(
        capsys, "measure", MODELS[0], "--data", str(data), "--store", str(tmp_path / "s.db")
    )
    assert code == 2 and "--target" in err and "Traceback" not in err
