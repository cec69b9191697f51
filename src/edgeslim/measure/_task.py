"""Task metrics on a model's outputs: accuracy and macro-F1, or MAE and RMSE."""

from __future__ import annotations

import numpy as np

from edgeslim._core.errors import DataError
from edgeslim._core.records import Metric, Provenance
from edgeslim.data.spec import Task

# MAE and RMSE are in the units of the regression targets.
TARGET_UNIT = "target"


def task_metrics(
    y_true: np.ndarray,
    outputs: np.ndarray,
    task: Task | str,
    *,
    context: str = "",
    provenance: Provenance = Provenance.MEASURED,
) -> tuple[Metric, ...]:
    """Quality of ``outputs`` against ``y_true``.

    Classification: ``outputs`` are logits or scores ``(n, classes)`` (or predicted labels of
    shape ``(n,)``); returns ``accuracy`` and ``macro_f1`` (unit ``"1"``). Macro-F1 averages
    per-class F1 over the classes that occur in ``y_true`` or in the predictions, as
    scikit-learn's ``f1_score(average="macro")`` does; a class with no true and no predicted
    sample has no F1 and is left out.

    Regression: ``outputs`` and ``y_true`` are ``(n,)`` or ``(n, targets)``; returns ``mae``
    (mean over all values) and ``rmse`` (root mean squared error per target, averaged over
    targets), both in target units.
    """
    task = Task(task)
    y_true = np.asarray(y_true)
    outputs = np.asarray(outputs)
    if len(y_true) != len(outputs):
        raise DataError(
            f"task_metrics: {len(y_true)} labels but {len(outputs)} outputs; they must match"
        )
    if len(y_true) == 0:
        raise DataError("task_metrics: no samples")
    if task is Task.CLASSIFICATION:
        pred = outputs.argmax(axis=1) if outputs.ndim == 2 else outputs.astype(np.int64)
        truth = y_true.reshape(-1).astype(np.int64)
        values = {"accuracy": float(np.mean(pred == truth)), "macro_f1": macro_f1(truth, pred)}
        return tuple(Metric(k, v, "1", provenance, context) for k, v in values.items())
    if outputs.shape != y_true.shape:
        outputs = outputs.reshape(y_true.shape) if outputs.size == y_true.size else outputs
    if outputs.shape != y_true.shape:
        raise DataError(
            f"task_metrics: outputs of shape {outputs.shape} do not match targets {y_true.shape}"
        )
    err = outputs.astype(np.float64) - y_true.astype(np.float64)
    mae = float(np.mean(np.abs(err)))
    per_target = err.reshape(len(err), -1)
    rmse = float(np.mean(np.sqrt(np.mean(per_target**2, axis=0))))
    return (
        Metric("mae", mae, TARGET_UNIT, provenance, context),
        Metric("rmse", rmse, TARGET_UNIT, provenance, context),
    )


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the labels present in either array."""
    labels = np.union1d(y_true, y_pred)
    scores = []
    for c in labels:
        tp = int(np.sum((y_pred == c) & (y_true == c)))
        fp = int(np.sum((y_pred == c) & (y_true != c)))
        fn = int(np.sum((y_pred != c) & (y_true == c)))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def agreement_metrics(
    reference: np.ndarray,
    outputs: np.ndarray,
    task: Task | str,
    *,
    context: str,
) -> tuple[Metric, ...]:
    """How closely ``outputs`` follow ``reference`` (e.g. torch eager vs the ONNX artifact).

    ``output_max_abs_diff``: the largest absolute difference of any output value (output units,
    written ``"1"``); for classification also ``prediction_agreement``, the fraction of samples
    whose arg-max matches.
    """
    reference = np.asarray(reference, dtype=np.float64)
    outputs = np.asarray(outputs, dtype=np.float64).reshape(reference.shape)
    diff = float(np.max(np.abs(reference - outputs))) if reference.size else 0.0
    metrics = [Metric("output_max_abs_diff", diff, "1", Provenance.MEASURED, context)]
    if Task(task) is Task.CLASSIFICATION and reference.ndim == 2:
        same = float(np.mean(reference.argmax(axis=1) == outputs.argmax(axis=1)))
        metrics.append(Metric("prediction_agreement", same, "1", Provenance.MEASURED, context))
    return tuple(metrics)
