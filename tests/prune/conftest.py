"""Fixtures of the pruning tests: one torch thread, a PassContext with short fine-tuning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from edgeslim.data import Dataset  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def make_ctx() -> Callable[..., Any]:
    """``make_ctx(dataset, **extras)``: a PassContext whose fine-tuning runs short fits."""
    from edgeslim.models.train import TrainConfig, evaluate, fit
    from edgeslim.passes import PassContext

    def make(dataset: Dataset, **extras: Any) -> Any:
        def fine_tune(model: Any, epochs: int) -> Any:
            fit(model, dataset, TrainConfig(epochs=epochs, patience=0, batch_size=32))
            return model

        def score(model: Any) -> float:
            return float(evaluate(model, dataset, "val")["accuracy"])

        return PassContext(dataset, 0, fine_tune, score, None, dict(extras))

    return make
