"""User data files (.npz, .csv) and arrays: layouts, task inference, own test splits, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeslim._core.errors import DataError
from edgeslim.data import (
    STD_FLOOR,
    Layout,
    Task,
    dataset_from_arrays,
    fit_normalization,
    infer_task,
    load_dataset,
    load_user_file,
)


def _xy(n: int = 60, shape: tuple[int, ...] = (5,), classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)), np.arange(n) % classes


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("shape", "layout"),
    [((5,), Layout.TABULAR), ((3, 16), Layout.SERIES), ((1, 6, 6), Layout.IMAGE)],
)
def test_npz_layout_follows_x_ndim(tmp_path: Path, shape: tuple[int, ...], layout: Layout) -> None:
    x, y = _xy(shape=shape)
    np.savez(tmp_path / "d.npz", X=x, y=y)
    ds = load_user_file(tmp_path / "d.npz")
    assert ds.spec.layout is layout and ds.spec.input_shape == shape
    assert ds.spec.task is Task.CLASSIFICATION and ds.spec.num_classes == 3
    assert ds.spec.name == "d.npz"
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 60


def test_npz_explicit_layout_adds_channel_or_flattens(tmp_path: Path) -> None:
    x, y = _xy(shape=(6, 6))
    np.savez(tmp_path / "d.npz", X=x, y=y)
    assert load_user_file(tmp_path / "d.npz", layout="image").spec.input_shape == (1, 6, 6)
    assert load_user_file(tmp_path / "d.npz").spec.layout is Layout.SERIES
    assert load_user_file(tmp_path / "d.npz", layout="tabular").spec.input_shape == (36,)
    with pytest.raises(DataError, match=r"d\.npz: parameter layout must be one of"):
        load_user_file(tmp_path / "d.npz", layout="video")


def test_npz_keeps_its_test_split_and_maps_string_labels(tmp_path: Path) -> None:
    x, _ = _xy(40)
    names = np.array(["walk", "run", "sit", "jump"])
    y = names[np.arange(40) % 4]
    x_test, y_test = x[:8] + 10.0, names[np.arange(8) % 4]
    np.savez(tmp_path / "d.npz", X=x, y=y, X_test=x_test, y_test=y_test)
    ds = load_user_file(tmp_path / "d.npz", seed=1)
    np.testing.assert_allclose(ds.x_test, x_test.astype(np.float32))
    assert ds.meta["classes"] == sorted(names.tolist())
    assert [ds.meta["classes"][i] for i in ds.y_test] == y_test.tolist()  # type: ignore[index]
    assert len(ds.x_train) + len(ds.x_val) == 40


def test_float_targets_with_many_values_are_regression(tmp_path: Path) -> None:
    x, _ = _xy(80)
    y = x[:, 0] * 3.7 + 0.1
    np.savez(tmp_path / "r.npz", X=x, y=y)
    ds = load_user_file(tmp_path / "r.npz")
    assert ds.spec.task is Task.REGRESSION and ds.spec.output_dim == 1
    forced = load_user_file(tmp_path / "r.npz", task="regression")
    assert forced.spec.task is Task.REGRESSION
    assert infer_task(np.array([0.0, 1.0, 2.0, 1.0])) is Task.CLASSIFICATION
    assert infer_task(np.array([0.5, 1.5, 0.5])) is Task.CLASSIFICATION  # few values
    assert infer_task(np.linspace(0, 1, 50)) is Task.REGRESSION


def test_csv_default_label_is_last_column(tmp_path: Path) -> None:
    rows = [[i * 0.5, (i * 7) % 5, "yes" if i % 2 else "no"] for i in range(30)]
    path = _write_csv(tmp_path / "t.csv", ["a", "b", "label"], rows)
    ds = load_user_file(path)
    assert ds.spec.layout is Layout.TABULAR and ds.spec.input_shape == (2,)
    assert ds.meta["classes"] == ["no", "yes"] and ds.meta["features"] == ["a", "b"]


def test_csv_named_label_and_regression_inference(tmp_path: Path) -> None:
    rows = [[i * 1.37 % 11, i, (i * 7) % 5] for i in range(40)]
    path = _write_csv(tmp_path / "t.csv", ["price", "size", "rooms"], rows)
    ds = load_user_file(path, label="price")
    assert ds.spec.task is Task.REGRESSION and ds.meta["features"] == ["size", "rooms"]
    as_classes = load_user_file(path, label="rooms")
    assert as_classes.spec.task is Task.CLASSIFICATION and as_classes.spec.num_classes == 5
    via_registry = load_dataset(str(path), label="rooms", seed=0)
    np.testing.assert_array_equal(via_registry.y_train, as_classes.y_train)


def test_arrays_follow_the_same_rules() -> None:
    x, y = _xy(50)
    x[:, 2] = 7.0  # a constant feature
    ds = dataset_from_arrays("mine", x, y, task="classification", layout="tabular", seed=4)
    assert ds.normalization.std[2] == STD_FLOOR
    assert np.isfinite(ds.normalization.apply(ds.x_train)).all()
    again = dataset_from_arrays("mine", x, y, task="classification", layout="tabular", seed=4)
    np.testing.assert_array_equal(ds.x_val, again.x_val)


def test_tiny_classes_fall_back_to_an_unstratified_split() -> None:
    x, _ = _xy(20)
    y = np.array([0] * 19 + [1])
    ds = dataset_from_arrays("odd", x, y, task="classification", layout="tabular")
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 20


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 30),
    c=st.integers(1, 4),
    t=st.integers(1, 6),
    scale=st.floats(0.01, 100.0),
    seed=st.integers(0, 2**16),
)
def test_normalization_standardizes_each_channel(
    n: int, c: int, t: int, scale: float, seed: int
) -> None:
    x = (np.random.default_rng(seed).normal(size=(n, c, t)) * scale + scale).astype(np.float32)
    norm = fit_normalization(x)
    z = norm.apply(x).astype(np.float64)
    assert len(norm.mean) == c and min(norm.std) >= STD_FLOOR
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0.0, atol=1e-3)
    big = np.asarray(norm.std) > 1e-3 * scale
    np.testing.assert_allclose(z.std(axis=(0, 2))[big], 1.0, atol=1e-3)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"y": "y"}, "array 'X' is missing; found arrays: y"),
        ({"X": "x"}, "array 'y' is missing"),
        ({"X": "x", "y": "y", "X_test": "x"}, "array 'y_test' is missing"),
        ({"X": "x", "y": "y_short"}, "array 'X' has 20 samples but 'y' has 19"),
        ({"X": "x", "y": "y", "X_test": "x", "y_test": "y_short"}, "'X_test' has 20 samples"),
        ({"X": "x_nan", "y": "y"}, "array 'X' contains NaN"),
        ({"X": "x", "y": "y_nan"}, "array 'y' contains NaN"),
        ({"X": "x_1d", "y": "y"}, "need 2 \\(tabular\\)"),
    ],
)
def test_npz_errors_name_file_and_key(tmp_path: Path, arrays: dict[str, str], match: str) -> None:
    x, y = _xy(20)
    pool = {
        "x": x,
        "y": y,
        "y_short": y[:-1],
        "x_nan": np.where(x > 1, np.nan, x),
        "y_nan": np.where(y > 1, np.nan, y),
        "x_1d": x[:, 0],
    }
    path = tmp_path / "bad.npz"
    np.savez(path, **{key: pool[which] for key, which in arrays.items()})
    with pytest.raises(DataError, match=match) as info:
        load_user_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unreadable_files_raise_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    with pytest.raises(DataError, match=f"data file {missing} does not exist"):
        load_user_file(missing)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match=r"junk\.npz is not a readable \.npz file"):
        load_user_file(junk)
    objects = tmp_path / "obj.npz"
    np.savez(objects, X=np.array([{"a": 1}] * 8, dtype=object), y=np.arange(8))
    with pytest.raises(DataError, match=r"obj\.npz: array 'X' cannot be read"):
        load_user_file(objects)
    other = tmp_path / "d.parquet"
    other.write_text("x")
    with pytest.raises(DataError, match=r"must end with \.npz or \.csv"):
        load_user_file(other)
    x, y = _xy(20)
    np.savez(tmp_path / "ok.npz", X=x, y=y)
    with pytest.raises(DataError, match=r"parameter label applies to \.csv"):
        load_user_file(tmp_path / "ok.npz", label="y")
    with pytest.raises(DataError, match="unknown parameter 'n_samples' for data file"):
        load_dataset(str(tmp_path / "ok.npz"), n_samples=3)


@pytest.mark.parametrize(
    ("header", "rows", "kwargs", "match"),
    [
        (["a", "b"], [[1, 0]] * 6, {"label": "y"}, "label column 'y' not found; columns: a, b"),
        (["a", "y"], [[1, 0], ["x", 1]] * 3, {}, "column 'a' is not numeric \\(line 3: 'x'\\)"),
        (["a", "y"], [[1, 0], ["nan", 1]] * 3, {}, "column 'a' has a NaN .* on line 3"),
        (["a", "y"], [[1, 0], ["", 1]] * 3, {}, "column 'a' has an empty value on line 3"),
        (["a", "y"], [[1, 0], [2, ""]] * 3, {}, "label column 'y' is empty or NaN on line 3"),
        (["a", "y"], [[1, 0], [2, 1, 3]] * 3, {}, "line 3 has 3 fields; the header has 2"),
        (["a", "y"], [[1, 0]] * 6, {"layout": "image"}, ".csv files hold tabular data"),
        (["y"], [[1]] * 6, {}, "need at least one feature column"),
    ],
)
def test_csv_errors_name_file_and_column(
    tmp_path: Path,
    header: list[str],
    rows: list[list[object]],
    kwargs: dict[str, str],
    match: str,
) -> None:
    path = _write_csv(tmp_path / "bad.csv", header, rows)
    with pytest.raises(DataError, match=match) as info:
        load_user_file(path, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(info.value)
