"""Import scikit-learn tree ensembles (forests, extra trees, gradient boosting, histogram GB).

Each converter reads the fitted estimator's public ``tree_`` arrays (or the histogram predictors)
and produces a :class:`TreeEnsemble` whose reference prediction equals the estimator's
``predict``/``predict_proba`` for float32 inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgeslim._core.errors import ModelError, UnsupportedOpError
from edgeslim.trees._ir import Objective, Transform, Tree, TreeEnsemble
from edgeslim.trees._thresholds import le_float64_to_f32

Converter = Callable[[Any], TreeEnsemble]


def _cart_tree(est: Any, classifier: bool, scale: float = 1.0, output: int = 0) -> Tree:
    """A fitted sklearn ``DecisionTree*`` (its ``tree_``) as an IR tree."""
    t = est.tree_
    internal = t.children_left >= 0
    feature = np.where(internal, t.feature, -1)
    threshold = np.where(internal, le_float64_to_f32(t.threshold), np.float32(0))
    if classifier:
        if t.n_outputs != 1:
            raise UnsupportedOpError(
                "multi-output classification", type(est).__name__, "the tree importer"
            )
        value = np.array(t.value[:, 0, :], dtype=np.float64)
        norm = value.sum(axis=1, keepdims=True)
        norm[norm == 0.0] = 1.0
        value = value / norm  # exactly what DecisionTreeClassifier.predict_proba computes
    else:
        value = np.array(t.value[:, :, 0], dtype=np.float64) * scale
    nan_left = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
    return Tree(
        feature=feature,
        threshold=threshold,
        left=np.where(internal, t.children_left, -1),
        right=np.where(internal, t.children_right, -1),
        nan_left=np.asarray(nan_left, dtype=bool) & internal,
        value=value,
        cover=np.asarray(t.weighted_n_node_samples, dtype=np.float64),
        output=output,
    )


def _names(est: Any) -> tuple[str, ...]:
    names = getattr(est, "feature_names_in_", None)
    return tuple(str(n) for n in names) if names is not None else ()


def _forest(est: Any) -> TreeEnsemble:
    from sklearn.base import is_classifier

    classifier = is_classifier(est)
    members = list(getattr(est, "estimators_", [est]))
    trees = tuple(_cart_tree(m, classifier) for m in members)
    width = trees[0].width
    single = not hasattr(est, "estimators_")
    return TreeEnsemble(
        trees=trees,
        n_features=int(est.n_features_in_),
        n_outputs=width,
        objective=Objective.CLASSIFICATION if classifier else Objective.REGRESSION,
        transform=Transform.IDENTITY,
        base_score=(0.0,) * width,
        average=not single,
        classes=tuple(np.asarray(est.classes_).tolist()) if classifier else (),
        feature_names=_names(est),
        source=f"sklearn.{type(est).__name__}",
    )


def _gb_link(est: Any, classifier: bool, k: int) -> tuple[Transform, float]:
    """Link function and the factor folded into the raw score (2 for exponential loss)."""
    loss = getattr(est, "loss", "")
    if not classifier:
        return Transform.IDENTITY, 1.0
    if loss == "exponential":
        return Transform.SIGMOID, 2.0
    return (Transform.SIGMOID if k == 1 else Transform.SOFTMAX), 1.0


def _gradient_boosting(est: Any) -> TreeEnsemble:
    from sklearn.base import is_classifier
    from sklearn.dummy import DummyClassifier, DummyRegressor

    classifier = is_classifier(est)
    if not (est.init_ == "zero" or isinstance(est.init_, DummyClassifier | DummyRegressor)):
        raise UnsupportedOpError(
            f"init={type(est.init_).__name__}",
            type(est).__name__,
            "the tree importer (only constant init models)",
        )
    n_features = int(est.n_features_in_)
    stages, k = est.estimators_.shape
    transform, factor = _gb_link(est, classifier, k)
    base = est._raw_predict_init(np.zeros((1, n_features), dtype=np.float32))[0] * factor
    lr = float(est.learning_rate) * factor
    trees = tuple(
        _cart_tree(est.estimators_[s, j], False, lr, output=j)
        for s in range(stages)
        for j in range(k)
    )
    return TreeEnsemble(
        trees=trees,
        n_features=n_features,
        n_outputs=k,
        objective=Objective.CLASSIFICATION if classifier else Objective.REGRESSION,
        transform=transform,
        base_score=tuple(float(b) for b in base),
        classes=tuple(np.asarray(est.classes_).tolist()) if classifier else (),
        feature_names=_names(est),
        source=f"sklearn.{type(est).__name__}",
    )


def _hist_tree(pred: Any, output: int) -> Tree:
    nodes = pred.nodes
    if np.any(nodes["is_categorical"]):
        raise UnsupportedOpError("categorical split", "HistGradientBoosting", "the tree importer")
    leaf = nodes["is_leaf"].astype(bool)
    return Tree(
        feature=np.where(leaf, -1, nodes["feature_idx"]),
        threshold=np.where(leaf, np.float32(0), le_float64_to_f32(nodes["num_threshold"])),
        left=np.where(leaf, -1, nodes["left"].astype(np.int64)),
        right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
        nan_left=nodes["missing_go_to_left"].astype(bool) & ~leaf,
        value=np.asarray(nodes["value"], dtype=np.float64),
        cover=np.asarray(nodes["count"], dtype=np.float64),
        output=output,
    )


def _hist_gradient_boosting(est: Any) -> TreeEnsemble:
    from sklearn.base import is_classifier

    classifier = is_classifier(est)
    k = int(est.n_trees_per_iteration_)
    if classifier:
        transform = Transform.SIGMOID if k == 1 else Transform.SOFTMAX
    elif est.loss in ("poisson", "gamma"):
        transform = Transform.EXP
    else:
        transform = Transform.IDENTITY
    trees = tuple(_hist_tree(p, j) for it in est._predictors for j, p in enumerate(it))
    base = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
    return TreeEnsemble(
        trees=trees,
        n_features=int(est.n_features_in_),
        n_outputs=k,
        objective=Objective.CLASSIFICATION if classifier else Objective.REGRESSION,
        transform=transform,
        base_score=tuple(float(b) for b in np.broadcast_to(base, (k,))),
        classes=tuple(np.asarray(est.classes_).tolist()) if classifier else (),
        feature_names=_names(est),
        source=f"sklearn.{type(est).__name__}",
    )


def sklearn_converters() -> list[tuple[type, Converter]]:
    """(estimator type, converter) pairs, checked with ``isinstance`` in order."""
    from sklearn import ensemble as E
    from sklearn import tree as T

    return [
        (E.RandomForestClassifier, _forest),
        (E.RandomForestRegressor, _forest),
        (E.ExtraTreesClassifier, _forest),
        (E.ExtraTreesRegressor, _forest),
        (T.DecisionTreeClassifier, _forest),  # also ExtraTreeClassifier
        (T.DecisionTreeRegressor, _forest),
        (E.GradientBoostingClassifier, _gradient_boosting),
        (E.GradientBoostingRegressor, _gradient_boosting),
        (E.HistGradientBoostingClassifier, _hist_gradient_boosting),
        (E.HistGradientBoostingRegressor, _hist_gradient_boosting),
    ]


def from_sklearn(est: Any) -> TreeEnsemble:
    """Convert a fitted scikit-learn tree model to the IR."""
    for kind, convert in sklearn_converters():
        if isinstance(est, kind):
            if not hasattr(est, "n_features_in_"):
                raise ModelError(f"{type(est).__name__} is not fitted")
            return convert(est)
    raise UnsupportedOpError(type(est).__name__, "model", "the scikit-learn tree importer")
