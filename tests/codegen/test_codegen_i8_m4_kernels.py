"""Cortex-M4 int8 kernels, bit-exact with the integer reference in QEMU and on the host (plain
and SIMD): the 3x3 depthwise conv on a pair plane (es_qdw33_pairs: odd widths, partial blocks,
Relu clamps above -128, a second layer with another requantization shift, stride 2 and double
rounding on the older paths), the global average from a code sum and thresholds (rests zero,
or summed only near a threshold) and the input quantization by VCVTR (ties, huge values, NaN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import helper
from tests.codegen.conftest import needs_cc
from tests.codegen.int8_graphs import _qdq, _weights, to_graph
from tests.codegen.test_codegen_i8_fused import _quant_graph

from edgeslim.api.deploy import compare, export_c, measure_deploy, measure_mcu, reference, run_host
from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.codegen.nn import QOptions, lower
from edgeslim.codegen.nn._qlower import (
    dw33_pack,
    gavg_code,
    gavg_split,
    gavg_terms,
    gavg_thresholds,
)
from edgeslim.ir import Graph
from edgeslim.targets import load_target

needs_qemu = pytest.mark.skipif(
    not mcu_toolchain_available(load_target("cortex-m4")),
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)


def _model(nodes: list, inits: list, shape: tuple[int, ...], name: str) -> Graph:
    return to_graph(nodes, inits, name, shape)


def dw_graph(
    shape: tuple[int, int, int],
    pad: int = 1,
    stride: int = 1,
    stride_h: int | None = None,
    relu: bool = True,
    zy: int = -128,
    second: bool = False,
    seed: int = 0,
) -> Graph:
    """Input -> Q/DQ -> depthwise 3x3 [-> Relu] -> Q/DQ [-> depthwise 3x3 (another output
    scale: another shift) -> Q/DQ] -> GlobalAveragePool -> Q/DQ."""
    rng = np.random.default_rng(seed)
    c = shape[0]
    nodes: list = []
    inits: list = []

    def dw(src: str, sx: float, out: str, **attrs: object) -> str:
        wq, bq = _weights(inits, out, rng.standard_normal((c, 1, 3, 3)), sx)
        for t, s, z in ((wq, "ws", "wz"), (bq, "bs", "bz")):
            nodes.append(
                helper.make_node(
                    "DequantizeLinear", [t, f"{out}_{s}", f"{out}_{z}"], [f"{t}_f"], axis=0
                )
            )
        nodes.append(
            helper.make_node("Conv", [src, f"{wq}_f", f"{bq}_f"], [out], group=c, **attrs)
        )
        return out

    x = _qdq(nodes, inits, "input", "a0", 0.03, 3)
    sh = stride if stride_h is None else stride_h
    d1 = dw(x, 0.03, "d1", pads=[pad] * 4, strides=[sh, stride], kernel_shape=[3, 3])
    if relu:
        nodes.append(helper.make_node("Relu", [d1], ["d1_r"]))
        d1 = "d1_r"
    a = _qdq(nodes, inits, d1, "a1", 0.05, zy)
    sa = 0.05
    if second:
        d2 = dw(a, sa, "d2", pads=[1] * 4, kernel_shape=[3, 3])
        a = _qdq(nodes, inits, d2, "a2", 0.6, 4)
        sa = 0.6
    nodes.append(helper.make_node("GlobalAveragePool", [a], ["gap"]))
    _qdq(nodes, inits, "gap", "output", sa / 3, 1)
    return _model(nodes, inits, shape, "dw")


DW_CASES = {  # name: (input shape, dw_graph kwargs)
    "w16": ((6, 16, 16), {}),  # the fast pair rows, full blocks
    "w12_odd_c": ((5, 9, 12), {"zy": -100}),  # Relu clamp above -128: es_out8
    "w9": ((3, 7, 9), {"second": True}),  # odd width: any-geometry rows, a block of one
    "w12_nopad": ((4, 6, 12), {"pad": 0, "relu": False, "zy": 2}),  # pl 0, a block of two
    "w6_tiny": ((2, 5, 6), {}),  # narrower than the fast rows
    "stride2": ((3, 11, 10), {"stride": 2}),  # the older SIMD path
    "stride2x1": ((3, 9, 8), {"stride_h": 2}),  # pair plane, rows two apart: the C loop
}


def _q(graph: Graph, simd: bool, rounding: str = "single") -> QOptions:
    steps = lower(graph, "auto", QOptions(rounding, simd)).steps
    return QOptions(rounding, simd, tuple((s.node, "im2col") for s in steps if "algo" in s.params))


def _x(shape: tuple[int, ...], n: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * 2.5).astype(np.float32)


def test_dw33_pack_words() -> None:
    w = np.arange(-9, 9, dtype=np.int8).reshape(2, 9)
    words, k = dw33_pack(w, np.array([100, -7]), np.array([4, 5]), 3, -128, True)
    v = words.view(np.uint32).reshape(2, 8)
    assert k == 6  # largest shift + 1
    # channel 0: shift 4 -> j = 1 (weights and bias doubled), s1 = 6
    assert v[0, 0] == (np.uint32((-18) & 0xFFFF) | np.uint32(((-14) & 0xFFFF) << 16))
    assert int(words[8 * 0 + 5]) == 2 * (100 - 3 * int(w[0].astype(np.int64).sum()))
    assert (int(words[6]), int(words[7])) == (6, -255 << 5)
    assert (int(words[8 + 6]), int(words[8 + 7])) == (6, -255 << 5)  # shift 5: j = 0
    # no single-rounding fast path: no scaling, s1 = 0
    words, _ = dw33_pack(w, np.array([100, -7]), np.array([4, 5]), 3, -128, False)
    assert int(words[6]) == 0 and int(words[5]) == 100 - 3 * int(w[0].astype(np.int64).sum())


@needs_cc
@pytest.mark.parametrize("case", list(DW_CASES))
@pytest.mark.parametrize(
    ("simd", "rounding"), [(True, "single"), (False, "single"), (True, "double")]
)
def test_dw33_bit_exact_on_host(tmp_path: Path, case: str, simd: bool, rounding: str) -> None:
    shape, kw = DW_CASES[case]
    graph = dw_graph(shape, **kw)  # type: ignore[arg-type]
    art = export_c(graph, tmp_path / "c", "host", qopts=_q(graph, simd, rounding))
    dws = [s for s in art.program.steps if s.kernel == "qconv"]
    assert dws and all(s.params["depthwise"] for s in dws)
    x = _x(shape, 6)
    got = run_host(art, x, sanitize=True)
    err, ok = compare(got, reference(graph, x, art.program), exact=True)
    assert ok, f"max error {err}"


@pytest.mark.toolchain
@needs_qemu
@pytest.mark.parametrize("case", list(DW_CASES))
def test_dw33_bit_exact_in_qemu_plain_and_simd(tmp_path: Path, case: str) -> None:
    shape, kw = DW_CASES[case]
    graph = dw_graph(shape, **kw)  # type: ignore[arg-type]
    x = _x(shape, 2)
    count = {}
    for simd in (False, True):
        rep = measure_deploy(
            graph, x, "cortex-m4", tmp_path / str(simd), qopts=QOptions("single", simd),
            layout="im2col",
        )  # fmt: skip
        assert rep.exact and rep.max_error == 0.0, simd
        count[simd] = sum(r["instructions"] for r in rep.layers if r["kernel"] == "qconv")
    assert count[True] < count[False]


@pytest.mark.toolchain
@needs_qemu
def test_dw33_double_rounding_in_qemu(tmp_path: Path) -> None:
    """TFLite rounding: the pair plane accumulators through es_out8 (no SMMLA constants)."""
    graph = dw_graph((4, 8, 12), second=True)
    rep = measure_deploy(
        graph, _x((4, 8, 12), 2), "cortex-m4", tmp_path / "d", qopts=_q(graph, True, "double")
    )
    assert rep.exact and rep.max_error == 0.0


def test_two_depthwise_layers_get_their_own_shift() -> None:
    graph = dw_graph((3, 7, 9), second=True)
    steps = lower(graph, "auto", _q(graph, True)).steps
    ks = {s.node: s.params["qk"] for s in steps if s.kernel == "qconv"}
    assert len(set(ks.values())) == 2, ks  # one layer runs the variable-shift SMMLA loop


def gavg_graph(shape: tuple[int, int, int], sx: float, zx: int, sy: float, zy: int) -> Graph:
    nodes: list = []
    inits: list = []
    x = _qdq(nodes, inits, "input", "a0", sx, zx)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    _qdq(nodes, inits, "gap", "output", sy, zy)
    return _model(nodes, inits, shape, "gavg")


def _ties(shape: tuple[int, int, int], sx: float, zx: int, n: int) -> np.ndarray:
    """Inputs whose codes average to k + 1/2 in most channels (half the codes b, half b + 1)."""
    c, h, w = shape
    rng = np.random.default_rng(2)
    base = rng.integers(-120, 110, (n, c, 1))
    codes = base + (np.arange(h * w) % 2)[None, None, :]
    codes[:, ::3] += rng.integers(0, 5, (n, (c + 2) // 3, h * w))  # and some others
    return ((codes - zx) * np.float32(sx)).astype(np.float32).reshape(n, c, h, w)


def _exact_path_taken(graph: Graph, x: np.ndarray) -> bool:
    """Whether some channel of ``x`` needs the rests (their bounds give two codes)."""
    sx, zx = 0.0123456, -3
    terms, exp2 = gavg_terms(sx, zx)
    hw = x.shape[2] * x.shape[3]
    split = gavg_split(terms, hw)
    assert split is not None
    (a, b), r = split
    thr = gavg_thresholds(terms, hw, exp2, sx, zx)
    codes = np.clip(np.rint(x / np.float32(sx)) + zx, -128, 127).astype(np.int64)
    sq = codes.reshape(*x.shape[:2], hw).sum(-1)
    base = a * sq + b * hw
    lo = np.searchsorted(thr, base + int(r.min()) * hw, side="right")
    hi = np.searchsorted(thr, base + int(r.max()) * hw, side="right")
    # the thresholds agree with the codes of the C computation
    k = np.arange(1, 256)
    assert np.all(gavg_code(thr[1:], hw, exp2, sx, zx) >= k - 128)
    assert np.all(gavg_code(thr[1:] - 1, hw, exp2, sx, zx) < k - 128)
    return bool(np.any(lo != hi))


@needs_cc
@pytest.mark.parametrize("simd", [True, False])
def test_gavg_rests_and_ties_on_host(tmp_path: Path, simd: bool) -> None:
    shape = (7, 2, 3)
    graph = gavg_graph(shape, 0.0123456, -3, 0.0123456, -3)  # mean k + 1/2: near thresholds
    x = _ties(shape, 0.0123456, -3, 8)
    assert _exact_path_taken(graph, x)
    art = export_c(graph, tmp_path / "c", "host", qopts=QOptions("single", simd))
    step = next(s for s in art.program.steps if s.kernel == "qgavg")
    assert step.params["split"] and step.params["rest"]
    got = run_host(art, x, sanitize=True)
    err, ok = compare(got, reference(graph, x, art.program), exact=True)
    assert ok, f"max error {err}"
    # a power-of-two scale: terms linear in the code, no rest table
    g2 = gavg_graph((5, 4, 5), 0.25, 2, 0.125, -1)
    art2 = export_c(g2, tmp_path / "c2", "host", qopts=QOptions("single", simd))
    assert not next(s for s in art2.program.steps if s.kernel == "qgavg").params["rest"]
    assert "_rest" not in art2.source.read_text()
    x2 = _x((5, 4, 5), 6) * 20
    got = run_host(art2, x2, sanitize=True)
    err, ok = compare(got, reference(g2, x2, art2.program), exact=True)
    assert ok, f"max error {err}"


@pytest.mark.toolchain
@needs_qemu
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_gavg_and_quantize_bit_exact_in_qemu(tmp_path: Path) -> None:
    shape = (9, 4, 4)  # hw 16: word-aligned channels (the LDRD sums)
    graph = gavg_graph(shape, 0.0123456, -3, 0.0123456, -3)
    x = _ties(shape, 0.0123456, -3, 3)
    assert _exact_path_taken(graph, x)
    for simd in (False, True):
        rep = measure_deploy(
            graph, x, "cortex-m4", tmp_path / f"g{simd}", qopts=QOptions("single", simd)
        )
        assert rep.exact and rep.max_error == 0.0, simd
    for gs in ((3, 5, 7), (4, 6, 9)):  # hw 35: unaligned channels, a tail; 54: 32 + 16 + 6
        g2 = gavg_graph(gs, 0.25, 2, 0.125, -1)
        x2 = _x(gs, 2) * 20
        rep = measure_deploy(
            g2, x2, "cortex-m4", tmp_path / f"g{gs}", qopts=QOptions("single", True)
        )
        assert rep.exact and rep.max_error == 0.0
    g3 = gavg_graph((4, 6, 8), 0.0123456, -3, 0.0123456, -3)  # hw 48, with the rests
    x3 = _ties((4, 6, 8), 0.0123456, -3, 2)
    rep = measure_deploy(g3, x3, "cortex-m4", tmp_path / "g3", qopts=QOptions("single", True))
    assert rep.exact and rep.max_error == 0.0
    # input quantization: exact ties of x / 0.25, huge values (the MCU harness takes finite
    # inputs: NaN from 0 / 0 in the graph)
    qg = _quant_graph()
    halves = (np.arange(-64, 64) + 0.5) * 0.25
    far = np.array([1e7, -1e7, 1e30, -1e30, 2.0**31, -(2.0**31), 3.4e38, -3.4e38] * 16)
    noise = np.random.default_rng(0).standard_normal(256) * 40
    xs = np.stack([np.concatenate([halves, far]), noise]).astype(np.float32).reshape(2, 1, 4, 64)
    rep = measure_deploy(qg, xs, "cortex-m4", tmp_path / "q", qopts=QOptions("single", True))
    assert rep.exact and rep.max_error == 0.0
    # NaN: code zx in C on both paths (the reference leaves it undefined)
    nodes: list = []
    inits: list = []
    nodes.append(helper.make_node("Div", ["input", "input"], ["r"]))
    _qdq(nodes, inits, "r", "output", 0.25, -3)
    ng = _model(nodes, inits, (1, 4, 8), "nan")
    xn = np.random.default_rng(4).standard_normal((2, 1, 4, 8)).astype(np.float32)
    xn[0, 0, 0, :5] = 0.0  # 0 / 0
    host = run_host(export_c(ng, tmp_path / "nh", "host", qopts=QOptions("single", True)), xn)
    assert np.all(host.reshape(2, -1)[0, :5] == 0.0) and np.all(host.reshape(2, -1)[0, 5:] == 1.0)
    art = export_c(ng, tmp_path / "nm", "cortex-m4", qopts=QOptions("single", True))
    assert "quantize" in [s.kernel for s in art.program.steps]
    rep = measure_mcu(art, xn, tmp_path / "nmcu", load_target("cortex-m4"), host)
    assert rep.exact and rep.max_error == 0.0
