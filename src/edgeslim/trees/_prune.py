"""Ensemble pruning (drop trees, cap depth) and exact merging (identical children, subtrees).

* :func:`merge_identical` is exact: a split whose two children compute the same function is
  replaced by that child (repeated bottom-up). Identical subtrees *across* nodes are shared by
  the array layout (see :func:`subtree_signatures`).
* :func:`cap_depth` replaces subtrees below a depth by one leaf holding their cover-weighted
  mean (changes predictions; measured by :func:`pruning_curve`).
* :func:`select_trees` orders trees greedily by how well a prefix reproduces the full model on
  a validation set; :func:`pruning_curve` reports accuracy/agreement versus size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.trees._ir import Objective, Tree, TreeEnsemble
from edgeslim.trees._predict import apply_transform, as_features, tree_leaves


def _compact(
    tree: Tree,
    feature: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    value: np.ndarray,
    root: int = 0,
) -> Tree:
    """The tree of the nodes reachable from ``root`` through ``left``/``right`` (pre-order),
    where ``feature < 0`` marks leaves; unreachable nodes are dropped."""
    order, stack = [], [root]
    while stack:
        n = stack.pop()
        order.append(n)
        if feature[n] >= 0:
            stack += [int(right[n]), int(left[n])]
    new = np.full(tree.n_nodes, -1, dtype=np.int64)
    new[order] = np.arange(len(order))
    idx = np.array(order)
    internal = feature[idx] >= 0
    return Tree(
        feature=np.where(internal, feature[idx], -1),
        threshold=np.where(internal, tree.threshold[idx], 0),
        left=np.where(internal, new[left[idx]], -1),
        right=np.where(internal, new[right[idx]], -1),
        nan_left=tree.nan_left[idx] & internal,
        value=value[idx],
        cover=tree.cover[idx],
        output=tree.output,
    )


def subtree_signatures(tree: Tree) -> np.ndarray:
    """An integer per node; equal integers mean the subtrees compute the same function
    (same splits, same leaf values), by hash-consing bottom-up."""
    sig = np.full(tree.n_nodes, -1, dtype=np.int64)
    table: dict[tuple[object, ...], int] = {}
    for n in reversed(tree.preorder()):
        if tree.feature[n] < 0:
            key: tuple[object, ...] = ("leaf", tree.value[n].tobytes())
        else:
            key = (
                "split",
                int(tree.feature[n]),
                float(tree.threshold[n]),
                bool(tree.nan_left[n]),
                int(sig[tree.left[n]]),
                int(sig[tree.right[n]]),
            )
        sig[n] = table.setdefault(key, len(table))
    return sig


def merge_tree(tree: Tree) -> tuple[Tree, int]:
    """Replace every split with identical children by the child; return (tree, splits removed)."""
    sig = subtree_signatures(tree)

    def resolve(n: int) -> int:
        while tree.feature[n] >= 0 and sig[tree.left[n]] == sig[tree.right[n]]:
            n = int(tree.left[n])
        return n

    left, right = tree.left.copy(), tree.right.copy()
    for n in np.flatnonzero(tree.feature >= 0):
        left[n], right[n] = resolve(int(left[n])), resolve(int(right[n]))
    out = _compact(tree, tree.feature, left, right, tree.value, resolve(0))
    return out, (tree.n_nodes - out.n_nodes) // 2


def merge_identical(ens: TreeEnsemble) -> tuple[TreeEnsemble, int]:
    """Exact merge over all trees; returns the ensemble and the number of removed splits."""
    trees, total = [], 0
    for t in ens.trees:
        mt, k = merge_tree(t)
        trees.append(mt)
        total += k
    return ens.with_trees(trees), total


def cap_depth(ens: TreeEnsemble, depth: int) -> TreeEnsemble:
    """Cut every tree at ``depth``: a node at that depth becomes a leaf with the cover-weighted
    mean of its subtree's leaves (approximate; check with :func:`pruning_curve`)."""
    if depth < 0:
        raise ExportError(f"parameter depth of cap_depth must be >= 0; got {depth}")
    trees = []
    for t in ens.trees:
        d = t.depths()
        feature, value = t.feature.copy(), t.value.copy()
        for n in reversed(t.preorder()):
            if t.feature[n] >= 0:
                wl, wr = t.cover[t.left[n]], t.cover[t.right[n]]
                w = wl + wr
                value[n] = (
                    (value[t.left[n]] * wl + value[t.right[n]] * wr) / w
                    if w > 0
                    else (value[t.left[n]] + value[t.right[n]]) / 2
                )
        feature[(d == depth) & (t.feature >= 0)] = -1
        trees.append(_compact(t, feature, t.left, t.right, value))
    return ens.with_trees(trees)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    n_trees: int
    n_nodes: int
    accuracy: float | None
    agreement: float


