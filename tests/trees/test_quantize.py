"""Feature/threshold quantization: per-split proofs, and leaf quantization bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from edgeslim._core.errors import ExportError
from edgeslim.trees import (
    Coding,
    dequantize,
    from_sklearn,
    predict_index,
    predict_proba,
    quantize_features,
    quantize_leaves,
    raw_scores,
)


def test_integer_features_get_identity_grid(int_data) -> None:  # type: ignore[no-untyped-def]
    x, y = int_data
    ens = from_sklearn(RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y))
    _, fq = quantize_features(ens, x, 16)
    assert all(c.coding is Coding.GRID and c.offset == 0 and c.step == 1 for c in fq.codes)
    assert fq.exact and fq.split_exactness["proven"] == sum(
        int((t.feature >= 0).sum()) for t in ens.trees
    )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), bits=st.sampled_from([8, 16]))
def test_grid_codes_preserve_every_decision_on_the_grid(int_data, seed, bits) -> None:  # type: ignore[no-untyped-def]
    x, y = int_data
    ens = from_sklearn(
        RandomForestClassifier(n_estimators=3, max_depth=6, random_state=seed).fit(x, y)
    )
    qens, fq = quantize_features(ens, x, bits)
    if not fq.exact:
        return
    rng = np.random.default_rng(seed)
    lo, hi = x.min(axis=0), x.max(axis=0)
    grid = rng.integers(lo.astype(int) - 5, hi.astype(int) + 6, size=(200, x.shape[1]))
    grid = grid.astype(np.float32)
    np.testing.assert_array_equal(
        predict_index(qens, fq.encode(grid).astype(np.float32)), predict_index(ens, grid)
    )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_rank_codes_are_exact_for_any_real_input(cancer, seed) -> None:  # type: ignore[no-untyped-def]
    x, y = cancer
    ens = from_sklearn(
        RandomForestClassifier(n_estimators=4, max_depth=5, random_state=seed).fit(x, y)
    )
    qens, fq = quantize_features(ens, x, 8)
    assert {c.coding for c in fq.codes} <= {Coding.RANK, Coding.GRID}
    rng = np.random.default_rng(seed)
    xr = x[rng.integers(0, len(x), 100)] * rng.uniform(0.5, 1.5, (100, x.shape[1]))
    xr = xr.astype(np.float32)
    np.testing.assert_array_equal(
        predict_index(qens, fq.encode(xr).astype(np.float32)), predict_index(ens, xr)
    )


def test_lossy_codes_are_reported_not_hidden() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    ens = from_sklearn(RandomForestClassifier(n_estimators=30, random_state=0).fit(x, y))
    _, fq = quantize_features(ens, x, 8)
    assert any(c.coding is Coding.UNIFORM for c in fq.codes)
    assert not fq.exact
    assert fq.split_exactness["inexact"] + fq.split_exactness["empirical"] > 0


def test_bad_bits_are_rejected(rf_iris, iris) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ExportError, match="8 or 16"):
        quantize_features(from_sklearn(rf_iris), iris[0], 12)
    with pytest.raises(ExportError, match=r"2 \.\. 32"):
        quantize_leaves(from_sklearn(rf_iris), 1)


@settings(max_examples=25, deadline=None)
@given(
    bits=st.sampled_from([8, 16, 32]),
    seed=st.integers(0, 1000),
    kind=st.sampled_from(["rf", "gb"]),
)
def test_leaf_bound_holds(cancer, bits, seed, kind) -> None:  # type: ignore[no-untyped-def]
    x, y = cancer
    est = (
        RandomForestClassifier(n_estimators=6, random_state=seed)
        if kind == "rf"
        else GradientBoostingClassifier(n_estimators=15, random_state=seed)
    ).fit(x, y)
    ens = from_sklearn(est)
    qens, lq = quantize_leaves(ens, bits)
    approx = dequantize(qens, lq)
    assert all(np.all(t.value == np.rint(t.value)) for t in qens.trees)
    assert np.abs(raw_scores(approx, x) - raw_scores(ens, x)).max() <= lq.raw_bound * (1 + 1e-9)
    assert np.abs(predict_proba(approx, x) - predict_proba(ens, x)).max() <= lq.proba_bound
    # certified rows: a top-two margin above twice the bound cannot change class
    p = np.sort(predict_proba(ens, x), axis=1)
    certified = (p[:, -1] - p[:, -2]) > 2 * lq.proba_bound
    np.testing.assert_array_equal(
        predict_index(approx, x)[certified], predict_index(ens, x)[certified]
    )
