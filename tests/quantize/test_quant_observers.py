"""Observers observe, then compute; qparams cover the range and hold zero exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgeslim._core.errors import RecipeError
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize import OBSERVERS, make_observer, qparams

_values = arrays(
    np.float32,
    st.integers(8, 300),
    elements=st.floats(-50, 50, allow_nan=False, width=32),
)


@settings(max_examples=30, deadline=None)
@given(_values, st.sampled_from(sorted(OBSERVERS)))
def test_range_inside_observed_extremes_and_holds_zero(x: np.ndarray, name: str) -> None:
    obs = make_observer(name)
    before = x.copy()
    obs.observe(x[: len(x) // 2])
    obs.observe(x[len(x) // 2 :])
    lo, hi = obs.compute_range()
    np.testing.assert_array_equal(x, before)  # observing never touches the data
    assert min(float(x.min()), 0.0) - 1e-6 <= lo <= 0.0 <= hi <= max(float(x.max()), 0.0) + 1e-6


@settings(max_examples=40, deadline=None)
@given(
    st.floats(-100, 0, allow_nan=False),
    st.floats(0, 100, allow_nan=False),
    st.booleans(),
    st.sampled_from(["int8", "uint8"]),
)
def test_qparams_represent_zero_and_cover_range(
    lo: float, hi: float, symmetric: bool, dtype: str
) -> None:
    qp = qparams(np.asarray(lo), np.asarray(hi), dtype, symmetric=symmetric)
    assert qp.qmin <= int(qp.zero_point) <= qp.qmax
    s, z = float(qp.scale), int(qp.zero_point)
    assert s > 0
    # the extremes land inside the code range (up to one rounding step)
    assert qp.qmin - 1 <= round(lo / s) + z and round(hi / s) + z <= qp.qmax + 1
    if symmetric and dtype == "int8":
        assert z == 0


def test_minmax_is_extremes_and_clipping_observers_clip_outliers() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 20000), [80.0]]).astype(np.float32)
    ranges = {}
    for name in OBSERVERS:
        obs = make_observer(name)
        obs.observe(x)
        ranges[name] = obs.compute_range()
    assert ranges["minmax"][1] == pytest.approx(80.0)
    for name in ("percentile", "entropy"):
        assert ranges[name][1] < 40.0, name  # the outlier is clipped away
    assert _fake_quant_mse(x, ranges["mse"]) <= _fake_quant_mse(x, ranges["minmax"])


def test_mse_clips_a_heavy_tail() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_t(2, 50000).astype(np.float32)  # heavy tails: clipping pays
    obs = make_observer("mse")
    obs.observe(x)
    lo, hi = obs.compute_range()
    assert hi < float(x.max()) and lo > float(x.min())
    assert _fake_quant_mse(x, (lo, hi)) < _fake_quant_mse(x, (float(x.min()), float(x.max())))


def _fake_quant_mse(x: np.ndarray, rng: tuple[float, float]) -> float:
    qp = qparams(np.asarray(rng[0]), np.asarray(rng[1]), "uint8", symmetric=False)
    s, z = float(qp.scale), int(qp.zero_point)
    q = np.clip(np.rint(x / s) + z, 0, 255)
    return float(np.mean(((q - z) * s - x) ** 2))


def test_compute_before_observe_and_unknown_calibrator_fail() -> None:
    with pytest.raises(RecipeError, match="before it observed"):
        make_observer("minmax").compute_range()
    with pytest.raises(RecipeError, match="calibrator must be one of"):
        make_observer("histogram")


def test_per_channel_qparams_shape() -> None:
    qp = qparams(np.array([-1.0, -2.0, 0.0]), np.array([1.0, 0.5, 3.0]), "int8", symmetric=True)
    np.testing.assert_allclose(qp.scale, np.array([1.0, 2.0, 3.0]) / 127, rtol=1e-6)
    assert qp.zero_point.tolist() == [0, 0, 0]


def test_entropy_ignores_the_spike_of_exact_zeros() -> None:
    """Post-ReLU tensors are mostly exact zeros; zero is exact at every threshold, so the
    spike must not drag the KL threshold down (it clipped a DS-CNN layer to 6% of its range
    and the per-tensor model to 25% accuracy)."""
    rng = np.random.default_rng(0)
    x = np.where(rng.random(200_000) < 0.9, 0.0, rng.exponential(1.0, 200_000))
    obs = make_observer("entropy")
    obs.observe(x.astype(np.float32))
    lo, hi = obs.compute_range()
    assert lo == 0.0
    assert np.quantile(x[x > 0], 0.99) <= hi <= x.max()


@pytest.mark.torch
def test_entropy_per_tensor_keeps_the_dscnn(digits: Any, digits_dscnn: Any) -> None:
    from quant_helpers import accuracy

    from edgeslim.passes.quantize._model import float_onnx

    p = create("quantize.ptq", {"calibrator": "entropy", "per_channel": False})
    q = p.apply(digits_dscnn, PassContext(digits, seed=0)).model.proto
    assert accuracy(q, digits) >= accuracy(float_onnx(digits_dscnn, digits), digits) - 0.02
