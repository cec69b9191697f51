"""Import LightGBM models from their native text format (``model.txt``); no LightGBM needed.

LightGBM's numerical decision, per node: NaN becomes 0.0 unless the node's missing type is NaN
(then NaN follows ``default_left``); then ``x <= threshold`` (float64) goes left. The IR keeps
exactly that for float32 inputs. Categorical splits, linear trees and the "zero as missing"
mode are not supported and raise :class:`UnsupportedOpError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeslim._core.errors import ModelError, UnsupportedOpError
from edgeslim.trees._ir import Objective, Transform, Tree, TreeEnsemble
from edgeslim.trees._thresholds import le_float64_to_f32

_IDENTITY = (
    "regression",
    "regression_l1",
    "huber",
    "fair",
    "quantile",
    "mape",
    "lambdarank",
    "rank_xendcg",
)
_EXP = ("poisson", "gamma", "tweedie")


def _blocks(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    head: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    cur = head
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Tree="):
            cur = {}
            trees.append(cur)
        elif line == "end of trees":
            break
        elif "=" in line:
            k, v = line.split("=", 1)
            cur[k] = v
        elif line and cur is head:
            head[line] = ""
    return head, trees


def _nums(block: dict[str, str], key: str, dtype: type) -> np.ndarray:
    raw = block.get(key, "").split()
    return np.array([float(v) for v in raw], dtype=np.float64).astype(dtype)


def _tree(block: dict[str, str], index: int, output: int, factor: float) -> Tree:
    n_leaves = int(block["num_leaves"])
    if int(block.get("num_cat", "0")) > 0:
        raise UnsupportedOpError("categorical split", f"Tree={index}", "the LightGBM importer")
    if block.get("is_linear", "0") not in ("0", ""):
        raise UnsupportedOpError("linear tree", f"Tree={index}", "the LightGBM importer")
    leaf_value = _nums(block, "leaf_value", np.float64) * factor
    leaf_count = _nums(block, "leaf_count", np.float64)
    if n_leaves == 1:
        cover = leaf_count if leaf_count.size else np.ones(1)
        return Tree(
            np.array([-1]),
            np.zeros(1),
            np.array([-1]),
            np.array([-1]),
            np.zeros(1, bool),
            leaf_value[:1, None],
            cover[:1],
            output,
        )
    m = n_leaves - 1  # internal nodes 0..m-1, leaf j -> node m + j
    decision = _nums(block, "decision_type", np.int64)
    if np.any(decision & 1):
        raise UnsupportedOpError("categorical split", f"Tree={index}", "the LightGBM importer")
    missing = (decision >> 2) & 3
    if np.any(missing == 1):
        raise UnsupportedOpError("zero-as-missing split", f"Tree={index}", "the LightGBM importer")
    threshold = _nums(block, "threshold", np.float64)
    default_left = (decision & 2) > 0
    nan_left = np.where(missing == 2, default_left, threshold >= 0.0)

    def node(c: np.ndarray) -> np.ndarray:
        return np.where(c >= 0, c, m + (-c - 1))

    n = m + n_leaves
    internal_count = _nums(block, "internal_count", np.float64)
    return Tree(
        feature=np.concatenate([_nums(block, "split_feature", np.int64), -np.ones(n_leaves)]),
        threshold=np.concatenate([le_float64_to_f32(threshold), np.zeros(n_leaves)]),
        left=np.concatenate([node(_nums(block, "left_child", np.int64)), -np.ones(n_leaves)]),
        right=np.concatenate([node(_nums(block, "right_child", np.int64)), -np.ones(n_leaves)]),
        nan_left=np.concatenate([nan_left, np.zeros(n_leaves, dtype=bool)]),
        value=np.concatenate([np.zeros(m), leaf_value])[:, None],
        cover=np.concatenate([internal_count, leaf_count]) if internal_count.size else np.ones(n),
        output=output,
    )


def _objective(spec: str, k: int) -> tuple[Objective, Transform, float]:
    name, *params = spec.split()
    opts = dict(p.split(":", 1) for p in params if ":" in p)
    if name in ("binary", "cross_entropy", "xentropy"):
        return Objective.CLASSIFICATION, Transform.SIGMOID, float(opts.get("sigmoid", 1.0))
    if name in ("multiclass", "softmax"):
        return Objective.CLASSIFICATION, Transform.SOFTMAX, 1.0
    if name in _EXP:
        return Objective.REGRESSION, Transform.EXP, 1.0
    if name in _IDENTITY or name.startswith("regression"):
        return Objective.REGRESSION, Transform.IDENTITY, 1.0
    raise UnsupportedOpError(f"objective {name}", "model", "the LightGBM importer")


def from_lightgbm_text(text: str, classes: tuple[Any, ...] = ()) -> TreeEnsemble:
    """Convert the text of a LightGBM model file (``Booster.model_to_string()``)."""
    head, blocks = _blocks(text)
    if "version" not in head or not blocks:
        raise ModelError("not a LightGBM text model (no 'version' header or no trees)")
    k = int(head.get("num_tree_per_iteration", "1"))
    objective, transform, factor = _objective(head.get("objective", "regression"), k)
    trees = tuple(_tree(b, i, i % k, factor) for i, b in enumerate(blocks))
    n_features = int(head["max_feature_idx"]) + 1
    names = tuple(head.get("feature_names", "").split())
    if objective is Objective.CLASSIFICATION and not classes:
        classes = tuple(range(max(k, 2)))
    return TreeEnsemble(
        trees=trees,
        n_features=n_features,
        n_outputs=k,
        objective=objective,
        transform=transform,
        base_score=(0.0,) * k,
        average="average_output" in head,
        classes=classes,
        feature_names=names if len(names) == n_features else (),
        source="lightgbm",
        meta={"lightgbm_version": head.get("version", "")},
    )


def from_lightgbm(model: Any) -> TreeEnsemble:
    """A ``lightgbm.Booster`` or a fitted ``LGBMModel`` (needs lightgbm installed)."""
    booster = getattr(model, "booster_", model)
    classes = tuple(np.asarray(getattr(model, "classes_", ())).tolist())
    return from_lightgbm_text(booster.model_to_string(), classes)
