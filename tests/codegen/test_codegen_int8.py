"""int8 C kernels of QDQ graphs: bit-exact with the integer reference on the host (ASan/UBSan),
plain and SIMD variants, both requantization roundings, both conv algorithms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.codegen.conftest import needs_cc
from tests.codegen.int8_graphs import pattern_graph, quantized_zoo

from edgeslim.api.deploy import compare, export_c, reference, run_host
from edgeslim.codegen.nn import QOptions, lower
from edgeslim.codegen.nn._qlower import simd_pack
from edgeslim.ir import Graph, interp
from edgeslim.passes.quantize._integer import run_integer

SHAPES = {"cnn": (1, 8, 8), "dscnn": (1, 8, 8), "tcn": (3, 24), "gru": (3, 24), "mlp": (13,)}


@pytest.fixture(scope="module")
def zoo_int8(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Graph]:
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("int8")
    return {k: quantized_zoo(k, s, folder) for k, s in SHAPES.items()}


def _x(shape: tuple[int, ...], n: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * 1.5).astype(np.float32)


def _all_algo(graph: Graph, q: QOptions, algo: str) -> QOptions:
    steps = lower(graph, "auto", q).steps
    return QOptions(q.rounding, q.simd, tuple((s.node, algo) for s in steps if "algo" in s.params))


def test_simd_pack_interleaves_int16_pairs_of_four_rows() -> None:
    w = np.arange(-15, 0, dtype=np.int8).reshape(5, 3)  # 5 rows (padded to 8), k=3 (to 4)
    words = simd_pack(w).view(np.uint32).reshape(2, 2, 4)  # [row block][pair][row]
    for r in range(5):
        for j in range(2):
            word = int(words[r // 4, j, r % 4])
            lo, hi = np.array([word & 0xFFFF, word >> 16], np.uint16).view(np.int16)
            assert lo == w[r, 2 * j]
            assert hi == (w[r, 2 * j + 1] if 2 * j + 1 < 3 else 0)
    assert not words[1, :, 1:].any()  # padded rows are zero


def test_pattern_graph_lowers_to_int8_kernels() -> None:
    program = lower(pattern_graph(), "auto", QOptions())
    kernels = [s.kernel for s in program.steps]
    for k in ("qconv", "qlut", "qbinary", "pool2d_i8", "qgavg", "qdense", "quantize"):
        assert k in kernels, k
    assert "conv2d" not in kernels and "dense" not in kernels
    assert program.int8 and program.exact
    groups = [s.params["groups"] for s in program.steps if s.kernel == "qconv"]
    assert 4 in groups  # the depthwise conv
    assert any(s.params.get("dh") == 2 for s in program.steps)  # dilation kept


@needs_cc
@pytest.mark.parametrize(
    ("simd", "rounding", "algo"),
    [
        (False, "single", "direct"),
        (True, "single", "im2col"),
        (True, "double", "im2col"),
        (False, "double", "im2col"),
        (True, "single", "im2col2"),
        (False, "single", "im2col2"),
        (True, "double", "im2col2"),
    ],
)
def test_pattern_graph_bit_exact_on_host(
    tmp_path: Path, simd: bool, rounding: str, algo: str
) -> None:
    graph = pattern_graph()
    q = _all_algo(graph, QOptions(rounding, simd), algo)
    art = export_c(graph, tmp_path / "c", "host", qopts=q)
    x = _x((4, 6, 6), 48)
    got = run_host(art, x, sanitize=True)
    ref = reference(graph, x, art.program)
    err, ok = compare(got, ref, exact=True)
    assert ok, f"max error {err}"
    if rounding == "single":  # the integer reference gives the interpreter's codes here
        plain = np.concatenate(
            [interp.run(graph, {"input": x[i : i + 1]})["output"] for i in range(len(x))]
        )
        np.testing.assert_array_equal(got.reshape(plain.shape), plain)


@needs_cc
def test_softmax_tail_within_tolerance(tmp_path: Path) -> None:
    graph = pattern_graph(softmax=True)
    art = export_c(graph, tmp_path / "c", "host")
    assert not art.program.exact  # float softmax after the int8 layers
    x = _x((4, 6, 6), 16)
    err, ok = compare(run_host(art, x, sanitize=True), reference(graph, x, art.program))
    assert ok, f"max error {err}"


@needs_cc
@pytest.mark.torch
@pytest.mark.parametrize("kind", list(SHAPES))
def test_zoo_int8_bit_exact_plain_and_simd(
    zoo_int8: dict[str, Graph], kind: str, tmp_path: Path
) -> None:
    graph = zoo_int8[kind]
    x = _x(SHAPES[kind], 64)
    outs = {}
    for simd in (False, True):
        art = export_c(graph, tmp_path / f"c{simd}", "host", qopts=QOptions("single", simd))
        assert art.program.int8
        assert not any(s.kernel in ("conv2d", "dense") for s in art.program.steps)
        outs[simd] = run_host(art, x, sanitize=True)
        ref = reference(graph, x, art.program)
        err, ok = compare(outs[simd], ref, art.program.exact)
        assert ok, f"{kind} simd={simd}: error {err}"
    np.testing.assert_array_equal(outs[False], outs[True])
    if kind != "gru":  # int8 codes as the interpreter computes them
        name = graph.inputs[0].name
        plain = np.concatenate(
            [interp.run(graph, {name: x[i : i + 1]})[graph.outputs[0].name] for i in range(len(x))]
        )
        np.testing.assert_array_equal(outs[True].reshape(plain.shape), plain)


@needs_cc
@pytest.mark.torch
def test_double_rounding_follows_tflite_reference(
    zoo_int8: dict[str, Graph], tmp_path: Path
) -> None:
    graph = zoo_int8["cnn"]
    x = _x(SHAPES["cnn"], 64, seed=7)
    art = export_c(graph, tmp_path / "c", "host", qopts=QOptions("double", True))
    got = run_host(art, x, sanitize=True)
    name = graph.inputs[0].name
    ref = np.concatenate(
        [run_integer(graph, x[i : i + 1], rounding="double")["output"] for i in range(len(x))]
    )
    np.testing.assert_array_equal(got.reshape(ref.shape), ref)
    assert name == "input"


def test_bad_rounding_is_an_error(zoo_int8: dict[str, Graph]) -> None:
    from edgeslim._core.errors import ExportError

    with pytest.raises(ExportError, match="rounding"):
        lower(zoo_int8["mlp"], "auto", QOptions("nearest"))


@needs_cc
@pytest.mark.torch
@pytest.mark.parametrize(("kind", "bits"), [("gru", 16), ("lstm", 16), ("gru", 8)])
def test_integer_rnn_cells_bit_exact(kind: str, bits: int, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.codegen.int8_graphs import integer_rnn_zoo

    graph = integer_rnn_zoo(kind, (3, 24), tmp_path, bits)
    art = export_c(graph, tmp_path / "c", "host", qopts=QOptions("single", True))
    kernels = [s.kernel for s in art.program.steps]
    assert "qrnn" in kernels and "gru" not in kernels and "lstm" not in kernels
    assert art.program.exact
    x = _x((3, 24), 48)
    got = run_host(art, x, sanitize=True)
    ref = reference(graph, x, art.program)  # the interpreter's integer cell, bit for bit
    err, ok = compare(got, ref, exact=True)
    assert ok, f"{kind}: error {err}"


@needs_cc
def test_mixed_algorithms_compile_strict_and_agree(tmp_path: Path) -> None:
    """Depthwise with the padded-copy kernel, the rest direct (SIMD helpers used partly)."""
    graph = pattern_graph()
    steps = lower(graph, "auto", QOptions()).steps
    algos = tuple(
        (s.node, "im2col" if s.params.get("depthwise") else "direct")
        for s in steps
        if "algo" in s.params
    )
    x = _x((4, 6, 6), 16)
    outs = []
    for simd in (False, True):
        art = export_c(graph, tmp_path / str(simd), "host", qopts=QOptions("single", simd, algos))
        outs.append(run_host(art, x, sanitize=True))
        err, ok = compare(outs[-1], reference(graph, x, art.program), exact=True)
        assert ok, f"error {err}"
    np.testing.assert_array_equal(outs[0], outs[1])


@needs_cc
def test_im2col2_matches_im2col_and_selects_its_kernel(tmp_path: Path) -> None:
    """The padded-copy im2col (``im2col2``) gives the same codes as ``im2col``, dense convs use
    ``es_qconv_im2col2``, depthwise and dense layers fall back to their im2col kernels."""
    graph = pattern_graph()
    x = _x((4, 6, 6), 8)
    outs = {}
    for algo in ("im2col", "im2col2"):
        art = export_c(graph, tmp_path / algo, "host", qopts=_all_algo(graph, QOptions(), algo))
        outs[algo] = run_host(art, x, sanitize=True)
        src = (tmp_path / algo / "model.c").read_text()
        assert ("es_qconv_im2col2(" in src) is (algo == "im2col2")
        algos = {s.params["algo"] for s in art.program.steps if "algo" in s.params}
        dw = [s for s in art.program.steps if s.params.get("depthwise")]
        assert dw and all(s.params["algo"] == "im2col" for s in dw)
        assert ("im2col2" in algos) is (algo == "im2col2")
    np.testing.assert_array_equal(outs["im2col"], outs["im2col2"])
