"""Reference prediction of the tree IR in numpy (float64 sums in tree order).

This is the Python twin of the generated C: tests compare both with the source framework.
"""

from __future__ import annotations

import numpy as np

from edgeslim._core.errors import DataError
from edgeslim.trees._ir import Objective, Transform, Tree, TreeEnsemble


def as_features(x: np.ndarray, n_features: int) -> np.ndarray:
    """Validate a 2-D float32 feature matrix (rows are samples)."""
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise DataError(f"features must have shape (n, {n_features}); got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def tree_leaves(tree: Tree, x: np.ndarray) -> np.ndarray:
    """Leaf node id reached by every row of ``x`` (float32, validated)."""
    node = np.zeros(len(x), dtype=np.int64)
    rows = np.arange(len(x))
    active = tree.feature[node] >= 0
    while np.any(active):
        r = rows[active]
        n = node[active]
        v = x[r, tree.feature[n]]
        go_left = np.where(np.isnan(v), tree.nan_left[n], v <= tree.threshold[n])
        node[active] = np.where(go_left, tree.left[n], tree.right[n])
        active = tree.feature[node] >= 0
    return node


def leaf_indices(ens: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    """Leaf ids, shape (n_samples, n_trees)."""
    xf = as_features(x, ens.n_features)
    return (
        np.stack([tree_leaves(t, xf) for t in ens.trees], axis=1)
        if ens.trees
        else np.zeros((len(xf), 0), dtype=np.int64)
    )


def raw_scores(ens: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    """Raw (pre-link) scores, shape (n_samples, n_outputs), float64."""
    xf = as_features(x, ens.n_features)
    acc = np.zeros((len(xf), ens.n_outputs), dtype=np.float64)
    for t in ens.trees:
        leaves = tree_leaves(t, xf)
        acc[:, t.output : t.output + t.width] += t.value[leaves]
    if ens.average and ens.n_trees:
        acc /= ens.n_trees
    return acc + np.asarray(ens.base_score, dtype=np.float64)


def apply_transform(ens: TreeEnsemble, raw: np.ndarray) -> np.ndarray:
    """Map raw scores to outputs: class probabilities (n, n_classes) or regression values."""
    if ens.transform is Transform.IDENTITY:
        return raw
    if ens.transform is Transform.EXP:
        return np.exp(raw)
    if ens.transform is Transform.SIGMOID:
        p = 1.0 / (1.0 + np.exp(-raw[:, :1]))
        return np.hstack([1.0 - p, p]) if ens.objective is Objective.CLASSIFICATION else p
    z = raw - raw.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict_proba(ens: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    if ens.objective is not Objective.CLASSIFICATION:
        raise DataError(
            f"predict_proba needs a classifier; {ens.source or 'model'} is a regressor"
        )
    return apply_transform(ens, raw_scores(ens, x))


def predict_index(ens: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    """Class index (classifiers; first maximum wins ties) or regression values."""
    raw = raw_scores(ens, x)
    if ens.objective is Objective.REGRESSION:
        out = apply_transform(ens, raw)
        return out[:, 0] if out.shape[1] == 1 else out
    if ens.transform is Transform.SIGMOID:
        return (raw[:, 0] > 0.0).astype(np.int64)
    return np.argmax(apply_transform(ens, raw), axis=1)


def predict(ens: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    """Like the source model's ``predict``: class labels or regression values."""
    out = predict_index(ens, x)
    if ens.objective is Objective.CLASSIFICATION:
        return np.asarray(ens.classes)[out]
    return out
