"""Fixtures for the tree tests: small fitted models on bundled data, toolchain checks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

TOOLS = {
    "cc": ("cc",),
    "arm": ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"),
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.toolchain("cc")`` / ``("arm")``: skip, naming the tool, if it is missing."""
    mark = item.get_closest_marker("toolchain")
    if mark is None:
        return
    for kind in mark.args or ("cc",):
        missing = [t for t in TOOLS[kind] if shutil.which(t) is None]
        if missing:
            pytest.skip(f"needs {', '.join(missing)} on PATH")


@pytest.fixture(scope="session")
def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


@pytest.fixture(scope="session")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return x.astype(np.float32), y


@pytest.fixture(scope="session")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    return x.astype(np.float32), y


@pytest.fixture(scope="session")
def int_data() -> tuple[np.ndarray, np.ndarray]:
    """Integer-valued features (like sensor ADC readings), 3 classes."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return np.round(x * 100).astype(np.float32), y


@pytest.fixture(scope="session")
def rf_iris(iris):  # type: ignore[no-untyped-def]
    from sklearn.ensemble import RandomForestClassifier

    x, y = iris
    return RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0).fit(x, y)
