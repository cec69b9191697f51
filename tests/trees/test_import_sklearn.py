"""scikit-learn importers: the IR's reference prediction equals the estimator's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import ensemble as E
from sklearn import tree as T

from edgeslim._core.errors import ModelError, UnsupportedOpError
from edgeslim.trees import Objective, from_sklearn, predict, predict_proba

CLASSIFIERS = [
    lambda: E.RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0),
    lambda: E.ExtraTreesClassifier(n_estimators=10, random_state=0),
    lambda: E.GradientBoostingClassifier(n_estimators=10, random_state=0),
    lambda: E.GradientBoostingClassifier(n_estimators=10, loss="exponential", random_state=0),
    lambda: E.HistGradientBoostingClassifier(max_iter=10, random_state=0),
    lambda: T.DecisionTreeClassifier(max_depth=6, random_state=0),
]
REGRESSORS = [
    lambda: E.RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
    lambda: E.ExtraTreesRegressor(n_estimators=10, random_state=0),
    lambda: E.GradientBoostingRegressor(n_estimators=20, random_state=0),
    lambda: E.HistGradientBoostingRegressor(max_iter=20, random_state=0),
    lambda: E.HistGradientBoostingRegressor(max_iter=20, loss="poisson", random_state=0),
]


@pytest.mark.parametrize("make", CLASSIFIERS)
@pytest.mark.parametrize("data", ["iris", "cancer"])
def test_classifier_matches(make, data, request) -> None:  # type: ignore[no-untyped-def]
    x, y = request.getfixturevalue(data)
    est = make()
    if (
        isinstance(est, E.GradientBoostingClassifier)
        and est.loss == "exponential"
        and data == "iris"
    ):
        pytest.skip("exponential loss is binary only")
    est.fit(x, y)
    ens = from_sklearn(est)
    assert ens.objective is Objective.CLASSIFICATION
    np.testing.assert_array_equal(predict(ens, x), est.predict(x))
    np.testing.assert_allclose(predict_proba(ens, x), est.predict_proba(x), atol=1e-12)


@pytest.mark.parametrize("make", REGRESSORS)
def test_regressor_matches(make, diabetes) -> None:  # type: ignore[no-untyped-def]
    x, y = diabetes
    est = make().fit(x, y - y.min() + 1)
    ens = from_sklearn(est)
    np.testing.assert_allclose(predict(ens, x), est.predict(x), rtol=1e-12, atol=1e-9)


def test_nan_routing_matches(cancer) -> None:  # type: ignore[no-untyped-def]
    x, y = cancer
    xn = x.copy()
    xn[::5, 0] = np.nan
    xn[::7, 7] = np.nan
    for est in (
        E.RandomForestClassifier(n_estimators=5, random_state=0),
        E.HistGradientBoostingClassifier(max_iter=10),
    ):
        est.fit(xn, y)
        np.testing.assert_array_equal(predict(from_sklearn(est), xn), est.predict(xn))


def test_unfitted_model_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="not fitted"):
        from_sklearn(E.RandomForestClassifier())


def test_unsupported_estimator_names_it() -> None:
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(UnsupportedOpError, match="LogisticRegression"):
        from_sklearn(LogisticRegression())


def test_thresholds_reproduce_float64_compare() -> None:
    from edgeslim.trees._thresholds import le_float64_to_f32, lt_f32_to_le

    t64 = np.array([0.1, -0.1, 1e40, -1e40, 2.5, 0.0])
    t32 = le_float64_to_f32(t64)
    xs = np.float32([0.1, -0.1, 2.5, 3.4e38, -3.4e38, 0.0, -0.0])
    for t, c in zip(t64, t32, strict=True):
        assert np.array_equal(xs.astype(np.float64) <= t, xs <= c)
    lt = lt_f32_to_le(np.float32([1.0]))[0]
    assert lt < 1.0 and np.nextafter(lt, np.float32(2)) == np.float32(1.0)
