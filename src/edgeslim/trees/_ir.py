"""The tree-ensemble IR: one frozen record for every supported framework.

Semantics (the contract every importer, pass and code generator keeps):

* A node ``n`` is a leaf iff ``feature[n] < 0``. At an internal node the sample goes to
  ``left[n]`` iff ``float32(x[feature[n]]) <= threshold[n]``; NaN goes left iff ``nan_left[n]``.
  Thresholds are float32 values, converted at import so that this single comparison reproduces
  the source framework's own test (``<=`` on float64, ``<`` on float32 ...) for float32 inputs.
* A tree adds ``value[leaf]`` (a row of ``width`` numbers) to outputs
  ``output .. output + width - 1``.
* ``raw = base_score + sum_t tree_t(x) / (n_trees if average else 1)``, summed in float64 in
  tree order; ``transform`` maps raw scores to probabilities or predictions.
* ``cover[n]`` is the training weight that reached node ``n``; it gives branch probabilities.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

import numpy as np

from edgeslim._core.errors import ModelError


class Objective(enum.StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class Transform(enum.StrEnum):
    """Link from raw scores to outputs."""

    IDENTITY = "identity"  # regression, or random-forest class probabilities
    SIGMOID = "sigmoid"  # binary classification, one raw score
    SOFTMAX = "softmax"  # multi-class boosting, one raw score per class
    EXP = "exp"  # Poisson / Gamma / Tweedie regression


def _frozen(a: np.ndarray, dtype: type) -> np.ndarray:
    out: np.ndarray = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Tree:
    """One decision tree in flat arrays (see the module docstring for the semantics)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    nan_left: np.ndarray
    value: np.ndarray
    cover: np.ndarray
    output: int = 0

    def __post_init__(self) -> None:
        n = len(self.feature)
        value = np.asarray(self.value, dtype=np.float64)
        if value.ndim == 1:
            value = value[:, None]
        object.__setattr__(self, "feature", _frozen(self.feature, np.int32))
        object.__setattr__(self, "threshold", _frozen(self.threshold, np.float32))
        object.__setattr__(self, "left", _frozen(self.left, np.int32))
        object.__setattr__(self, "right", _frozen(self.right, np.int32))
        object.__setattr__(self, "nan_left", _frozen(self.nan_left, np.bool_))
        object.__setattr__(self, "value", _frozen(value, np.float64))
        object.__setattr__(self, "cover", _frozen(self.cover, np.float64))
        for name in ("threshold", "left", "right", "nan_left", "cover"):
            if len(getattr(self, name)) != n:
                raise ModelError(
                    f"tree array {name!r} has {len(getattr(self, name))} rows; want {n}"
                )
        if len(self.value) != n or n == 0:
            raise ModelError(f"tree array 'value' has {len(self.value)} rows; want {n} (> 0)")

    @property
    def n_nodes(self) -> int:
        return len(self.feature)

    @property
    def width(self) -> int:
        return int(self.value.shape[1])

    @property
    def is_leaf(self) -> np.ndarray:
        return self.feature < 0

    @property
    def n_leaves(self) -> int:
        return int(self.is_leaf.sum())

    def depths(self) -> np.ndarray:
        """Depth of every node (root 0); nodes unreachable from the root get -1."""
        depth = np.full(self.n_nodes, -1, dtype=np.int64)
        depth[0] = 0
        for n in self.preorder():
            if self.feature[n] >= 0:
                depth[self.left[n]] = depth[n] + 1
                depth[self.right[n]] = depth[n] + 1
        return depth

    @property
    def max_depth(self) -> int:
        return int(self.depths().max())

    def preorder(self) -> list[int]:
        """Node ids reachable from the root, parents before children, left before right."""
        order: list[int] = []
        stack = [0]
        while stack:
            n = stack.pop()
            order.append(n)
            if self.feature[n] >= 0:
                stack.append(int(self.right[n]))
                stack.append(int(self.left[n]))
        return order

    def with_arrays(self, **arrays: object) -> Tree:
        """A copy with some arrays (or ``output``) replaced."""
        return replace(self, **arrays)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, eq=False)
class TreeEnsemble:
    """A trained ensemble of decision trees plus how their outputs combine."""

    trees: tuple[Tree, ...]
    n_features: int
    n_outputs: int
    objective: Objective
    transform: Transform
    base_score: tuple[float, ...]
    average: bool = False
    classes: tuple[object, ...] = ()
    feature_names: tuple[str, ...] = ()
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trees", tuple(self.trees))
        object.__setattr__(self, "base_score", tuple(float(b) for b in self.base_score))
        object.__setattr__(self, "objective", Objective(self.objective))
        object.__setattr__(self, "transform", Transform(self.transform))
        check_ensemble(self)

    @property
    def n_trees(self) -> int:
        return len(self.trees)

    @property
    def n_nodes(self) -> int:
        return sum(t.n_nodes for t in self.trees)

    @property
    def n_leaves(self) -> int:
        return sum(t.n_leaves for t in self.trees)

    @property
    def max_depth(self) -> int:
        return max((t.max_depth for t in self.trees), default=0)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def with_trees(self, trees: tuple[Tree, ...] | list[Tree], **changes: object) -> TreeEnsemble:
        """A copy with other trees (and optionally other fields)."""
        return replace(self, trees=tuple(trees), **changes)  # type: ignore[arg-type]

    def summary(self) -> dict[str, object]:
        return {
            "source": self.source,
            "objective": self.objective.value,
            "transform": self.transform.value,
            "n_trees": self.n_trees,
            "n_nodes": self.n_nodes,
            "n_leaves": self.n_leaves,
            "max_depth": self.max_depth,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "n_classes": self.n_classes,
        }


def check_ensemble(ens: TreeEnsemble) -> None:
    """Raise :class:`ModelError` naming the tree and node if the IR is inconsistent."""
    if ens.n_features <= 0 or ens.n_outputs <= 0:
        raise ModelError(
            f"ensemble needs n_features, n_outputs > 0; got {ens.n_features}, {ens.n_outputs}"
        )
    if len(ens.base_score) != ens.n_outputs:
        raise ModelError(f"base_score has {len(ens.base_score)} entries; want {ens.n_outputs}")
    if ens.objective is Objective.CLASSIFICATION and ens.n_classes < 2:
        raise ModelError("a classifier needs at least 2 classes")
    for i, t in enumerate(ens.trees):
        _check_tree(t, i, ens.n_features, ens.n_outputs)


def _check_tree(t: Tree, i: int, n_features: int, n_outputs: int) -> None:
    internal = t.feature >= 0
    if np.any(t.feature >= n_features):
        raise ModelError(f"tree {i} uses feature {int(t.feature.max())}; model has {n_features}")
    n = t.n_nodes
    kids = np.concatenate([t.left[internal], t.right[internal]])
    if kids.size and (kids.min() <= 0 or kids.max() >= n):
        raise ModelError(f"tree {i} has a child index out of range [1, {n})")
    if len(np.unique(kids)) != kids.size:
        raise ModelError(f"tree {i} is not a tree: a node has two parents")
    if t.output < 0 or t.output + t.width > n_outputs:
        raise ModelError(
            f"tree {i} writes outputs {t.output}..{t.output + t.width - 1}; model has {n_outputs}"
        )
    if not np.all(np.isfinite(t.value[~internal])):
        raise ModelError(f"tree {i} has a non-finite leaf value")
    if np.any(np.isnan(t.threshold[internal])):
        raise ModelError(f"tree {i} has a NaN threshold")
