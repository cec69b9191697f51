"""Binarized and ternary MLPs: above 90% on digits, bit-packed storage, and the XNOR/popcount
integer reference computes what onnxruntime computes on the exported graph."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from quant_helpers import accuracy, run_onnx

from edgeslim._core.errors import RecipeError
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize._binary import packed_layers, xnor_forward

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def ctx(digits: Any) -> PassContext:
    from edgeslim.api.pipeline import pass_context
    from edgeslim.api.recipe import RunSpec

    spec = RunSpec.model_validate(
        {
            "name": "b",
            "data": {"name": "digits"},
            "model": {"kind": "mlp"},
            "train": {"patience": 50},
        }
    )
    return pass_context(spec, digits, None)


@pytest.mark.parametrize(("mode", "bits"), [("binary", 1), ("ternary", 2)])
def test_binary_mlp_accuracy_packing_and_xnor_reference(
    digits: Any, digits_mlp: Any, ctx: PassContext, mode: str, bits: int
) -> None:
    res = create("quantize.binarize", {"mode": mode, "epochs": 25}).apply(digits_mlp, ctx)
    proto = res.model.proto
    assert accuracy(proto, digits) > 0.90
    n_weights = sum(
        p.numel() for name, p in digits_mlp.named_parameters() if name.endswith("weight")
    )
    assert res.record["packed_weight_bytes"] <= n_weights * bits / 8 + 8 * len(
        list(digits_mlp.modules())
    )
    ops = {n.op_type for n in proto.graph.node}
    assert {"BitShift", "BitwiseAnd"} <= ops
    x = np.asarray(digits.x_test, np.float32)
    ours = xnor_forward(
        packed_layers(res.model.float_module), digits.normalization.apply(x).reshape(len(x), -1)
    )
    theirs = run_onnx(proto, x)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert np.array_equal(ours.argmax(1), theirs.argmax(1))


def test_binarize_rejects_non_mlp(digits: Any, digits_cnn: Any, ctx: PassContext) -> None:
    with pytest.raises(RecipeError, match="supports MLPs"):
        create("quantize.binarize", {"epochs": 0}).apply(digits_cnn, ctx)
