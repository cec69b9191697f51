"""Weight-only int8/int4/int2 (real bit packing), float16 and dynamic int8."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quant_helpers import accuracy

from edgeslim import ir
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize._weights import pack, unpack

pytestmark = pytest.mark.torch


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([2, 4]), st.lists(st.integers(-8, 7), min_size=1, max_size=64))
def test_pack_roundtrip(bits: int, values: list[int]) -> None:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    codes = np.clip(np.array(values), lo, hi)
    data = pack(codes, bits)
    assert len(data) == -(-len(codes) * bits // 8)
    np.testing.assert_array_equal(unpack(data, bits, len(codes)), codes)


def _apply(name: str, model: Any, dataset: Any, **params: Any) -> Any:
    return create(name, params).apply(model, PassContext(dataset, seed=0))


def _stored_weight_bytes(proto: onnx.ModelProto) -> int:
    return sum(len(i.raw_data) for i in proto.graph.initializer if i.name.endswith(("_q", "_h")))


@pytest.mark.parametrize(("bits", "ratio"), [(8, 4), (4, 8), (2, 16)])
def test_weight_only_packs_bits(digits: Any, digits_mlp: Any, bits: int, ratio: int) -> None:
    res = _apply("quantize.weight_only", digits_mlp, digits, bits=bits)
    n = sum(p.numel() for name, p in digits_mlp.named_parameters() if name.endswith("weight"))
    assert _stored_weight_bytes(res.model.proto) == pytest.approx(n * 4 / ratio, rel=0.01)
    onnx.checker.check_model(res.model.proto)
    assert res.record["kind"] == f"weight_only_int{bits}"


def test_weight_only_accuracy(digits: Any, digits_mlp: Any, float_mlp_acc: float) -> None:
    int8 = _apply("quantize.weight_only", digits_mlp, digits, bits=8).model.proto
    int4 = _apply("quantize.weight_only", digits_mlp, digits, bits=4, block=16).model.proto
    assert accuracy(int8, digits) >= float_mlp_acc - 0.005
    assert accuracy(int4, digits) >= float_mlp_acc - 0.03


def test_float16_halves_weights_and_keeps_accuracy(
    digits: Any, digits_mlp: Any, float_mlp_acc: float
) -> None:
    res = _apply("quantize.fp16", digits_mlp, digits)
    dtypes = {i.data_type for i in res.model.proto.graph.initializer if i.name.endswith("_h")}
    assert dtypes == {onnx.TensorProto.FLOAT16}
    assert accuracy(res.model.proto, digits) >= float_mlp_acc - 0.005


def test_dynamic_quantizes_linear_and_recurrent_weights(
    digits: Any, digits_gru: Any, digits_mlp: Any, float_mlp_acc: float
) -> None:
    mlp = _apply("quantize.dynamic", digits_mlp, digits)
    assert "MatMulInteger" in mlp.record["ops"]
    assert accuracy(mlp.model.proto, digits) >= float_mlp_acc - 0.01
    gru = _apply("quantize.dynamic", digits_gru, digits).model.proto
    graph = ir.from_onnx(gru)
    node = next(n for n in graph.nodes if n.op == "GRU")
    for k in (1, 2):
        dq = graph.producer(node.inputs[k])
        assert dq is not None and dq.op == "DequantizeLinear"
        assert graph.initializers[dq.inputs[0]].dtype == np.int8


def test_ptq_on_gru_quantizes_head_and_cell_weights(digits: Any, digits_gru: Any) -> None:
    from quant_helpers import run_onnx

    from edgeslim.passes.quantize._model import float_onnx

    proto = _apply("quantize.ptq", digits_gru, digits).model.proto
    ops = [n.op_type for n in proto.graph.node]
    assert "QuantizeLinear" in ops and "GRU" in ops
    x = np.asarray(digits.x_test, np.float32)
    ref = run_onnx(float_onnx(digits_gru, digits), x)
    assert np.mean(run_onnx(proto, x).argmax(1) == ref.argmax(1)) > 0.97
