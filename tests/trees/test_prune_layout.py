"""Pruning, exact merging, branch probabilities and node orders."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier

from edgeslim.trees import (
    Objective,
    Transform,
    Tree,
    TreeEnsemble,
    array_order,
    cover_from_data,
    from_sklearn,
    hot_left,
    predict_index,
)
from edgeslim.trees._prune import (
    cap_depth,
    keep_trees,
    merge_identical,
    pruning_curve,
    select_trees,
)


def stump(values: tuple[float, float]) -> Tree:
    return Tree(
        feature=[0, -1, -1],
        threshold=[0.5, 0, 0],
        left=[1, -1, -1],
        right=[2, -1, -1],
        nan_left=[False] * 3,
        value=[[0.0], [values[0]], [values[1]]],
        cover=[2, 1, 1],
    )


def regressor(trees: list[Tree]) -> TreeEnsemble:
    return TreeEnsemble(
        trees=tuple(trees),
        n_features=2,
        n_outputs=1,
        objective=Objective.REGRESSION,
        transform=Transform.IDENTITY,
        base_score=(0.0,),
    )


def test_merge_collapses_identical_children_exactly() -> None:
    # root splits on x0; both children split on x1 at 0.5 into the same leaves -> root removable
    t = Tree(
        feature=[0, 1, -1, -1, 1, -1, -1],
        threshold=[0, 0.5, 0, 0, 0.5, 0, 0],
        left=[1, 2, -1, -1, 5, -1, -1],
        right=[4, 3, -1, -1, 6, -1, -1],
        nan_left=[False] * 7,
        value=[[0], [0], [1], [2], [0], [1], [2]],
        cover=[4, 2, 1, 1, 2, 1, 1],
    )
    ens = regressor([t, stump(values=(3.0, 3.0))])
    merged, removed = merge_identical(ens)
    assert removed == 3  # the root of tree 0 and the stump
    assert merged.trees[0].n_nodes == 3 and merged.trees[1].n_nodes == 1
    grid = np.array([[a, b] for a in (-1, 0.2, 1) for b in (0, 0.5, 0.6)], dtype=np.float32)
    np.testing.assert_array_equal(predict_index(merged, grid), predict_index(ens, grid))


def test_merge_keeps_gb_predictions(diabetes) -> None:  # type: ignore[no-untyped-def]
    x, y = diabetes
    ens = from_sklearn(GradientBoostingRegressor(n_estimators=20, random_state=0).fit(x, y))
    merged, _ = merge_identical(ens)
    np.testing.assert_array_equal(predict_index(merged, x), predict_index(ens, x))


def test_cap_depth_bounds_depth_and_keeps_shallow_trees(cancer) -> None:  # type: ignore[no-untyped-def]
    x, y = cancer
    ens = from_sklearn(RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y))
    capped = cap_depth(ens, 3)
    assert capped.max_depth <= 3 < ens.max_depth
    assert np.mean(predict_index(capped, x) == predict_index(ens, x)) > 0.8
    same = cap_depth(ens, ens.max_depth)
    np.testing.assert_array_equal(predict_index(same, x), predict_index(ens, x))


def test_tree_selection_curve_ends_at_full_agreement(cancer) -> None:  # type: ignore[no-untyped-def]
    x, y = cancer
    ens = from_sklearn(RandomForestClassifier(n_estimators=12, random_state=0).fit(x, y))
    order = select_trees(ens, x)
    assert sorted(order) == list(range(12))
    curve = pruning_curve(ens, order, x, y, [1, 6, 12])
    assert curve[-1].agreement == 1.0
    assert [p.n_trees for p in curve] == [1, 6, 12]
    assert curve[0].n_nodes < curve[-1].n_nodes
    assert keep_trees(ens, order[:6]).n_trees == 6


def test_cover_from_data_counts_rows(rf_iris, iris) -> None:  # type: ignore[no-untyped-def]
    x, _ = iris
    ens = cover_from_data(from_sklearn(rf_iris), x)
    for t in ens.trees:
        assert t.cover[0] == len(x)
        internal = t.feature >= 0
        np.testing.assert_array_equal(
            t.cover[internal], t.cover[t.left[internal]] + t.cover[t.right[internal]]
        )


def test_hot_child_comes_first_in_array_order() -> None:
    t = Tree(
        feature=[0, 1, -1, -1, -1],
        threshold=[0, 0, 0, 0, 0],
        left=[4, 2, -1, -1, -1],
        right=[1, 3, -1, -1, -1],
        nan_left=[False] * 5,
        value=[[0]] * 5,
        cover=[10, 9, 4, 5, 1],
    )
    assert hot_left(t).tolist() == [False, False, True, True, True]
    assert array_order(t) == [0, 1]
