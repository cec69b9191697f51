"""Data-movement ops (Transpose, Slice, Concat, Pad, Split, Gather) as strided copies in the
generated C: float32 and int8, equal to the reference element for element, under ASan/UBSan;
neighbouring axes that are contiguous on both sides merge into one long row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tests.codegen.conftest import needs_cc

from edgeslim import ir
from edgeslim.api.deploy import compare, export_c, reference, run_host
from edgeslim.codegen.nn._ops_data import _squash

pytestmark = [pytest.mark.toolchain, needs_cc]

SHAPE = (1, 3, 4, 5)


def _graph(nodes: list[Any], inits: list[Any], out_shape: tuple[int, ...]) -> ir.Graph:
    g = helper.make_graph(
        nodes,
        "copies",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    return ir.from_onnx(m)


def _i64(name: str, v: list[int]) -> Any:
    return numpy_helper.from_array(np.array(v, np.int64), name)


CASES: dict[str, tuple[list[Any], list[Any], tuple[int, ...]]] = {
    "transpose-last-two": (
        [helper.make_node("Transpose", ["x"], ["y"], perm=[0, 1, 3, 2])], [], (1, 3, 5, 4)
    ),
    "transpose-outer": (  # inner rows stay contiguous: memmove rows
        [helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 1, 3])], [], (1, 4, 3, 5)
    ),
    "slice-step": (
        [helper.make_node("Slice", ["x", "b", "e", "a", "st"], ["y"])],
        [_i64("b", [1, 4]), _i64("e", [4, 0]), _i64("a", [2, 3]), _i64("st", [1, -2])],
        (1, 3, 3, 2),
    ),
    "concat-axis2": (
        [helper.make_node("Concat", ["x", "x"], ["y"], axis=2)], [], (1, 3, 8, 5)
    ),
    "pad": (
        [helper.make_node("Pad", ["x", "p"], ["y"], mode="constant")],
        [_i64("p", [0, 0, 1, 2, 0, 1, 0, 1])],
        (1, 4, 6, 8),
    ),
    "gather-axis1": (
        [helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], [_i64("i", [2, 0])], (1, 2, 4, 5)
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_float_copies_match_the_reference(case: str, tmp_path: Path) -> None:
    nodes, inits, out_shape = CASES[case]
    graph = _graph(nodes, inits, out_shape)
    x = np.random.default_rng(0).standard_normal((1, *SHAPE[1:])).astype(np.float32)
    art = export_c(graph, tmp_path / "c", target="host")
    got = run_host(art, x, sanitize=True, workdir=tmp_path / "build")
    want = reference(graph, x)
    err, ok = compare(got, want)
    assert ok and err == 0.0, f"{case}: {err}"  # a copy is exact


def test_contiguous_axes_merge() -> None:
    # (2, 3, 4) contiguous on both sides -> one row of 24
    assert _squash(("x", 0, 0, (2, 3, 4), (12, 4, 1), (12, 4, 1)))[3:] == ((24,), (1,), (1,))
    # a transpose of the two outer axes keeps the inner row of 4
    merged = _squash(("x", 0, 0, (2, 3, 4), (4, 8, 1), (12, 4, 1)))
    assert merged[3:] == ((2, 3, 4), (4, 8, 1), (12, 4, 1))
    # size-1 axes drop out before merging
    assert _squash(("x", 5, 7, (1, 6, 1, 5), (30, 5, 5, 1), (30, 5, 5, 1)))[1:] == (
        5, 7, (30,), (1,), (1,),
    )  # fmt: skip


@pytest.mark.parametrize("case", ["transpose-last-two", "concat-axis2", "slice-step", "pad"])
def test_int8_copies_are_bit_exact(case: str, tmp_path: Path) -> None:
    """The same ops between QuantizeLinear and DequantizeLinear: int8 copies, bit-exact."""
    nodes, inits, out_shape = CASES[case]
    qnodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
    ]
    for node in nodes:
        renamed = onnx.NodeProto()
        renamed.CopyFrom(node)
        renamed.input[:] = ["xd" if t == "x" else t for t in node.input]
        renamed.output[:] = ["yf"]
        qnodes.append(renamed)
    qnodes += [
        helper.make_node("QuantizeLinear", ["yf", "s", "z"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "s", "z"], ["y"]),
    ]
    consts = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(np.array(3, np.int8), "z"),
    ]
    graph = _graph(qnodes, [*inits, *consts], out_shape)
    x = np.random.default_rng(1).standard_normal((1, *SHAPE[1:])).astype(np.float32)
    art = export_c(graph, tmp_path / "c", target="host")
    source = Path(art.source).read_text()
    assert "es_copy_i8" in source  # the copy ran on int8 codes, not on floats
    got = run_host(art, x, sanitize=True, workdir=tmp_path / "build")
    np.testing.assert_array_equal(got, reference(graph, x))
