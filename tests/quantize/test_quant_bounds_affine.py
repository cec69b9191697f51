"""The affine (zonotope) bound and the combined ``best`` bound: sound on random, corner and
adversarial inputs, never looser than the interval bound, and much tighter around a point."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_quant_bounds import _adversarial, _deviation, _pair

from edgeslim import ir
from edgeslim._core.errors import DataError
from edgeslim.measure._bounds import quantization_error_bound
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize._model import float_onnx

pytestmark = pytest.mark.torch


def _inputs(digits: Any, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(3)
    uniform = rng.uniform(lo, hi, size=(256, *lo.shape))
    corners = np.where(rng.random((64, *lo.shape)) < 0.5, lo, hi)
    return np.concatenate([digits.x_test, uniform, corners]).astype(np.float32)


@pytest.mark.parametrize("fixture", ["digits_mlp", "digits_cnn", "digits_tcn"])
@pytest.mark.parametrize("method", ["affine", "best"])
def test_affine_bound_is_sound(
    request: pytest.FixtureRequest, digits: Any, fixture: str, method: str
) -> None:
    f, q = _pair(request.getfixturevalue(fixture), digits, per_channel=False)
    lo, hi = digits.x_train.min(axis=0), digits.x_train.max(axis=0)
    gq, gf = ir.from_onnx(q), ir.from_onnx(f)
    bound = quantization_error_bound(gq, gf, lo, hi, method=method)
    x = _inputs(digits, lo, hi)
    dev = _deviation(f, q, x)
    assert (dev <= np.asarray(bound.per_output)[None, :]).all()
    assert _adversarial(f, q, x[np.argsort(dev.max(axis=1))[-16:]], lo, hi) <= bound.max
    interval = quantization_error_bound(gq, gf, lo, hi, method="interval")
    if method == "best":
        assert (np.asarray(bound.per_output) <= np.asarray(interval.per_output) + 1e-9).all()


@pytest.mark.parametrize("fixture", ["digits_mlp", "digits_cnn"])
def test_affine_bound_is_tighter_around_a_point(
    request: pytest.FixtureRequest, digits: Any, fixture: str
) -> None:
    """Near one input the interval rule adds |W'| |e| layer after layer; zonotopes keep the
    signs, so the bound shrinks by an order of magnitude and still holds on samples."""
    f, q = _pair(request.getfixturevalue(fixture), digits)
    gq, gf = ir.from_onnx(q), ir.from_onnx(f)
    x0 = digits.x_test[3]
    lo, hi = x0 - 0.05, x0 + 0.05
    interval = quantization_error_bound(gq, gf, lo, hi, method="interval")
    best = quantization_error_bound(gq, gf, lo, hi)
    assert best.max < 0.3 * interval.max
    rng = np.random.default_rng(4)
    x = rng.uniform(lo, hi, size=(128, *lo.shape)).astype(np.float32)
    assert _deviation(f, q, x).max() <= best.max


def test_affine_bound_for_weight_only_int4(digits: Any, digits_mlp: Any) -> None:
    q = create("quantize.weight_only", {"bits": 4}).apply(digits_mlp, PassContext(digits, 0))
    f = float_onnx(digits_mlp, digits)
    lo, hi = digits.x_train.min(axis=0), digits.x_train.max(axis=0)
    gq, gf = ir.from_onnx(q.model.proto), ir.from_onnx(f)
    best = quantization_error_bound(gq, gf, lo, hi)
    interval = quantization_error_bound(gq, gf, lo, hi, method="interval")
    assert best.max < 0.7 * interval.max  # the weight error keeps its correlation with x
    x = _inputs(digits, lo, hi)
    assert (_deviation(f, q.model.proto, x) <= np.asarray(best.per_output)[None, :]).all()


def test_unknown_method_is_an_error(digits: Any, digits_mlp: Any) -> None:
    g = ir.from_onnx(float_onnx(digits_mlp, digits))
    with pytest.raises(DataError, match="method"):
        quantization_error_bound(g, g, 0.0, 1.0, method="zonotope")
