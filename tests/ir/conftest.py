"""Shared helpers of the IR tests: single-op ONNX models and onnxruntime as the oracle."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from edgeslim.ir import from_onnx, interp, verify


def ort_run(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    return list(sess.run(None, dict(feeds)))


def single_op_model(
    op: str,
    feeds: Mapping[str, np.ndarray],
    consts: Mapping[str, np.ndarray | None] | None = None,
    attrs: Mapping[str, Any] | None = None,
    n_outputs: int = 1,
    opset: int = 17,
    order: Sequence[str] | None = None,
) -> onnx.ModelProto:
    """A model of one ``op``; ``feeds`` become graph inputs, ``consts`` initializers.

    ``order`` lists the node's input names (``""`` for omitted ones); by default feeds then
    consts. A const given as None is an omitted optional input.
    """
    consts = dict(consts or {})
    names = list(order) if order is not None else [*feeds, *consts]
    names = ["" if n in consts and consts[n] is None else n for n in names]
    outs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op, names, outs, name=f"{op.lower()}_node", **(attrs or {}))
    inputs = [
        helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
        for k, v in feeds.items()
    ]
    outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in outs]
    inits = [numpy_helper.from_array(v, k) for k, v in consts.items() if v is not None]
    graph = helper.make_graph([node], f"single_{op}", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return _typed_outputs(model)


def _typed_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give the graph outputs the types ONNX shape inference finds (onnxruntime needs them)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    known = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output)}
    for out in model.graph.output:
        if out.name in known and known[out.name].type.tensor_type.elem_type:
            out.type.CopyFrom(known[out.name].type)
    return model


def assert_matches_ort(
    model: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    exact: bool = False,
) -> list[np.ndarray]:
    """Run ``model`` in onnxruntime and in ``interp``; assert equal dtypes, shapes and values."""
    graph = from_onnx(model)
    verify(graph)
    want = ort_run(model, feeds)
    got = interp.run(graph, feeds)
    got_list = [got[o.name] for o in graph.outputs]
    assert len(got_list) == len(want)
    for g, w in zip(got_list, want, strict=True):
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        assert g.shape == w.shape, (g.shape, w.shape)
        if exact:
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, atol=atol, rtol=rtol)
    return got_list


@pytest.fixture
def check_op() -> Callable[..., list[np.ndarray]]:
    """``check_op(op, feeds, consts, attrs, ...)``: build the one-op model and compare with ort."""

    def run(
        op: str,
        feeds: Mapping[str, np.ndarray],
        consts: Mapping[str, np.ndarray | None] | None = None,
        attrs: Mapping[str, Any] | None = None,
        *,
        n_outputs: int = 1,
        opset: int = 17,
        order: Sequence[str] | None = None,
        exact: bool = False,
    ) -> list[np.ndarray]:
        model = single_op_model(op, feeds, consts, attrs, n_outputs, opset, order)
        return assert_matches_ort(model, feeds, exact=exact)

    return run


@pytest.fixture
def run_ort() -> Callable[[onnx.ModelProto, Mapping[str, np.ndarray]], list[np.ndarray]]:
    """``run_ort(model, feeds)``: onnxruntime's outputs (one thread, CPU)."""
    return ort_run
