"""The certified output-deviation bound is never exceeded: on the test set, on random inputs in
the input box, and on inputs searched adversarially to maximise the deviation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from quant_helpers import run_onnx

from edgeslim import ir
from edgeslim._core.records import Provenance
from edgeslim.measure._bounds import quantization_error_bound
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize._model import float_onnx

pytestmark = pytest.mark.torch


def _pair(model: Any, dataset: Any, **params: Any) -> tuple[Any, Any]:
    q = create("quantize.ptq", params).apply(model, PassContext(dataset, seed=0)).model.proto
    return float_onnx(model, dataset), q


def _deviation(f: Any, q: Any, x: np.ndarray) -> np.ndarray:
    return np.abs(run_onnx(f, x).astype(np.float64) - run_onnx(q, x).astype(np.float64))


def _adversarial(f: Any, q: Any, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Greedy random search in the box for the largest max |q(x) - f(x)|."""
    rng = np.random.default_rng(0)
    x = x0.copy()
    best = _deviation(f, q, x).max(axis=1)
    for step in range(40):
        scale = 0.3 * (hi - lo) * (0.9**step)
        cand = np.clip(x + rng.normal(size=x.shape) * scale, lo, hi).astype(np.float32)
        dev = _deviation(f, q, cand).max(axis=1)
        better = dev > best
        x[better], best[better] = cand[better], dev[better]
    return float(best.max())


@pytest.mark.parametrize("fixture", ["digits_cnn", "digits_mlp", "digits_tcn"])
@pytest.mark.parametrize("params", [{}, {"per_channel": False, "calibrator": "percentile"}])
def test_bound_never_exceeded(
    request: pytest.FixtureRequest, digits: Any, fixture: str, params: dict[str, Any]
) -> None:
    model = request.getfixturevalue(fixture)
    f, q = _pair(model, digits, **params)
    lo, hi = digits.x_train.min(axis=0), digits.x_train.max(axis=0)
    bound = quantization_error_bound(ir.from_onnx(q), ir.from_onnx(f), lo, hi)
    per_out = np.asarray(bound.per_output)
    rng = np.random.default_rng(1)
    uniform = rng.uniform(lo, hi, size=(256, *lo.shape))
    corners = np.where(rng.random((64, *lo.shape)) < 0.5, lo, hi)
    x = np.concatenate([digits.x_test, uniform, corners]).astype(np.float32)
    dev = _deviation(f, q, x)
    assert (dev <= per_out[None, :]).all()
    worst = x[np.argsort(dev.max(axis=1))[-16:]]
    assert _adversarial(f, q, worst, lo, hi) <= bound.max
    assert bound.max > 0


def test_bound_on_a_single_point_is_tighter_than_on_the_box(digits: Any, digits_mlp: Any) -> None:
    f, q = _pair(digits_mlp, digits)
    gf, gq = ir.from_onnx(f), ir.from_onnx(q)
    x0 = digits.x_test[0]
    point = quantization_error_bound(gq, gf, x0, x0)
    box = quantization_error_bound(gq, gf, digits.x_train.min(0), digits.x_train.max(0))
    assert point.max < box.max
    assert _deviation(f, q, x0[None].astype(np.float32)).max() <= point.max
    for lo_, hi_, v in zip(point.output_lo, point.output_hi, point.per_output, strict=True):
        assert lo_ <= hi_ and v >= 0


def test_bound_metric_is_marked_as_a_bound(digits: Any, digits_mlp: Any) -> None:
    f, q = _pair(digits_mlp, digits)
    b = quantization_error_bound(ir.from_onnx(q), ir.from_onnx(f), 0.0, 1.0)
    (metric,) = b.metrics("float")
    assert metric.provenance is Provenance.BOUND and metric.name == "output_deviation_bound"
    assert metric.value == pytest.approx(b.max)


def test_identical_graphs_have_a_near_zero_bound(digits: Any, digits_mlp: Any) -> None:
    f = ir.from_onnx(float_onnx(digits_mlp, digits))
    b = quantization_error_bound(f, f, digits.x_train.min(0), digits.x_train.max(0))
    assert b.max < 1e-2  # only the float32 slack remains


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("quantize.weight_only", {"bits": 4}),
        ("quantize.weight_only", {"bits": 2, "block": 16}),
        ("quantize.fp16", {}),
    ],
)
def test_bound_holds_for_weight_only_and_float16(
    digits: Any, digits_mlp: Any, name: str, params: dict[str, Any]
) -> None:
    q = create(name, params).apply(digits_mlp, PassContext(digits, seed=0)).model.proto
    f = float_onnx(digits_mlp, digits)
    lo, hi = digits.x_train.min(axis=0), digits.x_train.max(axis=0)
    bound = quantization_error_bound(ir.from_onnx(q), ir.from_onnx(f), lo, hi)
    rng = np.random.default_rng(2)
    x = np.concatenate([digits.x_test, rng.uniform(lo, hi, size=(256, *lo.shape))]).astype(
        np.float32
    )
    dev = _deviation(f, q, x)
    assert (dev <= np.asarray(bound.per_output)[None, :]).all()
    assert _adversarial(f, q, x[np.argsort(dev.max(axis=1))[-16:]], lo, hi) <= bound.max
