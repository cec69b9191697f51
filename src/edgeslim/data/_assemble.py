"""Raw arrays to a :class:`Dataset`: checks, label encoding, deterministic splits, normalization.

Every loader (built-in or user file) produces a :class:`RawData`; :func:`assemble` is the one
place that turns it into train/validation/test splits, so all datasets follow the same rules:

* classification splits are stratified and depend only on ``seed`` (scikit-learn's
  ``train_test_split`` with ``random_state=seed``); a class too small to stratify falls back to a
  plain shuffled split;
* ``val`` and ``test`` are fractions of the whole dataset; a dataset with its own test split
  keeps it, and ``val`` is then a fraction of its training part;
* the normalization is fitted on the training split only, per channel (image, series) or per
  feature (tabular), with the standard deviation floored at ``STD_FLOOR``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from edgeslim._core.errors import DataError
from edgeslim.data.spec import Dataset, DataSpec, Layout, Normalization, Task

log = logging.getLogger(__name__)

STD_FLOOR = 1e-6
_NDIM = {Layout.TABULAR: 2, Layout.SERIES: 3, Layout.IMAGE: 4}


@dataclass(frozen=True)
class RawData:
    """Arrays as a loader found them, before splitting. ``y`` may hold any labels."""

    x: np.ndarray
    y: np.ndarray
    task: Task
    layout: Layout
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict)


def check_fraction(value: object, name: str, where: str, *, low_open: bool = True) -> float:
    """Return ``value`` as a float in (0, 1) (or [0, 1) if not ``low_open``), else raise."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"parameter {name} of {where} must be a number; got {value!r}") from None
    lo_ok = v > 0.0 if low_open else v >= 0.0
    if not (lo_ok and v < 1.0):
        bracket = "(0, 1)" if low_open else "[0, 1)"
        raise DataError(f"parameter {name} of {where} must be in {bracket}; got {value!r}")
    return v


def assemble(
    name: str,
    raw: RawData,
    *,
    seed: int = 0,
    val: float = 0.15,
    test: float = 0.2,
    where: str = "",
) -> Dataset:
    """Check ``raw``, encode labels, split it and fit the normalization on the training part.

    ``where`` names the data in error messages (a file path); it defaults to the dataset name.
    """
    where = where or f"dataset {name!r}"
    val = check_fraction(val, "val", where)
    if raw.x_test is None:
        test = check_fraction(test, "test", where)
        if val + test >= 0.9:
            raise DataError(
                f"parameters val + test of {where} must leave at least 10% for training; "
                f"got val={val}, test={test}"
            )
    x, x_test = _check_inputs(where, raw)
    y, y_test, classes = _encode_targets(where, raw)
    stratify = raw.task is Task.CLASSIFICATION
    if x_test is None or y_test is None:
        rest, test_idx = split_indices(y, test, seed, stratify=stratify)
        x_test, y_test = x[test_idx], y[test_idx]
        x, y = x[rest], y[rest]
        val = val / (1.0 - test)  # both fractions are of the whole dataset
    tr, va = split_indices(y, val, seed, stratify=stratify)
    x_train, y_train, x_val, y_val = x[tr], y[tr], x[va], y[va]
    num_classes = len(classes) if raw.task is Task.CLASSIFICATION else 0
    output_dim = num_classes if num_classes else (1 if y.ndim == 1 else int(y.shape[1]))
    spec = DataSpec(
        name=name,
        task=raw.task,
        layout=raw.layout,
        input_shape=tuple(int(s) for s in x.shape[1:]),
        num_classes=num_classes,
        output_dim=output_dim,
    )
    meta: dict[str, object] = {"source": raw.source, "seed": seed, **raw.meta}
    if classes:
        meta["classes"] = list(classes)
    return Dataset(
        spec=spec,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        normalization=fit_normalization(x_train),
        meta=meta,
    )