def _tree_outputs(ens: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    """Per-tree contributions, shape (n_trees, n_samples, n_outputs)."""
    xf = as_features(x, ens.n_features)
    out = np.zeros((ens.n_trees, len(xf), ens.n_outputs))
    for i, t in enumerate(ens.trees):
        out[i][:, t.output : t.output + t.width] = t.value[tree_leaves(t, xf)]
    return out


def _decide(ens: TreeEnsemble, summed: np.ndarray, k: int) -> np.ndarray:
    raw = summed / (k if ens.average else 1) + np.asarray(ens.base_score)
    if ens.objective is Objective.REGRESSION:
        return apply_transform(ens, raw)
    return np.argmax(apply_transform(ens, raw), axis=1)


def select_trees(ens: TreeEnsemble, x_val: np.ndarray, k_max: int | None = None) -> list[int]:
    """Greedy forward selection: each step adds the tree that best reproduces the full model's
    predictions (agreement; regression: lowest squared error) on ``x_val``."""
    contrib = _tree_outputs(ens, x_val)
    target = _decide(ens, contrib.sum(axis=0), ens.n_trees)
    chosen: list[int] = []
    acc = np.zeros(contrib.shape[1:])
    for _ in range(min(k_max or ens.n_trees, ens.n_trees)):
        best, best_score = -1, -np.inf
        for i in range(ens.n_trees):
            if i in chosen:
                continue
            pred = _decide(ens, acc + contrib[i], len(chosen) + 1)
            score = (
                np.mean(pred == target)
                if ens.objective is Objective.CLASSIFICATION
                else -np.mean((pred - target) ** 2)
            )
            if score > best_score:
                best, best_score = i, score
        chosen.append(best)
        acc += contrib[best]
    return chosen


def pruning_curve(
    ens: TreeEnsemble,
    order: list[int],
    x: np.ndarray,
    y_index: np.ndarray | None,
    sizes: list[int],
) -> list[CurvePoint]:
    """Accuracy and agreement with the full model when keeping the first ``k`` of ``order``."""
    contrib = _tree_outputs(ens, x)
    full = _decide(ens, contrib.sum(axis=0), ens.n_trees)
    points = []
    for k in sizes:
        idx = order[:k]
        pred = _decide(ens, contrib[idx].sum(axis=0), k)
        cls = ens.objective is Objective.CLASSIFICATION
        agree = (
            float(np.mean(pred == full))
            if cls
            else float(np.mean(np.isclose(pred, full, rtol=1e-3)))
        )
        accuracy = float(np.mean(pred == y_index)) if (cls and y_index is not None) else None
        points.append(CurvePoint(k, sum(ens.trees[i].n_nodes for i in idx), accuracy, agree))
    return points


def keep_trees(ens: TreeEnsemble, order: list[int]) -> TreeEnsemble:
    """The ensemble of the trees in ``order`` (an averaging ensemble re-averages over them)."""
    if not order:
        raise ExportError("cannot keep zero trees")
    return ens.with_trees([ens.trees[i] for i in order])
