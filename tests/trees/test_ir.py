"""The tree IR: validation, traversal helpers, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from edgeslim._core.errors import ModelError
from edgeslim.trees import Objective, Transform, Tree, TreeEnsemble, from_sklearn, predict_index
from edgeslim.trees._io import load_bundle, save_bundle


def stump(
    feature: int = 0, threshold: float = 0.5, values: tuple[float, float] = (1.0, 2.0)
) -> Tree:
    return Tree(
        feature=[feature, -1, -1],
        threshold=[threshold, 0, 0],
        left=[1, -1, -1],
        right=[2, -1, -1],
        nan_left=[False, False, False],
        value=[[0.0], [values[0]], [values[1]]],
        cover=[10, 7, 3],
    )


def regressor(trees: list[Tree], n_features: int = 2) -> TreeEnsemble:
    return TreeEnsemble(
        trees=tuple(trees),
        n_features=n_features,
        n_outputs=1,
        objective=Objective.REGRESSION,
        transform=Transform.IDENTITY,
        base_score=(0.5,),
    )


def test_stump_predicts_both_sides_and_base() -> None:
    ens = regressor([stump()])
    out = predict_index(ens, np.array([[0.5, 0.0], [0.6, 0.0]], dtype=np.float32))
    assert out.tolist() == [1.5, 2.5]


def test_nan_follows_nan_left() -> None:
    t = stump().with_arrays(nan_left=[True, False, False])
    ens = regressor([t])
    assert predict_index(ens, np.array([[np.nan, 0]], dtype=np.float32)).tolist() == [1.5]
    assert predict_index(
        regressor([stump()]), np.array([[np.nan, 0]], dtype=np.float32)
    ).tolist() == [2.5]


def test_rejects_out_of_range_feature() -> None:
    with pytest.raises(ModelError, match="feature 3"):
        regressor([stump(feature=3)])


def test_rejects_node_with_two_parents() -> None:
    bad = Tree(
        feature=[0, -1],
        threshold=[0, 0],
        left=[1, -1],
        right=[1, -1],
        nan_left=[False] * 2,
        value=[[0.0], [1.0]],
        cover=[1, 1],
    )
    with pytest.raises(ModelError, match="two parents"):
        regressor([bad])


def test_depth_and_preorder() -> None:
    t = stump()
    assert t.preorder() == [0, 1, 2]
    assert t.depths().tolist() == [0, 1, 1]
    assert t.n_leaves == 2 and t.max_depth == 1


def test_arrays_are_read_only() -> None:
    t = stump()
    with pytest.raises(ValueError):
        t.threshold[0] = 3.0


def test_bundle_roundtrip_keeps_predictions(tmp_path, rf_iris, iris) -> None:  # type: ignore[no-untyped-def]
    x, y = iris
    ens = from_sklearn(rf_iris)
    path = save_bundle(tmp_path / "m.npz", ens, {"x_test": x, "y_test": y})
    back = load_bundle(path)
    assert back.ensemble.summary() == ens.summary()
    assert back.ensemble.classes == ens.classes
    np.testing.assert_array_equal(predict_index(back.ensemble, x), predict_index(ens, x))
    np.testing.assert_array_equal(back.data["y_test"], y)


def test_load_rejects_foreign_npz(tmp_path) -> None:  # type: ignore[no-untyped-def]
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(ModelError, match="header"):
        load_bundle(tmp_path / "x.npz")
