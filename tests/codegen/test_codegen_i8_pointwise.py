"""The SIMD kernels with the dot and the requantization in one asm loop, single rounding:
es_qconv_pw (1x1 convolutions without padding) and es_qconv_rq (im2col2, with or without a
fused max pool). Bit-exact with the integer reference and with the plain kernels on odd
shapes: odd input channels, output channels not a multiple of 4, a stride, a Relu clamp
above -128, per-channel and shared shifts, dots of one, two and three 16-pair passes plus
an odd remainder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import helper
from tests.codegen.conftest import needs_cc
from tests.codegen.int8_graphs import _qdq, _weights, to_graph

from edgeslim.api.deploy import compare, export_c, reference, run_host
from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.codegen.nn import QOptions, lower
from edgeslim.codegen.nn._qlower import pw_params
from edgeslim.ir import Graph
from edgeslim.targets import load_target

# (cout, stride, Relu output zero point or None, per-row weight scales spread over > 2x)
LAYERS = (
    (7, 1, 3, True),  # cin 5 (odd), 3 tail channels, clamp at 3, per-channel shifts
    (133, 2, None, False),  # cin 7, strided, one shared shift, 1 tail channel
    (10, 1, -128, True),  # cin 133: 67 pairs (2 passes of 32 + 3), Relu without a clamp
    (4, 1, -5, False),  # cin 10, clamp at -5, shared shift, no tail
)
SHAPE = (5, 9, 7)
# (cout, stride, zy, spread, kernel, 2x2 max pool) of 3x3 convolutions (pad 1) for es_qconv_rq
RQ_LAYERS = (
    (6, 1, 3, True, 3, True),  # cin 9: 41 pairs (2 passes + 9), clamp, pooled, 2 tail channels
    (11, 1, None, False, 3, False),  # cin 6: 27 pairs (1 pass + 11), shared shift, 3 tail
    (8, 1, -128, True, 3, True),  # cin 11: 50 pairs (3 passes + 2), pooled
)
RQ_SHAPE = (9, 8, 9)
# 1x1 convolutions as im2col2: es_qconv_small<k2> (the asm loop for k2 <= 5 without a clamp)
SMALL_LAYERS = ((4, 1, None, True), (7, 1, None, False), (5, 1, -128, True), (3, 1, 3, False))
SMALL_SHAPE = (1, 9, 7)


def pw_graph(shape: tuple[int, int, int] = SHAPE, layers: tuple = LAYERS, seed: int = 0) -> Graph:
    """Input -> Q/DQ -> (Conv [-> Relu] -> Q/DQ [-> MaxPool -> Q/DQ]) per layer; a layer is
    (cout, stride, Relu zero point or None, spread shifts[, kernel, pool])."""
    rng = np.random.default_rng(seed)
    nodes: list = []
    inits: list = []
    src, sx, cin = _qdq(nodes, inits, "input", "a0", 0.03, 3), 0.03, shape[0]
    for i, (cout, stride, zy, spread, *more) in enumerate(layers):
        k, pool = more if more else (1, False)
        w = rng.standard_normal((cout, cin, k, k))
        w /= np.abs(w).reshape(cout, -1).max(1).reshape(-1, 1, 1, 1)  # one scale per row
        if spread:
            w *= (1.45 ** np.arange(cout)).reshape(-1, 1, 1, 1)
        w *= 0.5
        out = f"c{i}"
        wq, bq = _weights(inits, out, w, sx)
        for t, s, z in ((wq, "ws", "wz"), (bq, "bs", "bz")):
            nodes.append(
                helper.make_node(
                    "DequantizeLinear", [t, f"{out}_{s}", f"{out}_{z}"], [f"{t}_f"], axis=0
                )
            )
        nodes.append(
            helper.make_node(
                "Conv", [src, f"{wq}_f", f"{bq}_f"], [out], strides=[stride] * 2, pads=[k // 2] * 4
            )
        )
        if zy is not None:
            nodes.append(helper.make_node("Relu", [out], [f"{out}_r"]))
            out = f"{out}_r"
        sy = 0.02 * (i + 1)
        name = "output" if i == len(layers) - 1 else f"a{i + 1}"
        zp = 2 if zy is None else zy
        if pool:
            a = _qdq(nodes, inits, out, f"p{i}", sy, zp)
            nodes.append(
                helper.make_node("MaxPool", [a], [f"mp{i}"], kernel_shape=[2, 2], strides=[2, 2])
            )
            out = f"mp{i}"
        src = _qdq(nodes, inits, out, name, sy, zp)
        sx, cin = sy, cout
    return to_graph(nodes, inits, "pw", shape)


def _x(n: int, seed: int = 1, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * 1.5).astype(np.float32)


def _q(graph: Graph, simd: bool, rounding: str, algo: str = "im2col") -> QOptions:
    steps = lower(graph, "auto", QOptions(rounding, simd)).steps
    return QOptions(rounding, simd, tuple((s.node, algo) for s in steps if "algo" in s.params))


def _rq_graph() -> Graph:
    return pw_graph(RQ_SHAPE, RQ_LAYERS, seed=2)


def _cases() -> tuple[tuple[str, Graph, np.ndarray, str], ...]:
    """(name, graph, input, algorithm) of each kernel family."""
    return (
        ("pw", pw_graph(), _x(3), "im2col"),
        ("rq", _rq_graph(), _x(2, shape=RQ_SHAPE), "im2col2"),
        ("small", pw_graph(SMALL_SHAPE, SMALL_LAYERS, 3), _x(2, shape=SMALL_SHAPE), "im2col2"),
    )


def test_pointwise_kernel_choice() -> None:
    graph = pw_graph()
    steps = lower(graph, "auto", _q(graph, True, "single")).steps
    names = [s.params["pw"] for s in steps if s.kernel == "qconv"]
    assert names == ["3_c", "4_s7", "67", "5_c_s7"]
    for simd, rounding in ((False, "single"), (True, "double")):
        steps = lower(graph, "auto", _q(graph, simd, rounding)).steps
        assert not any(s.params.get("pw") for s in steps), (simd, rounding)
    graph = _rq_graph()
    steps = lower(graph, "auto", _q(graph, True, "single", "im2col2")).steps
    names = [s.params["rq"] for s in steps if s.kernel == "qconv"]
    assert names == ["41_c_p", "27_s7", "50_p"]
    assert [s.params["pkh"] for s in steps if s.kernel == "qconv"] == [2, 1, 2]
    for simd, rounding in ((False, "single"), (True, "double")):
        steps = lower(graph, "auto", _q(graph, simd, rounding, "im2col2")).steps
        assert not any(s.params.get("rq") for s in steps), (simd, rounding)
    graph = pw_graph(SMALL_SHAPE, SMALL_LAYERS, 3)
    steps = lower(graph, "auto", _q(graph, True, "single", "im2col2")).steps
    assert [s.params["small"] for s in steps if s.kernel == "qconv"] == [1, 2, 4, 3]


def test_pointwise_params_fall_back() -> None:
    g = {"kh": 1, "kw": 1, "pt": 0, "pl": 0, "oh": 4, "ow": 4, "sh": 1, "sw": 1, "h": 4, "w": 4}
    w = np.ones((5, 3), np.int8)
    b = np.arange(5)
    m0 = np.full(5, 1 << 30)
    ok = pw_params(g, w, b, (m0, np.array([3, 3, 4, 3, 3])), -7, 1, -128)
    assert ok is not None and ok[0] == "2"
    words = ok[1].reshape(2, 16)  # two blocks: 4 biases, then m0, Zc, rsh + 1 per channel
    np.testing.assert_array_equal(words[0, :4], b[:4] + 7 * 3)
    np.testing.assert_array_equal(words[0, 4:7], [1 << 30, 3 << 3, 4])
    assert words[1, 0] == 4 + 21 and not words[1, 1:4].any() and not words[1, 7:].any()
    same = pw_params(g, w, b, (m0, np.full(5, 3)), 0, -128, -128)
    assert same is not None and same[0] == "2_s4" and same[1].size == 2 * 12
    assert pw_params(g, w, b, (m0, np.full(5, 3)), 0, 0, 0)[0] == "2_c_s4"  # type: ignore[index]
    assert pw_params(g, w, b, (m0, np.array([3, -1, 3, 3, 3])), 0, 0, -128) is None
    assert pw_params(g, w, b, (m0, np.full(5, 23)), 0, 127, -128) is None  # Zc >= 2^30
    assert pw_params(g, w, b, (m0, np.full(5, 20)), 0, 127, -128) is not None
    assert pw_params({**g, "kh": 3}, w, b, (m0, np.full(5, 3)), 0, 0, -128) is None
    assert pw_params({**g, "oh": 5}, w, b, (m0, np.full(5, 3)), 0, 0, -128) is None


@needs_cc
@pytest.mark.parametrize(
    ("simd", "rounding"), [(True, "single"), (False, "single"), (True, "double")]
)
def test_pointwise_bit_exact_on_host(tmp_path: Path, simd: bool, rounding: str) -> None:
    for name, graph, x, algo in _cases():
        x = np.concatenate([x, x * 0.5, x * 2])
        art = export_c(graph, tmp_path / name, "host", qopts=_q(graph, simd, rounding, algo))
        got = run_host(art, x, sanitize=True)
        want = reference(graph, x, art.program)
        err, ok = compare(got, want, exact=True)
        assert ok, f"{name}: max error {err}"
        assert len(np.unique(want)) > 8  # not saturated to a few codes


@pytest.mark.toolchain
@pytest.mark.skipif(
    not mcu_toolchain_available(load_target("cortex-m4")),
    reason="arm-none-eabi-gcc or qemu-system-arm missing",
)
def test_pointwise_bit_exact_in_qemu_plain_and_simd(tmp_path: Path) -> None:
    """The asm loop in QEMU: SIMD and plain both equal to the reference (so to each other)."""
    from edgeslim.api.deploy import measure_deploy

    for name, graph, x, algo in _cases():
        for simd in (True, False):
            rep = measure_deploy(
                graph, x, "cortex-m4", tmp_path / f"{name}{simd}",
                qopts=_q(graph, simd, "single", algo),
            )  # fmt: skip
            assert rep.exact and rep.max_error == 0.0, (name, simd)
