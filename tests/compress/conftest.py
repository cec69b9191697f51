"""Fixtures of the compression tests: one torch thread, tiny data, a short-training context."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def make_ctx() -> Callable[..., Any]:
    """``make_ctx(dataset)``: a PassContext whose training runs short fits."""
    from edgeslim.models.train import TrainConfig, evaluate, fit
    from edgeslim.passes import PassContext

    def make(dataset: Any, epochs_cap: int = 100) -> Any:
        config = TrainConfig(epochs=1, patience=0, batch_size=32, lr=3e-3)

        def fine_tune(model: Any, epochs: int) -> Any:
            fit(
                model,
                dataset,
                TrainConfig(epochs=min(epochs, epochs_cap), patience=0, batch_size=32),
            )
            return model

        def score(model: Any) -> float:
            return float(evaluate(model, dataset, "val")["accuracy"])

        return PassContext(dataset, 0, fine_tune, score, None, {"train_config": config})

    return make
