"""Fixtures of the quantization tests: digits data and small trained float models (one torch
thread, few epochs, fixed seeds)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from quant_helpers import trained as _trained  # noqa: E402  (after the torch skip)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits() -> Any:
    from edgeslim import data

    return data.load_dataset("digits", seed=0)


@pytest.fixture(scope="session")
def digits_cnn(digits: Any) -> Any:
    return _trained("cnn", digits, 10)


@pytest.fixture(scope="session")
def digits_mlp(digits: Any) -> Any:
    return _trained("mlp", digits, 8)


@pytest.fixture(scope="session")
def digits_gru(digits: Any) -> Any:
    return _trained("gru", digits, 3, hidden=16)


@pytest.fixture(scope="session")
def float_cnn_onnx(digits_cnn: Any, digits: Any) -> Any:
    from edgeslim.passes.quantize._model import float_onnx

    return float_onnx(digits_cnn, digits)


@pytest.fixture(scope="session")
def float_mlp_acc(digits_mlp: Any, digits: Any) -> float:
    from quant_helpers import accuracy

    from edgeslim.passes.quantize._model import float_onnx

    return accuracy(float_onnx(digits_mlp, digits), digits)


@pytest.fixture(scope="session")
def digits_tcn(digits: Any) -> Any:
    return _trained("tcn", digits, 2, channels=(8, 8))


@pytest.fixture(scope="session")
def digits_dscnn(digits: Any) -> Any:
    return _trained("dscnn", digits, 10)


@pytest.fixture(scope="session")
def motions() -> Any:
    from edgeslim import data

    return data.load_dataset("basic-motions", seed=0)


@pytest.fixture(scope="session")
def digits_lstm(digits: Any) -> Any:
    return _trained("lstm", digits, 3, hidden=16)
