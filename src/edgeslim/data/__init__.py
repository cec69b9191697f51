"""Layer 1: the dataset registry, user data files, splits and normalization.

``load_dataset(name_or_path, seed=..., **params)`` is the one entry point: a registered name
(``dataset_names()``) or a ``.npz``/``.csv`` path. Every dataset comes back as a
:class:`Dataset` with raw (unnormalized) float32 inputs, deterministic train/validation/test
splits and a :class:`Normalization` fitted on the training split.
"""

from __future__ import annotations

from edgeslim.data._assemble import STD_FLOOR, dataset_from_arrays, fit_normalization
from edgeslim.data._registry import (
    DatasetInfo,
    dataset_info,
    dataset_names,
    describe_dataset,
    load_dataset,
)
from edgeslim.data._user import infer_task, load_user_file
from edgeslim.data.spec import Dataset, DataSpec, Layout, Normalization, Task

__all__ = [
    "STD_FLOOR",
    "DataSpec",
    "Dataset",
    "DatasetInfo",
    "Layout",
    "Normalization",
    "Task",
    "dataset_from_arrays",
    "dataset_info",
    "dataset_names",
    "describe_dataset",
    "fit_normalization",
    "infer_task",
    "load_dataset",
    "load_user_file",
]
