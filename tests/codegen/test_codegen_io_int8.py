"""``io="int8"``: int8 codes in and out of the generated C (the graph's edge QuantizeLinear and
DequantizeLinear left out), bit-exact with the reference on codes, on the host and in QEMU;
header macros; CLI export and measure; errors on models that do not fit."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tests.codegen.conftest import needs_cc
from tests.codegen.int8_graphs import pattern_graph
from typer.testing import CliRunner

from cli_support import run_cli
from edgeslim import ir
from edgeslim._core.errors import ExportError
from edgeslim.api.deploy import (
    dequantize_outputs,
    export_c,
    measure_deploy,
    quantize_inputs,
    reference,
    run_host,
)
from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.cli.deploy import app
from edgeslim.codegen.nn import QOptions
from edgeslim.codegen.nn._io import int8_io
from edgeslim.ir import Graph, to_onnx
from edgeslim.targets import load_target

IN_SCALE, IN_ZP = 0.03, 3  # a0 of pattern_graph
OUT_SCALE, OUT_ZP = 0.05, 1  # a10


def _x(n: int = 4, seed: int = 3) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, 4, 6, 6)).astype(np.float32)
    x[0, 0, 0, :3] = [100.0, -100.0, 0.045]  # saturation, and a tie (1.5) rounded to even
    return x


def _save(graph: Graph, path: Path) -> Path:
    onnx.save(to_onnx(graph), path)
    return path


def _macros(header: str) -> dict[str, str]:
    return dict(re.findall(r"#define (MODEL_\w+) (\S+)", header))


def test_transform_takes_and_returns_codes() -> None:
    io = int8_io(pattern_graph())
    g = io.graph
    assert g.inputs[0].dtype == "int8" and g.outputs[0].dtype == "int8"
    assert not any(n.name == io.inputs[0].node for n in g.nodes)  # the input's Q is gone
    assert (io.inputs[0].scale, io.inputs[0].zero_point) == (np.float32(IN_SCALE), IN_ZP)
    assert (io.outputs[0].scale, io.outputs[0].zero_point) == (np.float32(OUT_SCALE), OUT_ZP)
    codes = quantize_inputs(pattern_graph(), _x())
    assert codes.dtype == np.int8
    assert codes[0, 0, 0, :3].tolist() == [127, -128, 5]  # 0.045 / 0.03 = 1.5 -> 2, + 3


@needs_cc
@pytest.mark.toolchain
@pytest.mark.parametrize("simd", [False, True])
def test_host_bit_exact_and_same_codes_as_float_io(tmp_path: Path, simd: bool) -> None:
    graph, x = pattern_graph(), _x()
    q = QOptions("single", simd)
    rep = measure_deploy(graph, x, "host", tmp_path / "m", qopts=q, io="int8")
    assert rep.exact and rep.max_error == 0.0 and rep.options["io"] == "int8"
    assert rep.outputs is not None and rep.outputs.dtype == np.int8
    art = export_c(graph, tmp_path / "c", "host", qopts=q, io="int8")
    edges = {art.program.io_inputs[0].node, art.program.io_outputs[0].node}
    assert not edges & {s.node for s in art.program.steps}  # no edge quantize/dequantize
    assert art.program.steps[0].kernel != "quantize"
    codes = run_host(art, quantize_inputs(graph, x), workdir=tmp_path / "h")
    np.testing.assert_array_equal(codes, reference(graph, x, art.program))
    np.testing.assert_array_equal(codes, rep.outputs)
    # the float-I/O library computes the same codes (its output is their dequantization)
    fart = export_c(graph, tmp_path / "f", "host", qopts=q)
    fout = run_host(fart, x, workdir=tmp_path / "fh")
    np.testing.assert_array_equal(dequantize_outputs(art.program, codes), fout)


@needs_cc
@pytest.mark.toolchain
def test_c_compiles_strict_and_header_has_the_qdq_parameters(tmp_path: Path) -> None:
    graph = pattern_graph()
    art = export_c(graph, tmp_path, "cortex-m4", qopts=QOptions("single", True), io="int8")
    cc = shutil.which("cc") or "cc"
    cmd = [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(art.source)]
    subprocess.run([*cmd, "-o", str(tmp_path / "m.o")], check=True)
    header = (tmp_path / "model.h").read_text()
    m = _macros(header)
    assert np.float32(m["MODEL_INPUT_SCALE"].rstrip("f")) == np.float32(IN_SCALE)
    assert np.float32(m["MODEL_OUTPUT_SCALE"].rstrip("f")) == np.float32(OUT_SCALE)
    assert int(m["MODEL_INPUT_ZERO_POINT"].strip("()")) == IN_ZP
    assert int(m["MODEL_OUTPUT_ZERO_POINT"].strip("()")) == OUT_ZP
    assert "typedef int8_t model_input_t;" in header
    assert "typedef int8_t model_output_t;" in header
    assert "MODEL_INPUT_SCALE" in (tmp_path / "README.md").read_text()


def test_float_io_is_unchanged(tmp_path: Path) -> None:
    graph = pattern_graph()
    a = export_c(graph, tmp_path / "a", "cortex-m4")
    export_c(graph, tmp_path / "b", "cortex-m4", io="float")
    for f in ("model.h", "model.c", "README.md"):
        assert (tmp_path / "a" / f).read_text() == (tmp_path / "b" / f).read_text()
    assert "INPUT_SCALE" not in (tmp_path / "a" / "model.h").read_text()
    assert a.program.io == "float"


@pytest.mark.toolchain
@pytest.mark.skipif(
    not mcu_toolchain_available(load_target("cortex-m4")),
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)
def test_qemu_bit_exact_plain_and_simd(tmp_path: Path) -> None:
    graph, x = pattern_graph(), _x(3, 5)
    outs = {}
    for simd in (False, True):
        rep = measure_deploy(
            graph, x, "cortex-m4", tmp_path / str(simd), qopts=QOptions("single", simd), io="int8"
        )
        assert rep.exact and rep.max_error == 0.0
        assert rep.layers[0]["kernel"] == "qconv" and rep.layers[-1]["kernel"] == "qdense"
        outs[simd] = rep.outputs
    np.testing.assert_array_equal(outs[False], outs[True])


# ---- CLI ---------------------------------------------------------------------------------


@needs_cc
@pytest.mark.toolchain
def test_cli_export_and_measure_int8_io(tmp_path: Path) -> None:
    model = _save(pattern_graph(), tmp_path / "q.onnx")
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app, ["export", str(model), "--target", "cortex-m4", "-o", str(out), "--io", "int8"]
    )
    assert r.exit_code == 0, r.output
    assert "MODEL_OUTPUT_ZERO_POINT" in (out / "model.h").read_text()
    assert "int8 codes" in r.output
    x = _x(5, 7)
    np.savez(tmp_path / "t.npz", x_test=x, y_test=np.array([0, 1, 2, 0, 1]))
    argv = ["measure", str(model), "--target", "host", "--data", str(tmp_path / "t.npz")]
    r = CliRunner().invoke(app, [*argv, "--io", "int8", "--no-store", "--format", "json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["exact"] and rep["options"]["io"] == "int8"
    r = CliRunner().invoke(app, [*argv, "--io", "int8", "--no-store"])
    assert r.exit_code == 0, r.output
    acc = re.search(r"^accuracy\[host\]\s+(\S+)", r.output, re.M)
    assert acc is not None and "int8 codes in and out" in r.output
    # the float-I/O library classifies the same samples the same way
    r = CliRunner().invoke(app, [*argv, "--no-store"])
    assert r.exit_code == 0, r.output
    facc = re.search(r"^accuracy\[host\]\s+(\S+)", r.output, re.M)
    assert facc is not None and float(facc.group(1)) == float(acc.group(1))


def _float_model(path: Path) -> Path:
    w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "float",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _two_consumers(path: Path) -> Path:
    """A QDQ graph whose input also feeds a float Relu (not a single QuantizeLinear)."""
    g = to_onnx(pattern_graph())
    relu = helper.make_node("Relu", ["input"], ["side"], name="side_relu")
    g.graph.node.insert(0, relu)
    g.graph.output.append(helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 4, 6, 6]))
    onnx.save(g, path)
    return path


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (_float_model, ["input 'x'", "MatMul 'mm'", "not quantized"]),
        (_two_consumers, ["input 'input'", "Relu 'side_relu'", "QuantizeLinear"]),
        (
            lambda p: _save(pattern_graph(softmax=True), p),
            ["output 'output'", "Softmax", "DequantizeLinear"],
        ),
    ],
)
def test_cli_errors_name_the_tensor_and_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], build: object, words: list[str]
) -> None:
    model = build(tmp_path / "m.onnx")  # type: ignore[operator]
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "export", str(model), "-o", str(out), "--io", "int8")
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith("error: --io int8") and all(w in err for w in words), err
    assert not out.exists() or not any(out.iterdir())
    np.savez(tmp_path / "t.npz", x_test=np.zeros((2, 1), np.float32))
    code, _, err = run_cli(
        capsys, "deploy", "measure", str(model), "--target", "host", "--io", "int8",
        "--data", str(tmp_path / "t.npz"), "--no-store",
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err and all(w in err for w in words), err
    with pytest.raises(ExportError):
        int8_io(ir.load_graph(model))
