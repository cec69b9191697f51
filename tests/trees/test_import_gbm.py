"""LightGBM and XGBoost: native files -> IR -> C, compared with the libraries' own predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeslim.codegen.trees import CTreeOptions, render_trees_c
from edgeslim.codegen.trees.compiled import CompiledTrees
from edgeslim.trees import predict, predict_proba
from edgeslim.trees._import import import_file

lgb = pytest.importorskip("lightgbm")
xgb = pytest.importorskip("xgboost")


def _models(kind: str):  # type: ignore[no-untyped-def]
    if kind == "lgb":
        return [
            lgb.LGBMClassifier(n_estimators=15, verbose=-1),
            lgb.LGBMRegressor(n_estimators=15, verbose=-1),
            lgb.LGBMRegressor(n_estimators=15, objective="poisson", verbose=-1),
        ]
    return [
        xgb.XGBClassifier(n_estimators=15, max_depth=3),
        xgb.XGBRegressor(n_estimators=15, max_depth=3),
        xgb.XGBRegressor(n_estimators=15, max_depth=3, objective="count:poisson"),
    ]


def _save(model, kind: str, path: Path) -> Path:  # type: ignore[no-untyped-def]
    if kind == "lgb":
        model.booster_.save_model(str(path / "m.txt"))
        return path / "m.txt"
    model.save_model(str(path / "m.json"))
    return path / "m.json"


@pytest.mark.parametrize("kind", ["lgb", "xgb"])
@pytest.mark.parametrize("data", ["iris", "cancer"])
def test_native_file_import_matches_library(kind, data, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = request.getfixturevalue(data)
    xn = x.copy()
    xn[::9, 2] = np.nan  # missing values follow each library's default direction
    clf = _models(kind)[0].fit(xn, y)
    ens = import_file(_save(clf, kind, tmp_path)).ensemble
    np.testing.assert_array_equal(
        np.asarray(clf.classes_)[predict(ens, xn).astype(int)], clf.predict(xn)
    )
    np.testing.assert_allclose(predict_proba(ens, xn), clf.predict_proba(xn), atol=1e-6)


@pytest.mark.parametrize("kind", ["lgb", "xgb"])
def test_regressors_match(kind, diabetes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = diabetes
    for model in _models(kind)[1:]:
        model.fit(x, y)
        ens = import_file(_save(model, kind, tmp_path)).ensemble
        np.testing.assert_allclose(predict(ens, x), model.predict(x), rtol=2e-6)


@pytest.mark.toolchain("cc")
@pytest.mark.parametrize("kind", ["lgb", "xgb"])
def test_generated_c_matches_library(kind, cancer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = cancer
    clf = _models(kind)[0].fit(x, y)
    ens = import_file(_save(clf, kind, tmp_path)).ensemble
    for layout in ("ifelse", "array"):
        art = render_trees_c(ens, CTreeOptions(layout=layout, accumulate="double"))
        with CompiledTrees.build(art) as c:
            np.testing.assert_array_equal(c.predict_index(x), clf.predict(x))
            np.testing.assert_allclose(c.predict_proba(x), clf.predict_proba(x), atol=1e-6)
