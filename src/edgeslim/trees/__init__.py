"""Layer 3: tree ensembles. One IR for scikit-learn, LightGBM and XGBoost models; threshold,
feature and leaf quantization with exactness checks; pruning and merging; node ordering by
branch probability.
"""

from __future__ import annotations

from edgeslim.trees._ir import Objective, Transform, Tree, TreeEnsemble, check_ensemble
from edgeslim.trees._layout import array_order, cover_from_data, hot_left, leaf_table
from edgeslim.trees._leafquant import LeafQuantization, dequantize, quantize_leaves
from edgeslim.trees._predict import (
    apply_transform,
    leaf_indices,
    predict,
    predict_index,
    predict_proba,
    raw_scores,
)
from edgeslim.trees._quantize import (
    Coding,
    Exactness,
    FeatureCode,
    FeatureQuantization,
    quantize_features,
)
from edgeslim.trees._sklearn import from_sklearn

__all__ = [
    "Coding",
    "Exactness",
    "FeatureCode",
    "FeatureQuantization",
    "LeafQuantization",
    "Objective",
    "Transform",
    "Tree",
    "TreeEnsemble",
    "apply_transform",
    "array_order",
    "check_ensemble",
    "cover_from_data",
    "dequantize",
    "from_sklearn",
    "hot_left",
    "leaf_indices",
    "leaf_table",
    "predict",
    "predict_index",
    "predict_proba",
    "quantize_features",
    "quantize_leaves",
    "raw_scores",
]
