"""The graph input read in place from the caller's buffer (no copy into the arena) and the
output written in place, where no step writes the input / reads the output; the copy stays
where that is not safe. Host (ASan/UBSan) and QEMU runs, float and int8 models, ``io="int8"``."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tests.codegen.conftest import needs_cc
from tests.codegen.int8_graphs import _qdq, qlinear

from edgeslim import ir
from edgeslim.api.deploy import export_c, measure_deploy, quantize_inputs, reference
from edgeslim.backends.host_c import SharedLibrary, compile_shared
from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.codegen.nn import QOptions, lower
from edgeslim.codegen.nn._lower import _external, _lifetimes
from edgeslim.codegen.nn._program import Program, Step, Value
from edgeslim.codegen.planner import plan_memory
from edgeslim.ir import Graph
from edgeslim.targets import load_target

SHAPE = (1, 4, 8, 8)
needs_qemu = pytest.mark.skipif(
    not mcu_toolchain_available(load_target("cortex-m4")),
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)


def _model(nodes: list, inits: list, outputs: list[tuple[str, tuple[int, ...]]]) -> Graph:
    graph = helper.make_graph(
        nodes,
        "inplace",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in outputs],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return ir.from_onnx(model)


def conv_gemm(qdq: bool = False, relu_first: bool = False) -> Graph:
    """input (1, 4, 8, 8) -> [Relu] -> Conv 3x3 stride 2 + Relu -> Flatten -> Gemm 64 -> 10;
    the input is the largest tensor. ``qdq``: static int8 QDQ (a0 on the input)."""
    rng = np.random.default_rng(7)
    nodes: list = []
    inits: list = []
    w = rng.standard_normal((4, 4, 3, 3)).astype(np.float32) * 0.3
    fc = rng.standard_normal((10, 64)).astype(np.float32) * 0.2

    def linear(op: str, x: str, sx: float, wt: np.ndarray, out: str, **attrs: object) -> str:
        if not qdq:
            inits.append(numpy_helper.from_array(wt, f"{out}_w"))
            inits.append(numpy_helper.from_array(np.full(len(wt), 0.1, np.float32), f"{out}_b"))
            nodes.append(helper.make_node(op, [x, f"{out}_w", f"{out}_b"], [f"{out}_f"], **attrs))
            return f"{out}_f"
        return qlinear(nodes, inits, op, x, sx, wt, out, **attrs)

    x = _qdq(nodes, inits, "input", "a0", 0.03, 3) if qdq else "input"
    if relu_first:
        nodes.append(helper.make_node("Relu", [x], ["r0"]))
        x = _qdq(nodes, inits, "r0", "r0q", 0.03, -128) if qdq else "r0"
    c = linear("Conv", x, 0.03, w, "conv", pads=[1, 1, 1, 1], strides=[2, 2])
    nodes.append(helper.make_node("Relu", [c], ["conv_r"]))
    a1 = _qdq(nodes, inits, "conv_r", "a1", 0.05, -128) if qdq else "conv_r"
    nodes.append(helper.make_node("Flatten", [a1], ["fl"], axis=1))
    y = linear("Gemm", "fl", 0.05, fc, "fc", transB=1)
    if qdq:
        y = _qdq(nodes, inits, y, "a2", 0.06, 2)
    nodes.append(helper.make_node("Identity", [y], ["output"]))
    return _model(nodes, inits, [("output", (1, 10))])


def _x(n: int = 3, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *SHAPE[1:])).astype(np.float32)


def _copy_arena(p: Program) -> int:
    """The arena of the same program with its input and output copied (every buffer planned)."""
    bufs = _lifetimes(list(p.steps), dict(p.values), list(p.inputs), list(p.outputs))
    return plan_memory(bufs, "auto").arena_bytes


def _run_keeps_input(art, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Outputs of model_run through ctypes; asserts the caller's input is unchanged."""
    p = art.program
    out_v = p.value(p.outputs[0])
    so = compile_shared([art.source], art.out_dir / "m.so", include_dirs=[art.out_dir])
    arena = (ctypes.c_float * (p.arena_bytes // 4 + 4))()
    ctx = ctypes.create_string_buffer(32)
    outs = []
    with SharedLibrary(so) as lib:
        init = lib.function("model_init", ctypes.c_int, [ctypes.c_void_p] * 2 + [ctypes.c_size_t])
        run = lib.function("model_run", ctypes.c_int, [ctypes.c_void_p] * 3)
        assert init(ctx, arena, ctypes.sizeof(arena)) == 0
        for row in x:
            xi = np.ascontiguousarray(row.reshape(-1))
            keep = xi.copy()
            out = np.zeros(out_v.size, out_v.dtype)
            assert run(ctx, xi.ctypes.data, out.ctypes.data) == 0
            np.testing.assert_array_equal(xi, keep)
            outs.append(out)
    return np.stack(outs)


# ---- in place ------------------------------------------------------------------------------


@needs_cc
@pytest.mark.toolchain
@pytest.mark.parametrize(
    ("qdq", "io"), [(False, "float"), (True, "float"), (True, "int8")], ids=["f32", "i8", "io8"]
)
def test_input_read_in_place_on_host(tmp_path: Path, qdq: bool, io: str) -> None:
    graph, x = conv_gemm(qdq), _x()
    q = QOptions("single", True)
    rep = measure_deploy(graph, x, "host", tmp_path / "m", qopts=q, io=io)  # ASan/UBSan
    assert rep.exact
    art = export_c(graph, tmp_path / "c", "host", qopts=q, io=io)
    p = art.program
    vin = p.value(p.inputs[0])
    assert p.external == {vin.buffer: "input", p.value(p.outputs[0]).buffer: "output"}
    nbytes = vin.size * np.dtype(vin.dtype).itemsize
    assert p.external_bytes("input") == nbytes and vin.buffer not in p.plan.offsets
    src = art.source.read_text()
    run = src[src.index("model_status model_run(") :]
    assert "memcpy" not in run and "es_in = (unsigned char *)(uintptr_t)input;" in run
    if not qdq:  # the peak is at the conv, input + its output: the arena loses the input
        assert _copy_arena(p) - p.arena_bytes == nbytes
    else:  # int8: without the input the peak moves to a later step (im2col scratch)
        assert 0 < _copy_arena(p) - p.arena_bytes <= nbytes
    header = (art.out_dir / "model.h").read_text()
    assert f"#define MODEL_ARENA_BYTES {p.arena_bytes}u" in header
    xin = quantize_inputs(graph, x) if io == "int8" else x
    got = _run_keeps_input(art, xin)
    ref = reference(graph, xin if io == "int8" else x, p)
    if p.exact or io == "int8":
        np.testing.assert_array_equal(got, ref.reshape(got.shape))
    else:
        np.testing.assert_allclose(got, ref.reshape(got.shape), rtol=1e-5, atol=1e-5)


@pytest.mark.toolchain
@needs_qemu
@pytest.mark.parametrize(
    ("qdq", "io"), [(False, "float"), (True, "float"), (True, "int8")], ids=["f32", "i8", "io8"]
)
def test_input_read_in_place_in_qemu(tmp_path: Path, qdq: bool, io: str) -> None:
    graph, x = conv_gemm(qdq), _x(2, 4)
    outs = {}
    for simd in (False, True) if qdq else (False,):
        rep = measure_deploy(
            graph, x, "cortex-m4", tmp_path / str(simd), qopts=QOptions("single", simd), io=io
        )
        assert rep.exact
        outs[simd] = rep.outputs
    if qdq:
        np.testing.assert_array_equal(outs[False], outs[True])


# ---- kept in the arena ---------------------------------------------------------------------


@needs_cc
@pytest.mark.toolchain
@pytest.mark.parametrize(("qdq", "io"), [(False, "float"), (True, "int8")], ids=["f32", "io8"])
def test_in_place_first_op_gets_its_own_buffer(tmp_path: Path, qdq: bool, io: str) -> None:
    """A Relu (float clip; int8 LUT) on the input would share the input's buffer in the arena:
    read in place, the Relu writes a buffer of its own; the caller's input stays unchanged."""
    graph, x = conv_gemm(qdq, relu_first=True), _x()
    q = QOptions("single", True)
    art = export_c(graph, tmp_path / "c", "host", qopts=q, io=io)
    p = art.program
    first = p.steps[0]
    assert first.inplace and first.inputs[0] == p.inputs[0]
    vin = p.value(p.inputs[0])
    assert p.external.get(vin.buffer) == "input"
    assert p.value(first.outputs[0]).buffer in p.plan.offsets
    assert p.arena_bytes <= _copy_arena(p)
    xin = quantize_inputs(graph, x) if io == "int8" else x
    got = _run_keeps_input(art, xin)
    ref = reference(graph, xin if io == "int8" else x, p).reshape(got.shape)
    if io == "int8":
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    rep = measure_deploy(graph, x, "host", tmp_path / "m", qopts=q, io=io)  # ASan/UBSan
    assert rep.exact


def _input_is_output() -> Graph:
    """output 0 = Flatten(input) (a view of the input), output 1 = Relu(input)."""
    nodes = [
        helper.make_node("Flatten", ["input"], ["output"], axis=1),
        helper.make_node("Relu", ["input"], ["side"]),
    ]
    n = int(np.prod(SHAPE))
    return _model(nodes, [], [("output", (1, n)), ("side", SHAPE)])


@needs_cc
@pytest.mark.toolchain
def test_input_that_is_an_output_is_copied(tmp_path: Path) -> None:
    graph, x = _input_is_output(), _x()
    art = export_c(graph, tmp_path / "c", "host")
    p = art.program
    assert not p.external and p.value(p.inputs[0]).buffer in p.plan.offsets
    src = art.source.read_text()
    assert "memcpy(((float *)(void *)(es_a + " in src and "es_in" not in src
    got = _run_keeps_input(art, x)
    np.testing.assert_array_equal(got, x.reshape(len(x), -1))
    rep = measure_deploy(graph, x, "host", tmp_path / "m")
    assert rep.exact


# ---- the rule, on hand-made programs -------------------------------------------------------


def _v(name: str, buffer: str | None = None, n: int = 4) -> Value:
    return Value(name, "float32", (n,), buffer or name)


def _s(ins: tuple[str, ...], outs: tuple[str, ...]) -> Step:
    return Step("n", "Op", "clip", ins, outs)


def test_rule_input_written_through_a_view_is_copied() -> None:
    values = {"x": _v("x"), "xv": _v("xv", "x"), "y": _v("y")}
    steps = [_s(("x",), ("y",)), _s(("y",), ("xv",))]  # a later step writes the input buffer
    assert "x" not in _external(steps, values, ["x"], ["y"])
    assert _external(steps[:1], values, ["x"], ["y"]) == {"x": "input", "y": "output"}


def test_rule_output_read_or_written_twice_stays_in_the_arena() -> None:
    values = {"x": _v("x"), "y": _v("y"), "z": _v("z"), "yv": _v("yv", "y")}
    read = [_s(("x",), ("y",)), _s(("y",), ("z",))]
    assert _external(read, values, ["x"], ["y"]) == {"x": "input"}
    twice = [_s(("x",), ("y",)), _s(("x",), ("yv",))]
    assert _external(twice, values, ["x"], ["y"]) == {"x": "input"}
    part = {**values, "y": _v("y", n=2), "yv": _v("yv", "y", n=4)}  # output is a part of it
    assert _external(read[:1], part, ["x"], ["y"]) == {"x": "input"}


def test_arena_plan_leaves_out_external_buffers() -> None:
    p = lower(conv_gemm())
    assert set(p.external) == {p.inputs[0], p.value(p.outputs[0]).buffer}
    assert not set(p.external) & set(p.plan.offsets)
    assert set(p.buffer_bytes) == set(p.plan.offsets) | set(p.external)
