"""Generated C compiled on the host (-std=c99 -Wall -Wextra -Werror) against the source model.

Exactness contract: unquantized and threshold-quantized exports predict the same classes as
the source model on every test row, with probabilities within 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import ensemble as E

from edgeslim.codegen.trees import CTreeOptions, render_trees_c
from edgeslim.codegen.trees.compiled import CompiledTrees
from edgeslim.trees import from_sklearn, predict_index, quantize_features, raw_scores

pytestmark = pytest.mark.toolchain("cc")

MODELS = {
    "rf": lambda n, d, s: E.RandomForestClassifier(n_estimators=n, max_depth=d, random_state=s),
    "et": lambda n, d, s: E.ExtraTreesClassifier(n_estimators=n, max_depth=d, random_state=s),
    "gb": lambda n, d, s: E.GradientBoostingClassifier(
        n_estimators=n, max_depth=min(d, 4), random_state=s
    ),
    "hgb": lambda n, d, s: E.HistGradientBoostingClassifier(
        max_iter=n, max_depth=d, random_state=s
    ),
}


def _check(est, x, compiled: CompiledTrees) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_array_equal(est.classes_[compiled.predict_index(x)], est.predict(x))
    err = np.abs(compiled.predict_proba(x) - est.predict_proba(x)).max()
    assert err <= 1e-6, f"probability error {err}"


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(sorted(MODELS)),
    n=st.integers(1, 12),
    depth=st.integers(1, 7),
    seed=st.integers(0, 2**16),
    layout=st.sampled_from(["ifelse", "array"]),
    quant=st.sampled_from([0, 16, 8]),
    acc=st.sampled_from(["float", "double"]),
    compare=st.sampled_from(["float", "int"]),
    data=st.sampled_from(["iris", "cancer", "int_data"]),
)
def test_export_agrees_with_sklearn(
    request, kind, n, depth, seed, layout, quant, acc, compare, data
) -> None:  # type: ignore[no-untyped-def]
    x, y = request.getfixturevalue(data)
    est = MODELS[kind](n, depth, seed).fit(x, y)
    ens = from_sklearn(est)
    features = None
    if quant:
        ens, features = quantize_features(ens, x, quant)
        if not features.exact:
            return  # lossy codes are reported as such; exactness is claimed only when proven
    art = render_trees_c(
        ens, CTreeOptions(layout=layout, accumulate=acc, compare=compare), features
    )
    with CompiledTrees.build(art) as c:
        _check(est, x, c)


@pytest.fixture(scope="module")
def compiled_rf(cancer):  # type: ignore[no-untyped-def]
    x, y = cancer
    est = E.RandomForestClassifier(n_estimators=15, max_depth=8, random_state=1).fit(x, y)
    ens = from_sklearn(est)
    art = render_trees_c(ens, CTreeOptions(layout="ifelse", accumulate="double"), batch=True)
    with CompiledTrees.build(art) as c:
        yield est, ens, c


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.1, 3.0))
def test_random_inputs_match_reference(compiled_rf, cancer, seed, scale) -> None:  # type: ignore[no-untyped-def]
    est, ens, c = compiled_rf
    x, _ = cancer
    rng = np.random.default_rng(seed)
    lo, hi = x.min(axis=0), x.max(axis=0)
    mid, half = (lo + hi) / 2, (hi - lo) / 2 * scale
    xr = (mid + rng.uniform(-1, 1, size=(64, x.shape[1])) * half).astype(np.float32)
    np.testing.assert_array_equal(c.predict_index(xr), predict_index(ens, xr))
    np.testing.assert_array_equal(est.classes_[c.predict_index(xr)], est.predict(xr))
    np.testing.assert_allclose(c.raw(xr), raw_scores(ens, xr), atol=1e-12)
    np.testing.assert_allclose(c.raw(xr, batch=True), c.raw(xr), atol=0)


def test_regression_double_is_bit_exact(diabetes) -> None:  # type: ignore[no-untyped-def]
    x, y = diabetes
    for est in (
        E.GradientBoostingRegressor(n_estimators=30, random_state=0),
        E.RandomForestRegressor(n_estimators=5, random_state=0),
    ):
        est.fit(x, y)
        for layout in ("ifelse", "array"):
            art = render_trees_c(
                from_sklearn(est), CTreeOptions(layout=layout, accumulate="double")
            )
            with CompiledTrees.build(art) as c:
                np.testing.assert_allclose(c.predict_index(x), est.predict(x), rtol=1e-12)


def test_sanitizers_find_nothing(rf_iris, iris) -> None:  # type: ignore[no-untyped-def]
    x, _ = iris
    ens, features = quantize_features(from_sklearn(rf_iris), x, 16)
    for layout in ("ifelse", "array"):
        art = render_trees_c(ens, CTreeOptions(layout=layout), features)
        with CompiledTrees.build(art) as c:
            out = c.run_sanitized(x)
            np.testing.assert_array_equal(out["cls"], c.predict_index(x))
            np.testing.assert_allclose(out["proba"], c.predict_proba(x))
