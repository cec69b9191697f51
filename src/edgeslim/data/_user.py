"""User data files: ``.npz`` (arrays ``X``, ``y``, optional ``X_test``, ``y_test``) and ``.csv``
(one header row, numeric feature columns and a label column). Errors name the file and the key.
"""

from __future__ import annotations

import csv
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from edgeslim._core.errors import DataError
from edgeslim.data._assemble import RawData, assemble
from edgeslim.data.spec import Dataset, Layout, Task

# A label is read as a regression target when it is numeric, holds a non-integer value and has
# more than this many distinct values; otherwise it is a class label.
REGRESSION_MIN_DISTINCT = 10
_LAYOUT_BY_NDIM = {2: Layout.TABULAR, 3: Layout.SERIES, 4: Layout.IMAGE}
USER_FILE_PARAMS = ("label", "layout", "task", "val", "test")


def load_user_file(
    path: str | os.PathLike[str],
    *,
    label: str | None = None,
    layout: str | Layout | None = None,
    task: str | Task | None = None,
    seed: int = 0,
    val: float = 0.15,
    test: float = 0.2,
) -> Dataset:
    """Load a ``.npz`` or ``.csv`` file as a :class:`Dataset` with deterministic splits.

    ``.npz``: the layout follows ``X.ndim`` (2 tabular, 3 series, 4 image) unless ``layout`` is
    given; ``X_test``/``y_test``, when present, are the test split. ``.csv``: ``label`` names the
    label column (default: the last one); the data is tabular. The task is inferred from the
    labels (see :func:`infer_task`) unless ``task`` is given.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file {p} does not exist")
    lay = _as_layout(layout, p)
    tsk = _as_task(task, p)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        if label is not None:
            raise DataError(f"{p}: parameter label applies to .csv files; .npz files use 'y'")
        raw = _read_npz(p, lay, tsk)
    elif suffix == ".csv":
        if lay not in (None, Layout.TABULAR):
            raise DataError(f"{p}: .csv files hold tabular data; got layout {lay.value!r}")
        raw = _read_csv(p, label, tsk)
    else:
        raise DataError(f"data file {p} must end with .npz or .csv; got {p.suffix!r}")
    return assemble(p.name, raw, seed=seed, val=val, test=test, where=str(p))


def _as_layout(value: str | Layout | None, p: Path) -> Layout | None:
    try:
        return None if value is None else Layout(value)
    except ValueError:
        known = ", ".join(m.value for m in Layout)
        raise DataError(f"{p}: parameter layout must be one of {known}; got {value!r}") from None


def _as_task(value: str | Task | None, p: Path) -> Task | None:
    try:
        return None if value is None else Task(value)
    except ValueError:
        known = ", ".join(m.value for m in Task)
        raise DataError(f"{p}: parameter task must be one of {known}; got {value!r}") from None


def infer_task(y: np.ndarray) -> Task:
    """Regression for numeric labels with a non-integer value and many distinct values (or any
    2-D target array); classification otherwise."""
    if y.ndim == 2 and np.issubdtype(y.dtype, np.number):
        return Task.REGRESSION
    if y.dtype.kind != "f":
        return Task.CLASSIFICATION
    finite = y[np.isfinite(y)]
    fractional = bool(np.any(finite != np.round(finite)))
    many = len(np.unique(finite)) > REGRESSION_MIN_DISTINCT
    return Task.REGRESSION if fractional and many else Task.CLASSIFICATION


def _read_npz(p: Path, layout: Layout | None, task: Task | None) -> RawData:
    try:
        with np.load(p, allow_pickle=False) as npz:
            names = set(npz.files)
            arrays = {
                k: _npz_array(npz, k, p) for k in ("X", "y", "X_test", "y_test") if k in names
            }
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{p} is not a readable .npz file ({exc})") from None
    for key in ("X", "y"):
        if key not in arrays:
            found = ", ".join(sorted(names)) or "none"
            raise DataError(f"{p}: array {key!r} is missing; found arrays: {found}")
    if ("X_test" in arrays) != ("y_test" in arrays):
        missing = "y_test" if "X_test" in arrays else "X_test"
        raise DataError(f"{p}: array {missing!r} is missing (X_test and y_test go together)")
    x, x_test = arrays["X"], arrays.get("X_test")
    lay = layout or _LAYOUT_BY_NDIM.get(x.ndim)
    if lay is None:
        raise DataError(
            f"{p}: array 'X' has shape {x.shape}; need 2 (tabular), 3 (series) or "
            "4 (image) dimensions"
        )
    x = _reshape_for(x, lay, "X", p)
    x_test = None if x_test is None else _reshape_for(x_test, lay, "X_test", p)
    y, y_test = arrays["y"], arrays.get("y_test")
    for key, arr in (("y", y), ("y_test", y_test)):
        if arr is not None and arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise DataError(f"{p}: array {key!r} contains NaN or infinite values")
    both = y if y_test is None else np.concatenate([y, y_test])
    tsk = task or infer_task(both)
    return RawData(
        x=x, y=y, task=tsk, layout=lay, x_test=x_test, y_test=y_test, source=f"user file {p.name}"
    )


def _npz_array(npz: np.lib.npyio.NpzFile, key: str, p: Path) -> np.ndarray:
    try:
        return np.asarray(npz[key])
    except ValueError as exc:
        raise DataError(f"{p}: array {key!r} cannot be read ({exc})") from None


def _reshape_for(x: np.ndarray, layout: Layout, key: str, p: Path) -> np.ndarray:
    """Fit ``x`` to an explicitly requested layout: add a channel axis or flatten."""
    need = {Layout.TABULAR: 2, Layout.SERIES: 3, Layout.IMAGE: 4}[layout]
    if x.ndim == need:
        return x
    if x.ndim == need - 1 and layout is not Layout.TABULAR:
        return x[:, None]  # one channel
    if layout is Layout.TABULAR and x.ndim > 2:
        return x.reshape(len(x), -1)
    raise DataError(f"{p}: array {key!r} of shape {x.shape} does not fit layout {layout.value}")


def _read_csv(p: Path, label: str | None, task: Task | None) -> RawData:
    header, rows = _csv_rows(p)
    col = len(header) - 1 if label is None else _label_index(header, label, p)
    if len(header) < 2:
        raise DataError(f"{p}: need at least one feature column and one label column")
    features = [i for i in range(len(header)) if i != col]
    x = np.empty((len(rows), len(features)), dtype=np.float64)
    for j, i in enumerate(features):
        x[:, j] = _numeric_column(p, header[i], [r[i] for r in rows])
    raw_labels = [r[col].strip() for r in rows]
    for line, v in enumerate(raw_labels, start=2):
        if v == "" or v.lower() == "nan":
            raise DataError(f"{p}: label column {header[col]!r} is empty or NaN on line {line}")
    try:
        y: np.ndarray = np.asarray([float(v) for v in raw_labels])
    except ValueError:
        y = np.asarray(raw_labels)
    tsk = task or infer_task(y)
    return RawData(
        x=x,
        y=y,
        task=tsk,
        layout=Layout.TABULAR,
        source=f"user file {p.name}",
        meta={"features": [header[i] for i in features], "label": header[col]},
    )


def _csv_rows(p: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{p} is not a readable .csv file ({exc})") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise DataError(f"{p}: need a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for line, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise DataError(f"{p}: line {line} has {len(r)} fields; the header has {len(header)}")
    return header, rows[1:]


def _label_index(header: list[str], label: str, p: Path) -> int:
    if label not in header:
        raise DataError(f"{p}: label column {label!r} not found; columns: {', '.join(header)}")
    return header.index(label)


def _numeric_column(p: Path, name: str, values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float64)
    for line, v in enumerate(values, start=2):
        if not v.strip():
            raise DataError(f"{p}: column {name!r} has an empty value on line {line}")
        try:
            out[line - 2] = float(v)
        except ValueError:
            raise DataError(f"{p}: column {name!r} is not numeric (line {line}: {v!r})") from None
        if not math.isfinite(out[line - 2]):
            raise DataError(f"{p}: column {name!r} has a NaN or infinite value on line {line}")
    return out
