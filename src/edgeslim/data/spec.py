"""Dataset records: what a model needs to know about its data, and the arrays themselves."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Task(enum.StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class Layout(enum.StrEnum):
    """How one sample is laid out (batch dimension excluded)."""

    TABULAR = "tabular"  # (features,)
    IMAGE = "image"  # (channels, height, width)
    SERIES = "series"  # (channels, steps)


@dataclass(frozen=True, slots=True)
class DataSpec:
    """Shape and task of a dataset. ``input_shape`` excludes the batch dimension."""

    name: str
    task: Task
    layout: Layout
    input_shape: tuple[int, ...]
    num_classes: int  # 0 for regression
    output_dim: int  # num_classes for classification, targets for regression

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "task": self.task.value,
            "layout": self.layout.value,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "output_dim": self.output_dim,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataSpec:
        return cls(
            name=str(d["name"]),
            task=Task(d["task"]),
            layout=Layout(d["layout"]),
            input_shape=tuple(int(x) for x in d["input_shape"]),
            num_classes=int(d["num_classes"]),
            output_dim=int(d["output_dim"]),
        )


@dataclass(frozen=True, slots=True)
class Normalization:
    """Per-channel (or per-feature) affine preprocessing: ``(x - mean) / std``.

    Stored with the model so deployment applies exactly the same preprocessing.
    ``mean``/``std`` broadcast against one sample (shape like ``input_shape`` with 1s).
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    axis: int  # sample axis the statistics run along (0 = channels/features)

    def apply(self, x: np.ndarray) -> np.ndarray:
        shape = [1] * (x.ndim - 1)
        shape[self.axis] = len(self.mean)
        mean = np.asarray(self.mean, dtype=np.float32).reshape([1, *shape])
        std = np.asarray(self.std, dtype=np.float32).reshape([1, *shape])
        return ((x.astype(np.float32) - mean) / std).astype(np.float32)

    def to_dict(self) -> dict[str, object]:
        return {"mean": list(self.mean), "std": list(self.std), "axis": self.axis}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Normalization:
        return cls(
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            axis=int(d["axis"]),
        )


@dataclass(frozen=True)
class Dataset:
    """Train/validation/test arrays (float32 inputs; int64 labels or float32 targets).

    Inputs are raw (not normalized); ``normalization`` is fitted on the training split and is
    applied by the training loop and stored with the model.
    """

    spec: DataSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    normalization: Normalization
    meta: dict[str, object] = field(default_factory=dict)
