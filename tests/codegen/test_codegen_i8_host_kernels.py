"""The 64-bit host int8 kernels (``ES_HOST8``: pixel-lane pointwise conv, eight-wide 3x3
depthwise) against the integer reference and against the portable kernels (``ES_NO_HOST8``) on
odd shapes: channels not a multiple of 8, rows not a multiple of 8, stride 2, padding, Relu
clamps, a fused max pool and a dense head; both roundings, both conv algorithms."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest
from onnx import helper
from tests.codegen.conftest import needs_cc
from tests.codegen.int8_graphs import _qdq, qlinear, to_graph

from edgeslim.api.deploy import compare, export_c, reference, run_host
from edgeslim.backends import host_c
from edgeslim.codegen.nn import QOptions, lower
from edgeslim.ir import Graph

SHAPE = (5, 9, 11)  # 99 pixels: six passes of 16 and a tail of 3; rows of 8 and a tail of 3


def host_graph() -> Graph:
    """dw 3x3 (pad 1, Relu) -> pw 5->7 -> pw 7->6 (Relu) -> dw 3x3 (no pad) -> dw 3x3 stride 2
    -> pw 6->4 + MaxPool 2x2 -> Gemm 4*1*2 -> 3."""
    rng = np.random.default_rng(11)
    nodes: list = []
    inits: list = []

    def linear(op: str, x: str, sx: float, w: np.ndarray, out: str, **attrs: object) -> str:
        return qlinear(nodes, inits, op, x, sx, w, out, **attrs)

    x = _qdq(nodes, inits, "input", "a0", 0.03, 3)
    dw = linear("Conv", x, 0.03, rng.standard_normal((5, 1, 3, 3)), "dw1", group=5, pads=[1] * 4)
    nodes.append(helper.make_node("Relu", [dw], ["dw1_r"]))
    a1 = _qdq(nodes, inits, "dw1_r", "a1", 0.05, -20)  # Relu clamps at -20
    pw1 = linear("Conv", a1, 0.05, rng.standard_normal((7, 5, 1, 1)) * 0.5, "pw1")
    a2 = _qdq(nodes, inits, pw1, "a2", 0.04, 3)
    pw2 = linear("Conv", a2, 0.04, rng.standard_normal((6, 7, 1, 1)) * 0.5, "pw2")
    nodes.append(helper.make_node("Relu", [pw2], ["pw2_r"]))
    a3 = _qdq(nodes, inits, "pw2_r", "a3", 0.03, -10)
    dw2 = linear("Conv", a3, 0.03, rng.standard_normal((6, 1, 3, 3)), "dw2", group=6)
    a4 = _qdq(nodes, inits, dw2, "a4", 0.06, 2)  # 7 x 9
    dw3 = linear(
        "Conv", a4, 0.06, rng.standard_normal((6, 1, 3, 3)), "dw3", group=6,
        pads=[1] * 4, strides=[2, 2],
    )  # fmt: skip
    a5 = _qdq(nodes, inits, dw3, "a5", 0.08, -5)  # 4 x 5
    pw3 = linear("Conv", a5, 0.08, rng.standard_normal((4, 6, 1, 1)) * 0.5, "pw3")
    a6 = _qdq(nodes, inits, pw3, "a6", 0.05, 1)
    nodes.append(helper.make_node("MaxPool", [a6], ["mp"], kernel_shape=[2, 2], strides=[2, 2]))
    a7 = _qdq(nodes, inits, "mp", "a7", 0.05, 1)  # 2 x 2
    nodes.append(helper.make_node("Flatten", [a7], ["fl"], axis=1))
    a8 = _qdq(nodes, inits, "fl", "a8", 0.05, 1)
    fc = linear("Gemm", a8, 0.05, rng.standard_normal((3, 16)) * 0.3, "fc", transB=1)
    a9 = _qdq(nodes, inits, fc, "a9", 0.05, -1)
    nodes.append(helper.make_node("Identity", [a9], ["output"]))
    return to_graph(nodes, inits, "host8", SHAPE, [1, 3], check=True)


def _portable(art, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The same library built with ``-DES_NO_HOST8`` (the portable kernels), under ASan/UBSan;
    reuses the harness that :func:`run_host` wrote."""
    work = art.out_dir / "build-host"
    exe = host_c.compile_executable(
        [art.source, work / "harness_host.c"],
        work / "model_portable",
        include_dirs=[art.out_dir],
        defines=["ES_NO_HOST8"],
        sanitize=True,
    )
    out = host_c.run_program(exe, stdin=x.tobytes())
    xo = art.program.value(art.program.outputs[0])
    return np.frombuffer(out, dtype=xo.dtype)


def test_host_graph_lowers_to_the_shapes_under_test() -> None:
    steps = [s for s in lower(host_graph(), "auto", QOptions()).steps if s.kernel == "qconv"]
    pw = [s for s in steps if s.params["kh"] == 1]
    dw = [s for s in steps if s.params["depthwise"]]
    assert len(pw) == 3 and len(dw) == 3
    assert {s.params["sw"] for s in dw} == {1, 2}
    assert any(s.params["pkh"] == 2 for s in pw)  # the fused pool
    assert any(s.params["lo"] > -128 for s in steps)  # a Relu clamp above int8's minimum
    assert all(s.params["cout"] % 8 for s in steps)


@needs_cc
@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64", "aarch64", "arm64"),
    reason="the host kernels are compiled on 64-bit x86 and Arm hosts only",
)
@pytest.mark.parametrize(
    ("rounding", "algo"),
    [("single", "im2col"), ("single", "im2col2"), ("double", "im2col"), ("double", "im2col2")],
)
def test_host_kernels_bit_exact(tmp_path: Path, rounding: str, algo: str) -> None:
    graph = host_graph()
    steps = lower(graph, "auto", QOptions(rounding)).steps
    algos = tuple((s.node, algo) for s in steps if "algo" in s.params)
    art = export_c(graph, tmp_path / "c", "host", qopts=QOptions(rounding, False, algos))
    source = art.source.read_text(encoding="utf-8")
    assert "es_qpw_host(" in source and "ES_HOST8" in source
    x = (np.random.default_rng(3).standard_normal((40, *SHAPE)) * 1.5).astype(np.float32)
    got = run_host(art, x, sanitize=True)
    err, ok = compare(got, reference(graph, x, art.program), exact=True)
    assert ok, f"max error {err}"
    np.testing.assert_array_equal(got.reshape(-1), _portable(art, x))
