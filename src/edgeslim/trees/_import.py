"""One entry point for every supported model source: objects, native files, pickles.

Files: LightGBM text (``.txt``), XGBoost JSON (``.json``; ``.ubj`` needs xgboost), edgeslim
tree bundles (``.npz``) and scikit-learn / LightGBM / XGBoost pickles (``.pkl``, ``.pickle``,
``.joblib``) - the latter only with ``trust=True``, because unpickling runs arbitrary code.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

from edgeslim._core.errors import ModelError, UnsupportedOpError
from edgeslim.trees._io import TreeBundle, load_bundle
from edgeslim.trees._ir import TreeEnsemble
from edgeslim.trees._lightgbm import from_lightgbm, from_lightgbm_text
from edgeslim.trees._sklearn import from_sklearn, sklearn_converters
from edgeslim.trees._xgboost import from_xgboost, from_xgboost_json

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


def from_object(model: Any) -> TreeEnsemble:
    """Convert a fitted model object (scikit-learn, LightGBM or XGBoost)."""
    if isinstance(model, TreeEnsemble):
        return model
    if any(isinstance(model, kind) for kind, _ in sklearn_converters()) and not _is_lgb_or_xgb(
        model
    ):
        return from_sklearn(model)
    lgb = sys.modules.get("lightgbm")
    if lgb is not None and isinstance(model, lgb.Booster | lgb.LGBMModel):
        return from_lightgbm(model)
    xgb = sys.modules.get("xgboost")
    if xgb is not None and isinstance(model, xgb.Booster | xgb.XGBModel):
        return from_xgboost(model)
    raise UnsupportedOpError(type(model).__name__, "model", "the tree importer")


def _is_lgb_or_xgb(model: Any) -> bool:
    lgb, xgb = sys.modules.get("lightgbm"), sys.modules.get("xgboost")
    return bool(
        (lgb is not None and isinstance(model, lgb.LGBMModel))
        or (xgb is not None and isinstance(model, xgb.XGBModel))
    )


def _load_pickle(path: Path) -> Any:
    if path.suffix == ".joblib":
        try:
            import joblib
        except ImportError as err:
            raise ModelError(f"{path}: reading .joblib needs joblib installed") from err
        return joblib.load(path)
    with path.open("rb") as fh:
        return pickle.load(fh)


def _load_ubj(path: Path) -> TreeEnsemble:
    try:
        import xgboost
    except ImportError as err:
        raise ModelError(
            f"{path}: UBJSON models need xgboost; or save the model as .json"
        ) from err
    booster = xgboost.Booster()
    booster.load_model(str(path))
    return from_xgboost(booster)


def import_file(path: str | os.PathLike[str], trust: bool = False) -> TreeBundle:
    """Read a model file; returns a bundle (data only for edgeslim ``.npz`` files)."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: no such model file")
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return load_bundle(p)
    if suffix in PICKLE_SUFFIXES:
        if not trust:
            raise ModelError(
                f"{p}: refusing to unpickle an untrusted file (it can run code); "
                "pass --trust if you created it yourself"
            )
        return TreeBundle(from_object(_load_pickle(p)), {})
    if suffix == ".ubj":
        return TreeBundle(_load_ubj(p), {})
    text = p.read_text(encoding="utf-8", errors="replace")
    if suffix == ".json" or text.lstrip().startswith("{"):
        return TreeBundle(from_xgboost_json(text), {})
    if text.startswith("tree") or "\nversion=" in text[:200]:
        return TreeBundle(from_lightgbm_text(text), {})
    raise ModelError(
        f"{p}: unknown model format (expected LightGBM .txt, XGBoost .json, "
        "edgeslim .npz or a pickle with --trust)"
    )
