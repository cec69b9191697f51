"""Train a tree ensemble from a small recipe on bundled tabular data (no download).

``train("rf", "breast-cancer", n_estimators=30, max_depth=8)`` returns the fitted model and its
train/test split. Datasets come with scikit-learn; ``anchor-int16`` is the integer-valued
16-feature, 4-class problem of the project's tree anchors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgeslim._core.errors import DataError, ModelError

Loader = Callable[[int], tuple[np.ndarray, np.ndarray, bool]]  # seed -> X, y, classification


def _sk(name: str, classification: bool) -> Loader:
    def load(seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
        from sklearn import datasets

        x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        return x, y, classification

    return load


def _anchor(seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=12000,
        n_features=16,
        n_informative=10,
        n_classes=4,
        n_clusters_per_class=2,
        random_state=seed,
    )
    return np.round(x * 1000).astype(np.int16).astype(np.float32), y, True


def _synthetic_regression(seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    from sklearn.datasets import make_regression

    x, y = make_regression(n_samples=4000, n_features=12, noise=5.0, random_state=seed)
    return x, y, False


DATASETS: dict[str, Loader] = {
    "iris": _sk("iris", True),
    "wine": _sk("wine", True),
    "breast-cancer": _sk("breast_cancer", True),
    "digits": _sk("digits", True),
    "diabetes": _sk("diabetes", False),
    "anchor-int16": _anchor,
    "synthetic-regression": _synthetic_regression,
}


def _estimator(kind: str, classification: bool, seed: int, params: dict[str, Any]) -> Any:
    from sklearn import ensemble as E

    table: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
        "rf": (E.RandomForestClassifier, E.RandomForestRegressor),
        "extra-trees": (E.ExtraTreesClassifier, E.ExtraTreesRegressor),
        "gb": (E.GradientBoostingClassifier, E.GradientBoostingRegressor),
        "hgb": (E.HistGradientBoostingClassifier, E.HistGradientBoostingRegressor),
    }
    if kind == "lightgbm":
        import lightgbm

        cls = lightgbm.LGBMClassifier if classification else lightgbm.LGBMRegressor
        return cls(random_state=seed, verbose=-1, **params)
    if kind == "xgboost":
        import xgboost

        cls = xgboost.XGBClassifier if classification else xgboost.XGBRegressor
        return cls(random_state=seed, **params)
    if kind not in table:
        raise ModelError(
            f"unknown model kind {kind!r}; known: {', '.join([*table, 'lightgbm', 'xgboost'])}"
        )
    if kind == "hgb" and "n_estimators" in params:
        params = dict(params, max_iter=params.pop("n_estimators"))
    return table[kind][0 if classification else 1](random_state=seed, **params)


def train(
    kind: str, dataset: str, seed: int = 0, test_fraction: float = 0.5, **params: Any
) -> tuple[Any, dict[str, np.ndarray]]:
    """Fit ``kind`` on ``dataset``; return the model and float32 train/test arrays."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; known: {', '.join(sorted(DATASETS))}")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1); got {test_fraction}")
    x, y, classification = DATASETS[dataset](seed)
    x = np.asarray(x, dtype=np.float32)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x)) if dataset != "anchor-int16" else np.arange(len(x))
    n_test = round(len(x) * test_fraction)
    tr, te = order[: len(x) - n_test], order[len(x) - n_test :]
    params = {k: v for k, v in params.items() if v is not None}
    model = _estimator(kind, classification, seed, params)
    model.fit(x[tr], y[tr])
    return model, {"x_train": x[tr], "y_train": y[tr], "x_test": x[te], "y_test": y[te]}
