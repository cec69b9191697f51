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


def test_binary_activations_need_an_mlp(digits: Any, digits_cnn: Any, ctx: PassContext) -> None:
    with pytest.raises(RecipeError, match="activations=binary needs an MLP"):
        create("quantize.binarize", {"epochs": 0, "activations": "binary"}).apply(digits_cnn, ctx)


def _rows_of_one_magnitude(w: np.ndarray, lead: int) -> bool:
    rows = np.abs(w.reshape(int(np.prod(w.shape[:lead])), -1))
    return bool(np.allclose(rows, rows.max(axis=1, keepdims=True), rtol=1e-6))


@pytest.mark.parametrize("fixture", ["digits_cnn", "digits_dscnn", "digits_gru", "digits_lstm"])
@pytest.mark.parametrize("mode", ["binary", "ternary"])
def test_binary_weights_on_every_model_kind(
    request: pytest.FixtureRequest, digits: Any, ctx: PassContext, fixture: str, mode: str
) -> None:
    model = request.getfixturevalue(fixture)
    res = create("quantize.binarize", {"mode": mode, "epochs": 1}).apply(model, ctx)
    proto, deployed = res.model.proto, res.model.float_module
    assert {"BitShift", "BitwiseAnd"} <= {n.op_type for n in proto.graph.node}
    names = res.record["binarized"].split(", ")
    assert names and all(n for n in names)
    params = dict(deployed.named_parameters())
    for name in names:  # the deployed weights are alpha_r * {-1, (0,) 1} per output row
        w = params[name].detach().numpy()
        assert _rows_of_one_magnitude(w, 1) or (mode == "ternary" and np.any(w == 0))
    bits = 1 if mode == "binary" else 2
    binarized = sum(params[n].numel() for n in names)
    assert res.record["packed_weight_bytes"] <= binarized * bits / 8 + 4 * binarized // 4 + 64
    x = np.asarray(digits.x_test[:64], np.float32)
    import torch

    from edgeslim.models import with_normalization

    wrapped = with_normalization(deployed, digits.normalization, digits.spec.input_shape)
    with torch.no_grad():
        ref = wrapped(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_onnx(proto, x), ref, rtol=1e-4, atol=1e-4)


def test_binary_weight_cnn_keeps_its_accuracy(
    digits: Any, digits_cnn: Any, ctx: PassContext
) -> None:
    res = create("quantize.binarize", {"epochs": 8}).apply(digits_cnn, ctx)
    assert accuracy(res.model.proto, digits) > 0.9
