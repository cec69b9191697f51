"""Inference helpers on the training model: batched prediction and split evaluation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from edgeslim._core.errors import DataError
from edgeslim.data.spec import Dataset, Normalization, Task
from edgeslim.models.train._losses import task_loss

SPLITS = ("train", "val", "test")


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """Eval mode without gradients; the model's previous mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def predict(
    model: Any,
    x: np.ndarray,
    normalization: Normalization | None,
    batch_size: int = 256,
) -> np.ndarray:
    """Model outputs (logits for classification) on raw inputs ``x``, as float32 numpy.

    ``normalization`` is applied first (None: ``x`` is already normalized). The model runs in
    eval mode without gradients; its mode is restored afterwards.
    """
    if batch_size < 1:
        raise DataError(f"parameter batch_size of predict must be >= 1; got {batch_size}")
    xs = normalization.apply(x) if normalization is not None else x.astype(np.float32)
    outs = []
    with eval_mode(model):
        for i in range(0, len(xs), batch_size):
            outs.append(model(torch.from_numpy(xs[i : i + batch_size])).float().numpy())
    if not outs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outs).astype(np.float32, copy=False)


def split_arrays(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in SPLITS:
        raise DataError(f"parameter split must be one of {', '.join(SPLITS)}; got {split!r}")
    return getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")


def scores(task: Task, outputs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Task loss and metrics of ``outputs`` against targets ``y`` (plain floats)."""
    out_t = torch.from_numpy(outputs)
    if task is Task.CLASSIFICATION:
        loss = float(task_loss(task, out_t, torch.from_numpy(y).long()))
        return {"loss": loss, "accuracy": float(np.mean(outputs.argmax(axis=1) == y))}
    target = y.reshape(outputs.shape).astype(np.float64)
    err = outputs.astype(np.float64) - target
    mse = float(np.mean(err**2))
    return {"loss": mse, "mse": mse, "mae": float(np.mean(np.abs(err))), "r2": r2(outputs, y)}


def r2(outputs: np.ndarray, y: np.ndarray) -> float:
    """Coefficient of determination, averaged over outputs; 0 when the targets are constant."""
    target = y.reshape(outputs.shape).astype(np.float64)
    ss_res = ((outputs - target) ** 2).sum(axis=0)
    ss_tot = ((target - target.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
    return float(np.mean(per))


def evaluate(
    model: Any, dataset: Dataset, split: str = "test", *, batch_size: int = 256
) -> dict[str, float]:
    """Loss and metrics of ``model`` on one split of ``dataset`` (raw inputs, normalized here).

    Classification: ``loss`` (cross-entropy), ``accuracy``; regression: ``loss`` and ``mse``
    (raw target units), ``mae``, ``r2``. Every dict also holds ``samples``.
    """
    x, y = split_arrays(dataset, split)
    if len(x) == 0:
        raise DataError(f"split {split!r} of dataset {dataset.spec.name!r} is empty")
    outputs = predict(model, x, dataset.normalization, batch_size)
    return {**scores(dataset.spec.task, outputs, y), "samples": float(len(x))}