def _check_inputs(where: str, raw: RawData) -> tuple[np.ndarray, np.ndarray | None]:
    arrays = [("X", raw.x, raw.y)]
    if raw.x_test is not None or raw.y_test is not None:
        if raw.x_test is None or raw.y_test is None:
            missing = "X_test" if raw.x_test is None else "y_test"
            raise DataError(f"{where}: array {missing!r} is missing (both or neither)")
        arrays.append(("X_test", raw.x_test, raw.y_test))
    out: list[np.ndarray] = []
    for key, x, y in arrays:
        x = np.asarray(x)
        if x.ndim != _NDIM[raw.layout]:
            raise DataError(
                f"{where}: array {key!r} has shape {x.shape}; layout "
                f"{raw.layout.value} needs {_NDIM[raw.layout]} dimensions (samples first)"
            )
        if x.shape[0] != len(y):
            ykey = "y" if key == "X" else "y_test"
            raise DataError(
                f"{where}: array {key!r} has {x.shape[0]} samples but {ykey!r} has {len(y)}"
            )
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise DataError(f"{where}: array {key!r} must be real numbers; got {x.dtype}")
        xf = x.astype(np.float32)
        if not np.isfinite(xf).all():
            raise DataError(f"{where}: array {key!r} contains NaN or infinite values")
        out.append(xf)
    if out[0].shape[0] < 4:
        raise DataError(f"{where}: array 'X' has {out[0].shape[0]} samples; need >= 4")
    if len(out) == 2 and out[1].shape[1:] != out[0].shape[1:]:
        raise DataError(
            f"{where}: samples of 'X_test' have shape {out[1].shape[1:]} but those of "
            f"'X' have {out[0].shape[1:]}"
        )
    return out[0], (out[1] if len(out) == 2 else None)


def _encode_targets(
    where: str, raw: RawData
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Labels to int64 codes (sorted label order) or targets to float32; plus class names."""
    ys = [np.asarray(raw.y)] + ([np.asarray(raw.y_test)] if raw.y_test is not None else [])
    keys = ["y", "y_test"]
    if raw.task is Task.REGRESSION:
        out = []
        for key, y in zip(keys, ys, strict=False):
            if not np.issubdtype(y.dtype, np.number) or y.ndim not in (1, 2):
                raise DataError(
                    f"{where}: regression targets {key!r} must be numbers of shape (n,) "
                    f"or (n, k); got {y.dtype} {y.shape}"
                )
            yf = y.astype(np.float32)
            if not np.isfinite(yf).all():
                raise DataError(f"{where}: array {key!r} contains NaN or infinite values")
            out.append(yf)
        return out[0], (out[1] if len(out) == 2 else None), ()
    for key, y in zip(keys, ys, strict=False):
        if y.ndim != 1:
            raise DataError(f"{where}: labels {key!r} must be 1-D; got shape {y.shape}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise DataError(f"{where}: array {key!r} contains NaN or infinite values")
    labels = np.unique(np.concatenate(ys)) if len(ys) == 2 else np.unique(ys[0])
    if len(labels) < 2:
        raise DataError(f"{where}: labels 'y' hold one class only ({labels[0]!r})")
    codes = [np.searchsorted(labels, y).astype(np.int64) for y in ys]
    classes = tuple(_label_name(v) for v in labels)
    return codes[0], (codes[1] if len(codes) == 2 else None), classes


def _label_name(v: object) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def split_indices(
    y: np.ndarray, fraction: float, seed: int, *, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (keep, held-out) index arrays; held-out holds ``fraction`` of the samples."""
    from sklearn.model_selection import train_test_split

    n = len(y)
    held = min(max(1, round(fraction * n)), n - 1)
    idx = np.arange(n)
    strat = y if stratify else None
    if stratify:
        counts = np.unique(y, return_counts=True)[1]
        n_classes = len(counts)
        if counts.min() < 2 or held < n_classes or n - held < n_classes:
            log.info("split of %d samples is too small to stratify; shuffling instead", n)
            strat = None
    keep, out = train_test_split(idx, test_size=held, random_state=seed, stratify=strat)
    return np.sort(keep), np.sort(out)


def fit_normalization(x_train: np.ndarray) -> Normalization:
    """Mean and floored std of ``x_train`` along sample axis 0: per channel (image, series) or
    per feature (tabular); ``x_train`` has the batch dimension first."""
    axes = tuple(i for i in range(x_train.ndim) if i != 1)
    x64 = x_train.astype(np.float64)
    mean = x64.mean(axis=axes)
    std = np.maximum(x64.std(axis=axes), STD_FLOOR)
    return Normalization(
        mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std), axis=0
    )


def dataset_from_arrays(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    task: Task | str,
    layout: Layout | str,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    seed: int = 0,
    val: float = 0.15,
    test: float = 0.2,
) -> Dataset:
    """Build a :class:`Dataset` from in-memory arrays with the same rules as every loader."""
    try:
        task, layout = Task(task), Layout(layout)
    except ValueError as exc:
        raise DataError(f"dataset {name!r}: {exc}") from None
    raw = RawData(
        x=x, y=y, task=task, layout=layout, x_test=x_test, y_test=y_test, source="arrays"
    )
    return assemble(name, raw, seed=seed, val=val, test=test)
