"""int8 speed paths of the C generator, bit-exact with the integer reference: Conv(+Relu)+MaxPool
fused into one kernel, the split global average pool, the fast input quantization (round half
to even via the float trick) and the slow requantization path (multipliers >= 1/8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from tests.codegen.conftest import needs_cc
from tests.codegen.int8_graphs import _qdq, _weights, to_graph

from edgeslim import ir
from edgeslim.api.deploy import compare, export_c, reference, run_host
from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.codegen.nn import QOptions, lower
from edgeslim.codegen.nn._qlower import gavg_split, gavg_terms
from edgeslim.ir import Graph, interp
from edgeslim.targets import load_target


def conv_pool_graph(
    shape: tuple[int, int, int],
    cout: int,
    k: int = 3,
    stride: int = 1,
    pad: int = 1,
    pool: int = 2,
    pool_stride: int | None = None,
    pool_pad: int = 0,
    relu: bool = True,
    sy: float = 0.05,
    seed: int = 0,
) -> Graph:
    """Input -> Q/DQ -> Conv [-> Relu] -> Q/DQ [-> MaxPool -> Q/DQ] -> Conv 1x1 -> Q/DQ."""
    rng = np.random.default_rng(seed)
    nodes: list = []
    inits: list = []
    cin = shape[0]
    x = _qdq(nodes, inits, "input", "a0", 0.03, 3)

    def conv(src: str, sx: float, w: np.ndarray, out: str, **attrs: object) -> str:
        wq, bq = _weights(inits, out, w, sx)
        for t, s, z in ((wq, "ws", "wz"), (bq, "bs", "bz")):
            nodes.append(
                helper.make_node(
                    "DequantizeLinear", [t, f"{out}_{s}", f"{out}_{z}"], [f"{t}_f"], axis=0
                )
            )
        nodes.append(helper.make_node("Conv", [src, f"{wq}_f", f"{bq}_f"], [out], **attrs))
        return out

    c1 = conv(
        x,
        0.03,
        rng.standard_normal((cout, cin, k, k)) * 0.4,
        "c1",
        pads=[pad] * 4,
        strides=[stride, stride],
    )
    if relu:
        nodes.append(helper.make_node("Relu", [c1], ["c1_r"]))
        c1 = "c1_r"
    a1 = _qdq(nodes, inits, c1, "a1", sy, -128 if relu else 2)
    a2 = a1
    if pool:  # pool=0: no MaxPool
        ps = pool_stride or pool
        nodes.append(
            helper.make_node(
                "MaxPool",
                [a1],
                ["mp"],
                kernel_shape=[pool, pool],
                strides=[ps, ps],
                pads=[pool_pad] * 4,
            )
        )
        a2 = _qdq(nodes, inits, "mp", "a2", sy, -128 if relu else 2)
    c2 = conv(a2, sy, rng.standard_normal((3, cout, 1, 1)), "c2")
    _qdq(nodes, inits, c2, "output", 0.1, 0)
    return to_graph(nodes, inits, "convpool", shape)


def _q(graph: Graph, simd: bool, rounding: str, algo: str) -> QOptions:
    steps = lower(graph, "auto", QOptions(rounding, simd)).steps
    algos = tuple((s.node, algo) for s in steps if "algo" in s.params)
    return QOptions(rounding, simd, algos)


def _x(shape: tuple[int, ...], n: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * 1.5).astype(np.float32)


CASES = {  # name: (input shape, cout, conv kwargs)
    "even": ((4, 8, 8), 8, {}),
    "odd": ((3, 7, 9), 5, {"k": 3, "stride": 1, "pad": 1}),  # 7x9 -> pooled 3x4 (edges left)
    "strided": ((5, 11, 10), 6, {"k": 3, "stride": 2, "pad": 1, "pool": 3}),
    "nopad_k2": ((2, 9, 9), 7, {"k": 2, "pad": 0, "relu": False}),
    "big_multiplier": ((4, 6, 6), 4, {"sy": 0.0004}),  # requant multiplier >= 1/8: slow path
    # a first conv of one channel, no pool: the short-dot kernel over 3 batches of columns
    "cin1_nopool": ((1, 12, 11), 6, {"pool": 0}),
}


def test_conv_relu_maxpool_lowers_to_one_fused_step() -> None:
    graph = conv_pool_graph((4, 8, 8), 8)
    steps = lower(graph, "auto", _q(graph, True, "single", "im2col2")).steps
    kernels = [s.kernel for s in steps]
    assert "pool2d_i8" not in kernels
    conv = next(s for s in steps if s.kernel == "qconv")
    assert (conv.params["pkh"], conv.params["pkw"]) == (2, 2)
    assert (conv.params["poh"], conv.params["pow"]) == (4, 4)
    # direct keeps the separate pool; a padded or overlapping pool is not fused
    direct = lower(graph, "auto", _q(graph, False, "single", "direct")).steps
    assert "pool2d_i8" in [s.kernel for s in direct]
    for kw in ({"pool_pad": 1}, {"pool": 3, "pool_stride": 2}):
        g = conv_pool_graph((4, 8, 8), 8, **kw)  # type: ignore[arg-type]
        steps = lower(g, "auto", _q(g, True, "single", "im2col")).steps
        assert "pool2d_i8" in [s.kernel for s in steps], kw


@needs_cc
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    ("simd", "rounding", "algo"),
    [
        (True, "single", "im2col"),
        (True, "single", "im2col2"),
        (False, "single", "im2col"),
        (False, "double", "im2col2"),
        (True, "double", "im2col"),
    ],
)
def test_fused_conv_pool_bit_exact_on_host(
    tmp_path: Path, case: str, simd: bool, rounding: str, algo: str
) -> None:
    shape, cout, kw = CASES[case]
    graph = conv_pool_graph(shape, cout, **kw)  # type: ignore[arg-type]
    q = _q(graph, simd, rounding, algo)
    art = export_c(graph, tmp_path / "c", "host", qopts=q)
    assert "pool2d_i8" not in [s.kernel for s in art.program.steps]
    if simd and algo == "im2col2":  # the 1x1 conv after the pool: a short dot (kdim <= 16)
        assert any(s.params.get("small") for s in art.program.steps)
    x = _x(shape, 24)
    got = run_host(art, x, sanitize=True)
    err, ok = compare(got, reference(graph, x, art.program), exact=True)
    assert ok, f"max error {err}"
    if rounding == "single":
        want = np.concatenate(
            [interp.run(graph, {"input": x[i : i + 1]})["output"] for i in range(len(x))]
        )
        np.testing.assert_array_equal(got.reshape(want.shape), want)


def test_gavg_split_reproduces_the_int64_terms() -> None:
    q = np.arange(-128, 128, dtype=np.int64)
    for scale, zp in ((0.0123456, -128), (0.04, 3), (1e-5, 0), (3.7, 127)):
        terms, _ = gavg_terms(scale, zp)
        split = gavg_split(terms, 4096)
        assert split is not None
        (a, b), r = split
        np.testing.assert_array_equal(a * q + b + r.astype(np.int64), terms)
    terms = np.zeros(256, np.int64)
    terms[::2] = 2**38  # no line fits: the int64 kernel stays
    assert gavg_split(terms, 64) is None


def _quant_graph() -> Graph:
    nodes: list = []
    inits: list = []
    a = _qdq(nodes, inits, "input", "a0", 0.25, -3)
    nodes.append(helper.make_node("MaxPool", [a], ["mp"], kernel_shape=[1, 2], strides=[1, 2]))
    _qdq(nodes, inits, "mp", "output", 0.25, -3)
    graph = helper.make_graph(
        nodes,
        "quant",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 4, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ir.from_onnx(model)


@needs_cc
def test_input_quantization_rounds_half_to_even_and_saturates(tmp_path: Path) -> None:
    graph = _quant_graph()
    art = export_c(graph, tmp_path / "c", "host", qopts=QOptions("single", True))
    assert "quantize" in [s.kernel for s in art.program.steps]
    halves = (np.arange(-64, 64) + 0.5) * 0.25  # exact ties of x / 0.25
    far = np.array([1e7, -1e7, 1e30, -1e30, 2.0**20, -(2.0**20), 1e6, -1e6] * 16)
    noise = np.random.default_rng(0).standard_normal(256) * 40
    xs = np.stack([np.concatenate([halves, far]), noise]).astype(np.float32)
    xs = xs.reshape(2, 1, 4, 64)
    got = run_host(art, xs, sanitize=True)
    want = np.concatenate(
        [interp.run(graph, {"input": xs[i : i + 1]})["output"] for i in range(len(xs))]
    )
    np.testing.assert_array_equal(got.reshape(want.shape), want)


@pytest.mark.toolchain
@pytest.mark.skipif(
    not mcu_toolchain_available(load_target("cortex-m4")),
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)
def test_fused_conv_pool_and_short_dot_bit_exact_in_qemu(tmp_path: Path) -> None:
    from edgeslim.api.deploy import measure_deploy

    graph = conv_pool_graph((3, 7, 9), 6)
    x = _x((3, 7, 9), 2)
    for simd, algo in ((True, "im2col2"), (True, "im2col"), (False, "im2col")):
        rep = measure_deploy(
            graph, x, "cortex-m4", tmp_path / f"{simd}{algo}", qopts=QOptions("single", simd),
            layout=algo,
        )  # fmt: skip
        assert rep.exact and rep.max_error == 0.0, (simd, algo)
        assert "pool2d_i8" not in [layer["kernel"] for layer in rep.layers]
    first = conv_pool_graph((1, 12, 11), 6, pool=0)  # the short-dot kernel, 3 column batches
    rep = measure_deploy(
        first, _x((1, 12, 11), 2), "cortex-m4", tmp_path / "first",
        qopts=QOptions("single", True), layout="im2col2",
    )  # fmt: skip
    assert rep.exact and rep.max_error == 0.0
