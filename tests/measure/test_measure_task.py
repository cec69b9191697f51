"""Task metrics against scikit-learn, and agreement metrics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    root_mean_squared_error,
)

from edgeslim._core.errors import DataError
from edgeslim._core.records import Provenance
from edgeslim.data.spec import Task
from edgeslim.measure import agreement_metrics, task_metrics


@given(
    n=st.integers(1, 60),
    classes=st.integers(2, 6),
    seed=st.integers(0, 10_000),
)
@settings(max_examples=50, deadline=None)
def test_classification_matches_sklearn(n: int, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    logits = rng.standard_normal((n, classes)).astype(np.float32)
    pred = logits.argmax(axis=1)
    acc, f1 = task_metrics(y, logits, Task.CLASSIFICATION)
    assert acc.name == "accuracy" and f1.name == "macro_f1"
    assert acc.value == pytest.approx(accuracy_score(y, pred))
    assert f1.value == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    assert acc.unit == f1.unit == "1"
    assert acc.provenance is Provenance.MEASURED


def test_classification_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [0.0, 2.0]])
    acc, f1 = task_metrics(y, logits, "classification", context="onnxruntime")
    assert acc.value == 0.75
    # class 0: P=1, R=0.5, F1=2/3; class 1: P=2/3, R=1, F1=0.8
    assert f1.value == pytest.approx((2 / 3 + 0.8) / 2)
    assert acc.context == "onnxruntime"


@given(n=st.integers(1, 40), targets=st.integers(1, 3), seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_regression_matches_sklearn(n: int, targets: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, targets))
    out = y + rng.standard_normal((n, targets))
    mae, rmse = task_metrics(y, out, Task.REGRESSION)
    assert (mae.name, rmse.name) == ("mae", "rmse")
    assert mae.value == pytest.approx(mean_absolute_error(y, out))
    assert rmse.value == pytest.approx(root_mean_squared_error(y, out))
    assert mae.unit == rmse.unit == "target"


def test_regression_accepts_column_outputs_for_flat_targets() -> None:
    y = np.array([1.0, 2.0, 4.0])
    out = np.array([[1.0], [3.0], [2.0]])  # models output (n, 1)
    mae, rmse = task_metrics(y, out, Task.REGRESSION)
    assert mae.value == pytest.approx(1.0)
    assert rmse.value == pytest.approx(np.sqrt(5 / 3))


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(DataError, match="3 labels but 2 outputs"):
        task_metrics(np.zeros(3), np.zeros((2, 2)), Task.CLASSIFICATION)
    with pytest.raises(DataError, match="no samples"):
        task_metrics(np.zeros(0), np.zeros((0, 2)), Task.CLASSIFICATION)


def test_agreement_metrics() -> None:
    ref = np.array([[1.0, 0.0], [0.0, 1.0], [0.4, 0.5]])
    out = ref + np.array([[0.0, 0.0], [0.0, 1e-3], [0.2, 0.0]])
    diff, agree = agreement_metrics(ref, out, Task.CLASSIFICATION, context="torch")
    assert diff.name == "output_max_abs_diff" and diff.value == pytest.approx(0.2)
    assert agree.name == "prediction_agreement" and agree.value == pytest.approx(2 / 3)
    assert diff.context == agree.context == "torch"
    (only,) = agreement_metrics(ref, out, Task.REGRESSION, context="torch")
    assert only.name == "output_max_abs_diff"
