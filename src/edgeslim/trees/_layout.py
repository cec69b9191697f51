"""Branch probabilities and node orders for the C layouts.

* :func:`cover_from_data` - recount ``cover`` (the weight reaching each node) on a dataset, so
  branch probabilities come from the data the model will see.
* :func:`hot_left` - per node, whether the left child is at least as likely as the right; the
  if-else layout emits the likely child first (it falls through) and the array layout stores it
  right after its parent.
* :func:`array_order` - internal nodes in depth-first order, likely child first, so that the
  nodes a sample visits sit close together in memory.
* :func:`leaf_table` - unique leaf rows of an ensemble and each leaf's row (merged leaves).
"""

from __future__ import annotations

import numpy as np

from edgeslim.trees._ir import Tree, TreeEnsemble
from edgeslim.trees._predict import as_features, tree_leaves


def cover_from_data(ens: TreeEnsemble, x: np.ndarray) -> TreeEnsemble:
    """The ensemble with ``cover`` replaced by the number of rows of ``x`` reaching each node."""
    xf = as_features(x, ens.n_features)
    trees = []
    for t in ens.trees:
        counts = np.zeros(t.n_nodes)
        leaves = tree_leaves(t, xf)
        np.add.at(counts, leaves, 1.0)
        for n in reversed(t.preorder()):  # children before parents
            if t.feature[n] >= 0:
                counts[n] = counts[t.left[n]] + counts[t.right[n]]
        trees.append(t.with_arrays(cover=counts))
    return ens.with_trees(trees)


def hot_left(tree: Tree) -> np.ndarray:
    """Bool per node: the left child is at least as probable as the right (leaves: True)."""
    out = np.ones(tree.n_nodes, dtype=bool)
    internal = tree.feature >= 0
    left_cover = tree.cover[np.where(internal, tree.left, 0)]
    right_cover = tree.cover[np.where(internal, tree.right, 0)]
    out[internal] = left_cover[internal] >= right_cover[internal]
    return out


def array_order(tree: Tree, hot_first: bool = True) -> list[int]:
    """Internal node ids, depth-first, likely (or left) child first."""
    hot = hot_left(tree) if hot_first else np.ones(tree.n_nodes, dtype=bool)
    order: list[int] = []
    stack = [0] if tree.feature[0] >= 0 else []
    while stack:
        n = stack.pop()
        order.append(n)
        first, second = (tree.left[n], tree.right[n]) if hot[n] else (tree.right[n], tree.left[n])
        for child in (int(second), int(first)):
            if tree.feature[child] >= 0:
                stack.append(child)
    return order


def leaf_table(
    ens: TreeEnsemble, decimals: int | None = None
) -> tuple[np.ndarray, list[dict[int, int]]]:
    """Unique leaf rows (float64, shape (m, width_max)) and, per tree, leaf node -> row.

    Trees of different widths share one table padded with zeros. Identical rows (exactly, or
    after rounding to ``decimals``) are stored once.
    """
    width = max((t.width for t in ens.trees), default=1)
    rows: dict[bytes, int] = {}
    table: list[np.ndarray] = []
    maps: list[dict[int, int]] = []
    for t in ens.trees:
        m: dict[int, int] = {}
        for n in np.flatnonzero(t.is_leaf):
            row = np.zeros(width)
            row[: t.width] = t.value[n]
            key_row = np.round(row, decimals) if decimals is not None else row
            key = key_row.tobytes()
            if key not in rows:
                rows[key] = len(table)
                table.append(row)
            m[int(n)] = rows[key]
        maps.append(m)
    return (np.array(table) if table else np.zeros((0, width))), maps


def branch_probability_summary(ens: TreeEnsemble) -> dict[str, float]:
    """Mean probability of the likely branch and expected nodes visited per tree."""
    probs, visits = [], []
    for t in ens.trees:
        internal = np.flatnonzero(t.feature >= 0)
        if t.cover[0] <= 0:
            continue
        for n in internal:
            total = t.cover[n]
            if total > 0:
                probs.append(max(t.cover[t.left[n]], t.cover[t.right[n]]) / total)
        visits.append(float(t.cover[internal].sum() / t.cover[0]))
    return {
        "likely_branch_probability": float(np.mean(probs)) if probs else 0.5,
        "expected_splits_per_tree": float(np.mean(visits)) if visits else 0.0,
    }
