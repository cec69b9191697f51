"""Float kernels of the host build: packed weights, the GNU-vector and scalar paths, odd
channel counts and RNN shapes against the reference, the host flags and the timing harness."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from tests.codegen.conftest import needs_cc

from edgeslim.api.deploy import compare, export_c, reference
from edgeslim.backends import host_c
from edgeslim.backends.host_c import HOST_OPT, HostCompiler, compile_executable
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.nn import RenderOptions, lower
from edgeslim.codegen.nn._ops import pack_rows8
from edgeslim.codegen.nn._render import context
from edgeslim.ir import Graph


def test_pack_rows8_interleaves_blocks_of_eight_rows_with_zero_padding() -> None:
    w = np.arange(11 * 3, dtype=np.float32).reshape(11, 3) + 1
    p = pack_rows8(w)
    assert p.shape == (2, 3, 8)
    assert p[0, 2, 5] == w[5, 2] and p[1, 1, 2] == w[10, 1]
    assert not p[1, :, 3:].any()  # rows 11..15 are padding


def test_host_flags_drop_native_flags_the_compiler_rejects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(host_c.shutil, "which", lambda cc: f"/usr/bin/{cc}")
    monkeypatch.setattr(host_c, "_accepts", lambda cc, flag: False)
    assert HostCompiler().flags() == ("-O3", "-ffp-contract=off")
    monkeypatch.setattr(host_c, "_accepts", lambda cc, flag: True)
    assert HostCompiler().flags() == HOST_OPT
    assert "-ffast-math" not in HOST_OPT


def _odd_cnn(folder: Path) -> Graph:
    torch = pytest.importorskip("torch")
    from torch import nn

    from edgeslim.ir import load_graph

    torch.manual_seed(0)
    # groups 1 (oc8: 5 and 11 channels, stride 2, dilation), depthwise, grouped with a channel
    # multiplier and stride 2, grouped with 11 input channels per group (taps)
    body = nn.Sequential(
        nn.Conv2d(3, 5, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(5, 11, (2, 3), dilation=(1, 2), padding=(1, 2)), nn.ReLU6(),
        nn.Conv2d(11, 11, 3, padding=1, groups=11),
        nn.Conv2d(11, 22, 3, stride=2, padding=(2, 1), dilation=(2, 1), groups=11), nn.ReLU(),
        nn.Conv2d(22, 8, 1, groups=2), nn.Flatten(),
    )  # fmt: skip
    n = body(torch.zeros(1, 3, 9, 20)).shape[1]
    model = nn.Sequential(body, nn.Linear(n, 7))
    path = folder / "odd.onnx"
    torch.onnx.export(
        model.eval(), torch.zeros(1, 3, 9, 20), str(path), input_names=["x"],
        output_names=["y"], opset_version=17, dynamo=False,
    )  # fmt: skip
    return load_graph(path)


def _gru(lbr: int, direction: str) -> Graph:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from edgeslim import ir

    rng = np.random.default_rng(0)
    nd, hid, isz, seq = (2 if direction == "bidirectional" else 1), 5, 3, 4
    inits = [
        numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.5, n)
        for n, s in (("W", (nd, 3 * hid, isz)), ("R", (nd, 3 * hid, hid)), ("B", (nd, 6 * hid)))
    ]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node(
            "GRU", ["xt", "W", "R", "B"], ["y", "yh"], hidden_size=hid, direction=direction,
            linear_before_reset=lbr,
        ),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, seq, isz])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [seq, nd, 1, hid])], inits,
    )  # fmt: skip
    return ir.from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def _build(graph: Graph, folder: Path, defines: tuple[str, ...] = ()) -> tuple[Path, object]:
    art = export_c(graph, folder / "c", target="host", force=True)
    w = CWriter()
    ctx = context(art.program, RenderOptions(prefix="model", target="host"))
    w.write([RenderedFile("harness.c", w.render("nn/harness_host.c.j2", ctx))], folder)
    tag = "scalar" if defines else "vector"
    exe = compile_executable(
        [art.source, folder / "harness.c"], folder / tag, include_dirs=[art.out_dir],
        defines=defines,
    )  # fmt: skip
    return exe, art


def _run(exe: Path, x: np.ndarray) -> np.ndarray:
    out = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True).stdout
    return np.frombuffer(out, np.float32).reshape(len(x), -1)


@needs_cc
@pytest.mark.toolchain
@pytest.mark.torch
def test_vector_and_scalar_paths_agree_bit_for_bit_on_odd_shapes(tmp_path: Path) -> None:
    graph = _odd_cnn(tmp_path)
    steps = lower(graph).steps
    assert {s.params.get("loop") for s in steps if s.kernel == "conv2d"} == {"oc8", "taps"}
    x = np.random.default_rng(1).standard_normal((3, 3, 9, 20)).astype(np.float32)
    vec, _ = _build(graph, tmp_path)
    sca, _ = _build(graph, tmp_path, ("ES_NO_VECTOR",))
    got, got_scalar = _run(vec, x), _run(sca, x)
    assert np.array_equal(got, got_scalar)
    err, ok = compare(got, reference(graph, x))
    assert ok, f"relative error {err:.3g}"


@needs_cc
@pytest.mark.toolchain
@pytest.mark.parametrize(("lbr", "direction"), [(0, "bidirectional"), (1, "reverse")])
def test_gru_packed_gates_match_reference(lbr: int, direction: str, tmp_path: Path) -> None:
    graph = _gru(lbr, direction)
    x = np.random.default_rng(2).standard_normal((2, 4, 3)).astype(np.float32)
    exe, _ = _build(graph, tmp_path)
    err, ok = compare(_run(exe, x), reference(graph, x))
    assert ok, f"lbr={lbr} {direction}: relative error {err:.3g}"


@needs_cc
@pytest.mark.toolchain
def test_timing_mode_prints_nanoseconds_per_call(tmp_path: Path) -> None:
    graph = _gru(1, "forward")
    exe, _ = _build(graph, tmp_path)
    x = np.zeros((1, 4, 3), np.float32)
    out = subprocess.run(
        [str(exe), "--time", "3"], input=x.tobytes(), capture_output=True, check=True
    ).stdout
    assert float(out) > 0.0
