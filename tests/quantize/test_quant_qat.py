"""QAT with STE / learned step size: exported QDQ agrees with the fake-quantized torch model,
W4A8 stays within a point of float on the digits CNN, GRU gates are fake-quantized."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from quant_helpers import accuracy, run_onnx

from edgeslim._core.errors import RecipeError
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize._model import float_onnx

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")


def _ctx(dataset: Any) -> PassContext:
    from edgeslim.api.pipeline import pass_context
    from edgeslim.api.recipe import RunSpec

    spec = RunSpec.model_validate(
        {"name": "t", "data": {"name": "digits"}, "model": {"kind": "cnn"}, "train": {"lr": 1e-3}}
    )
    return pass_context(spec, dataset, None)


def _fake_quant_out(model: Any, dataset: Any, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.float_module(torch.as_tensor(dataset.normalization.apply(x))).numpy()


def test_ste_gradient_and_lsq_step_learns() -> None:
    from edgeslim.passes.quantize._fakequant import LSQ

    q = LSQ(4, weight=True, channels=3)
    w = torch.randn(3, 5, requires_grad=True)
    out = q(w)
    assert torch.unique(torch.round(out.detach() / q.step.detach()[:, None])).abs().max() <= 7
    out.sum().backward()
    assert w.grad is not None and torch.all(w.grad[w.abs() < 7 * q.step[:, None]] == 1)
    assert q.step.grad is not None and q.step.grad.abs().sum() > 0


@pytest.mark.parametrize("bits", [8, 4])
def test_qat_cnn_exports_what_it_trained(
    digits: Any, digits_cnn: Any, float_cnn_onnx: Any, bits: int
) -> None:
    res = create("quantize.qat", {"weight_bits": bits, "epochs": 2}).apply(
        digits_cnn, _ctx(digits)
    )
    proto = res.model.proto
    x = np.asarray(digits.x_test, np.float32)
    agree = np.mean(
        run_onnx(proto, x).argmax(1) == _fake_quant_out(res.model, digits, x).argmax(1)
    )
    assert agree > 0.98
    assert accuracy(proto, digits) >= accuracy(float_cnn_onnx, digits) - 0.01
    assert res.record["folded_batchnorms"] == 2
    assert res.record["kind"] == f"qat_w{bits}a8"
    # the original float model is untouched
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in digits_cnn.modules())


def test_qat_gru_quantizes_every_gate_weight(digits: Any, digits_gru: Any) -> None:
    from edgeslim.passes.quantize._fakequant import QATRecurrent

    res = create("quantize.qat", {"weight_bits": 8, "epochs": 1}).apply(digits_gru, _ctx(digits))
    wrapped = [m for m in res.model.float_module.modules() if isinstance(m, QATRecurrent)]
    assert wrapped and set(wrapped[0].names) == {"weight_ih_l0", "weight_hh_l0"}
    ops = [n.op_type for n in res.model.proto.graph.node]
    assert "GRU" in ops and "QuantizeLinear" in ops
    x = np.asarray(digits.x_test, np.float32)
    ref = run_onnx(float_onnx(digits_gru, digits), x)
    assert np.mean(run_onnx(res.model.proto, x).argmax(1) == ref.argmax(1)) > 0.9


def test_qat_needs_training_settings(digits: Any, digits_cnn: Any) -> None:
    with pytest.raises(RecipeError, match="fine_tune"):
        create("quantize.qat", {}).apply(digits_cnn, PassContext(digits, seed=0))
