"""Import XGBoost models from their JSON format (``save_model("m.json")``); no XGBoost needed.

XGBoost's decision: NaN follows ``default_left``; otherwise ``x < split_condition`` (float32)
goes left, i.e. ``x <= nextafter(split_condition, -inf)`` in the IR. The stored base score is
in output space and becomes a margin through the objective's inverse link.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from edgeslim._core.errors import ModelError, UnsupportedOpError
from edgeslim.trees._ir import Objective, Transform, Tree, TreeEnsemble
from edgeslim.trees._thresholds import lt_f32_to_le

_IDENTITY = (
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "binary:logitraw",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
)
_EXP = ("count:poisson", "reg:gamma", "reg:tweedie")


def _objective(name: str) -> tuple[Objective, Transform]:
    if name == "binary:logistic":
        return Objective.CLASSIFICATION, Transform.SIGMOID
    if name in ("multi:softprob", "multi:softmax"):
        return Objective.CLASSIFICATION, Transform.SOFTMAX
    if name == "reg:logistic":
        return Objective.REGRESSION, Transform.SIGMOID
    if name in _EXP:
        return Objective.REGRESSION, Transform.EXP
    if name in _IDENTITY:
        return Objective.REGRESSION, Transform.IDENTITY
    raise UnsupportedOpError(f"objective {name}", "model", "the XGBoost importer")


def _base_margin(raw: str, transform: Transform, k: int) -> tuple[float, ...]:
    """Parse ``"5E-1"`` or ``"[0E0,0E0]"`` and map it through the inverse link."""
    vals = [float(v) for v in raw.strip("[]").split(",") if v.strip()]
    vals = vals * k if len(vals) == 1 else vals
    if len(vals) != k:
        raise ModelError(f"XGBoost base_score {raw!r} has {len(vals)} values; want {k}")
    if transform is Transform.SIGMOID:
        return tuple(math.log(v / (1.0 - v)) for v in vals)
    if transform is Transform.EXP:
        return tuple(math.log(v) for v in vals)
    return tuple(vals)


def _tree(t: dict[str, Any], output: int) -> Tree:
    left = np.asarray(t["left_children"], dtype=np.int64)
    if any(int(s) != 0 for s in t.get("split_type", [])):
        raise UnsupportedOpError(
            "categorical split", f"tree {t.get('id')}", "the XGBoost importer"
        )
    leaf = left < 0
    cond = np.asarray(t["split_conditions"], dtype=np.float32)
    return Tree(
        feature=np.where(leaf, -1, np.asarray(t["split_indices"], dtype=np.int64)),
        threshold=np.where(leaf, np.float32(0), lt_f32_to_le(cond)),
        left=np.where(leaf, -1, left),
        right=np.where(leaf, -1, np.asarray(t["right_children"], dtype=np.int64)),
        nan_left=np.asarray(t["default_left"], dtype=bool) & ~leaf,
        value=np.where(leaf, cond.astype(np.float64), 0.0)[:, None],
        cover=np.asarray(t["sum_hessian"], dtype=np.float64),
        output=output,
    )


def from_xgboost_json(doc: dict[str, Any] | str, classes: tuple[Any, ...] = ()) -> TreeEnsemble:
    """Convert a parsed (or raw text) XGBoost JSON model."""
    d = json.loads(doc) if isinstance(doc, str) else doc
    try:
        learner = d["learner"]
        booster = learner["gradient_booster"]
        params = learner["learner_model_param"]
        obj_name = learner["objective"]["name"]
    except (KeyError, TypeError) as err:
        raise ModelError(f"not an XGBoost JSON model (missing {err})") from err
    if booster.get("name", "gbtree") != "gbtree":
        raise UnsupportedOpError(f"booster {booster.get('name')}", "model", "the XGBoost importer")
    model = booster["model"]
    objective, transform = _objective(obj_name)
    k = max(int(params.get("num_class", "0")), 1)
    trees = tuple(
        _tree(t, int(g)) for t, g in zip(model["trees"], model["tree_info"], strict=True)
    )
    n_features = int(params["num_feature"])
    if objective is Objective.CLASSIFICATION and not classes:
        classes = tuple(range(max(k, 2)))
    names = tuple(learner.get("feature_names", []))
    return TreeEnsemble(
        trees=trees,
        n_features=n_features,
        n_outputs=k,
        objective=objective,
        transform=transform,
        base_score=_base_margin(str(params.get("base_score", "0")), transform, k),
        classes=classes,
        feature_names=names if len(names) == n_features else (),
        source="xgboost",
        meta={"xgboost_version": ".".join(str(v) for v in d.get("version", []))},
    )


def from_xgboost(model: Any) -> TreeEnsemble:
    """An ``xgboost.Booster`` or a fitted ``XGBModel`` (needs xgboost installed)."""
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    raw = booster.save_raw(raw_format="json")
    classes = tuple(np.asarray(getattr(model, "classes_", ())).tolist())
    return from_xgboost_json(bytes(raw).decode(), classes)
