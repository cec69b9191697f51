"""Mixed precision: the greedy choice meets the budget and lowers insensitive layers first."""

from __future__ import annotations

from typing import Any

import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quant_helpers import accuracy

from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize import choose_bits

pytestmark = pytest.mark.torch


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 10), st.integers(1, 5000)), min_size=1, max_size=8),
    st.floats(0.5, 1.0),
)
def test_choose_bits_meets_budget(layers: list[tuple[float, int]], budget: float) -> None:
    sens = {f"l{i}": s for i, (s, _) in enumerate(layers)}
    sizes = {f"l{i}": n for i, (_, n) in enumerate(layers)}
    bits = choose_bits(sens, sizes, 4, budget)
    used = sum(sizes[k] * bits[k] / 8 for k in sizes)
    assert used <= budget * sum(sizes.values()) + 1e-9  # int4 everywhere is half: always fits
    if budget == 1.0:
        assert set(bits.values()) == {8}


def test_choose_bits_lowers_the_least_sensitive_first() -> None:
    bits = choose_bits({"a": 5.0, "b": 0.1, "c": 1.0}, {"a": 100, "b": 100, "c": 100}, 4, 0.85)
    assert bits == {"a": 8, "b": 4, "c": 8}


def test_mixed_precision_pass(digits: Any, digits_cnn: Any, float_cnn_onnx: Any) -> None:
    res = create("quantize.mixed", {"budget": 0.75}).apply(digits_cnn, PassContext(digits, 0))
    rec = res.record
    assert rec["weight_bytes"] <= 0.75 * rec["int8_weight_bytes"]
    assert set(rec["bits"].values()) <= {4, 8} and 4 in rec["bits"].values()
    types = {i.data_type for i in res.model.proto.graph.initializer if i.name.endswith("_q")}
    assert onnx.TensorProto.INT4 in types and onnx.TensorProto.INT8 in types
    assert accuracy(res.model.proto, digits) >= accuracy(float_cnn_onnx, digits) - 0.01
