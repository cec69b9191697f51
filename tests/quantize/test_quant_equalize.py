"""Cross-layer equalization and empirical bias correction for static PTQ: the float function
is kept, channel ranges are equalized (depthwise included), and the accuracy lost by per-tensor
int8 on a model with unbalanced channels comes back."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from quant_helpers import accuracy, run_onnx

from edgeslim._core.errors import RecipeError
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize import StaticConfig, static_quantize
from edgeslim.passes.quantize._equalize import equalize, find_pairs
from edgeslim.passes.quantize._model import calibration_inputs, float_onnx

pytestmark = pytest.mark.torch


def _unbalanced(proto: onnx.ModelProto, factor: float = 30.0) -> onnx.ModelProto:
    """The same function with every other output channel of the first conv scaled by
    ``factor`` and the second conv's matching inputs by ``1 / factor``: per-tensor weight
    quantization now wastes most of its range (the case BN folding often produces)."""
    m = onnx.ModelProto()
    m.CopyFrom(proto)
    inits = {i.name: i for i in m.graph.initializer}
    a, b = [n for n in m.graph.node if n.op_type == "Conv"][:2]
    wa = numpy_helper.to_array(inits[a.input[1]]).astype(np.float64)
    ba = numpy_helper.to_array(inits[a.input[2]]).astype(np.float64)
    wb = numpy_helper.to_array(inits[b.input[1]]).astype(np.float64)
    k = np.ones(wa.shape[0])
    k[::2] = factor
    wa, ba = wa * k[:, None, None, None], ba * k
    wb = wb / (k[:, None, None, None] if wb.shape[1] == 1 else k[None, :, None, None])
    for name, v in ((a.input[1], wa), (a.input[2], ba), (b.input[1], wb)):
        inits[name].CopyFrom(numpy_helper.from_array(v.astype(np.float32), name))
    return m


@pytest.mark.parametrize("fixture", ["digits_cnn", "digits_dscnn", "digits_mlp"])
def test_equalization_keeps_the_float_function(
    request: pytest.FixtureRequest, digits: Any, fixture: str
) -> None:
    f = float_onnx(request.getfixturevalue(fixture), digits)
    e, record = equalize(f)
    x = np.asarray(digits.x_test, np.float32)
    y = run_onnx(f, x)
    np.testing.assert_allclose(run_onnx(e, x), y, atol=1e-4 * (1 + np.abs(y).max()))
    assert record["pairs"], "no pair found"
    before = [p["spread"][0] for p in record["pairs"]]
    after = [p["spread"][1] for p in record["pairs"]]
    assert max(after) <= max(before) and sum(np.log(after)) < sum(np.log(before))


def test_depthwise_separable_chain_is_equalized(digits: Any, digits_dscnn: Any) -> None:
    f = float_onnx(digits_dscnn, digits)
    pairs = find_pairs(f)
    groups = {
        n.name: next((a.i for a in n.attribute if a.name == "group"), 1) for n in f.graph.node
    }
    assert any(groups[p.b.name] > 1 for p in pairs)  # conv -> depthwise
    assert any(groups[p.a.name] > 1 for p in pairs)  # depthwise -> pointwise
    assert any(p.b.op_type == "Gemm" for p in pairs) or len(pairs) >= 4


@pytest.mark.parametrize("fixture", ["digits_cnn", "digits_dscnn"])
def test_equalization_recovers_per_tensor_int8(
    request: pytest.FixtureRequest, digits: Any, fixture: str
) -> None:
    f = _unbalanced(float_onnx(request.getfixturevalue(fixture), digits))
    x = calibration_inputs(digits, 256, 0)
    base = accuracy(f, digits)
    plain, _ = static_quantize(f, x, StaticConfig(per_channel=False))
    fixed, record = static_quantize(f, x, StaticConfig(per_channel=False, equalize=True))
    assert accuracy(fixed, digits) >= base - 0.01
    assert accuracy(fixed, digits) >= accuracy(plain, digits)
    y = run_onnx(f, np.asarray(digits.x_test, np.float32))
    dev = {
        k: np.abs(run_onnx(q, np.asarray(digits.x_test, np.float32)) - y).mean()
        for k, q in (("plain", plain), ("cle", fixed))
    }
    assert dev["cle"] < dev["plain"]
    assert record["equalization"]["pairs"][0]["spread"][0] > 10  # it saw the imbalance


def test_bias_correction_removes_the_mean_shift(digits: Any, digits_cnn: Any) -> None:
    """int4 per-tensor weights shift channel means; the correction takes them out."""
    f = float_onnx(digits_cnn, digits)
    x = calibration_inputs(digits, 256, 0)
    cfg = StaticConfig(per_channel=False, weight_dtype="int4")
    plain, _ = static_quantize(f, x, cfg)
    fixed, record = static_quantize(
        f, x, StaticConfig(per_channel=False, weight_dtype="int4", bias_correction=True)
    )
    from edgeslim.passes.quantize._static import _to_opset21

    y = run_onnx(f, x)
    shift = {
        k: np.abs((run_onnx(_to_opset21(q), x) - y).mean(axis=0)).max()
        for k, q in (("plain", plain), ("corrected", fixed))
    }
    assert shift["corrected"] < 0.5 * shift["plain"]
    assert set(record["bias_correction"]) == set(record["nodes"])
    assert all(v >= 0 for v in record["bias_correction"].values())


def test_pass_parameters(digits: Any, digits_mlp: Any, float_mlp_acc: float) -> None:
    p = create("quantize.ptq", {"equalize": True, "bias_correction": True, "per_channel": False})
    result = p.apply(digits_mlp, PassContext(digits, seed=0))
    assert result.record["params"]["equalize"] is True
    assert "equalization" in result.record and "bias_correction" in result.record
    assert accuracy(result.model.proto, digits) >= float_mlp_acc - 0.02
    with pytest.raises(RecipeError, match="equalize"):
        create("quantize.ptq", {"equalize": "yes"})


@pytest.mark.parametrize("fixture", ["digits_cnn", "digits_mlp"])
def test_bound_against_the_equalized_weights_holds_for_the_float_model(
    request: pytest.FixtureRequest, digits: Any, fixture: str
) -> None:
    """The guarantee of an equalized model pairs its weights with the equalized float weights
    (same function); the bound must still hold against the original float model."""
    from test_quant_bounds import _adversarial, _deviation

    from edgeslim import ir
    from edgeslim.measure._bounds import quantization_error_bound

    f = float_onnx(request.getfixturevalue(fixture), digits)
    x_cal = calibration_inputs(digits, 256, 0)
    cfg = StaticConfig(per_channel=False, equalize=True, bias_correction=True)
    q, _ = static_quantize(f, x_cal, cfg)
    lo, hi = digits.x_train.min(axis=0), digits.x_train.max(axis=0)
    gq = ir.from_onnx(q)
    paired = quantization_error_bound(gq, ir.from_onnx(equalize(f)[0]), lo, hi)
    naive = quantization_error_bound(gq, ir.from_onnx(f), lo, hi)
    assert paired.max < naive.max
    rng = np.random.default_rng(5)
    x = np.concatenate([digits.x_test, rng.uniform(lo, hi, size=(256, *lo.shape))]).astype(
        np.float32
    )
    dev = _deviation(f, q, x)
    assert (dev <= np.asarray(paired.per_output)[None, :]).all()
    assert _adversarial(f, q, x[np.argsort(dev.max(axis=1))[-16:]], lo, hi) <= paired.max
