"""Integer-only execution (int32 accumulation, fixed-point requantization) of the QDQ models,
compared with onnxruntime on the same model with graph optimizations off and on."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeslim import ir
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize._integer import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    run_integer,
    single_rounding_multiply,
)

pytestmark = pytest.mark.torch


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-6, 0.99), st.integers(-(2**24), 2**24))
def test_fixed_point_multiplier(m: float, acc: int) -> None:
    m0, shift = quantize_multiplier(np.array([m]))
    assert 2**30 <= m0[0] < 2**31
    assert abs(float(m0[0]) * 2.0 ** (int(shift[0]) - 31) - m) <= m * 2.0**-30
    exact = Fraction(acc) * Fraction(int(m0[0])) / Fraction(2) ** (31 - int(shift[0]))
    single = int(single_rounding_multiply(np.array([acc]), m0, shift)[0])
    assert single == math.floor(exact + Fraction(1, 2))  # one rounding, half up
    double = int(multiply_by_quantized_multiplier(np.array([acc]), m0, shift)[0])
    assert abs(double - single) <= 1 and abs(Fraction(double) - exact) <= 1


def _codes_from_ort(
    proto: onnx.ModelProto, x: np.ndarray, optimize: bool
) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    names = [n.output[0] for n in proto.graph.node if n.op_type == "QuantizeLinear"]
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    for name in names:
        probe.graph.output.append(
            onnx.helper.make_tensor_value_info(name, onnx.TensorProto.INT8, None)
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), opts)
    return dict(
        zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x}), strict=True)
    )


@pytest.mark.parametrize("fixture", ["digits_cnn", "digits_mlp"])
@pytest.mark.parametrize(
    "params", [{}, {"per_channel": False, "symmetric_activations": True}, {"weight_bits": 4}]
)
def test_integer_execution_matches_onnxruntime(
    request: pytest.FixtureRequest, digits: Any, fixture: str, params: dict[str, Any]
) -> None:
    model = request.getfixturevalue(fixture)
    proto = create("quantize.ptq", params).apply(model, PassContext(digits, seed=0)).model.proto
    x = np.asarray(digits.x_test, np.float32)
    graph = ir.from_onnx(proto)
    single = run_integer(graph, x, codes=True, rounding="single")
    double = run_integer(graph, x, codes=True, rounding="double")
    for optimize in (False, True):
        theirs = _codes_from_ort(proto, x, optimize)
        names = [k for k in theirs if k != "output"]
        for name in names:
            np.testing.assert_array_equal(single[name], theirs[name], err_msg=name)
        np.testing.assert_array_equal(single["output"], theirs["output"])
    first = names[1]  # the first requantized accumulator: double rounding is off by <= 1
    diff = np.abs(double[first].astype(int) - single[first].astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.05  # ~0.1% of codes at int8, ~2% at int4
    assert np.mean(double["output"].argmax(1) == single["output"].argmax(1)) > 0.98
