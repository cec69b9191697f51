"""Fixtures of the search tests: a small synthetic series set (3 channels x 40 steps, no
optional packages) and a tiny search recipe on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

TINY = """
name: {name}
seed: 0
data: {{name: synthetic-series, params: {{n_samples: 120, steps: 40}}}}
objectives: {{accuracy: max, instructions: min}}
sampler: {sampler}
pruner: median
prune_warmup: 1
train: {{epochs: {epochs}, batch_size: 8, lr: 0.01, monitor: val_metric}}
space:
  recurrent: {{cell: [gru, lstm], hidden: [4, 8], stride: [4, 5], window: [20, 40]}}
  tcn: {{levels: {{low: 1, high: 2}}, kernel: [2, 3], channels: [4], stride: [4]}}
  compression: {{sparsity: [0.0, 0.5], fine_tune_epochs: [1]}}
baselines: {baselines}
export_top: {export_top}
"""


@pytest.fixture(scope="session")
def tiny_series() -> Any:
    from edgeslim import data

    return data.load_dataset("synthetic-series", seed=0, n_samples=120, steps=40)


@pytest.fixture
def tiny_recipe(tmp_path: Path) -> Any:
    def make(
        name: str = "tiny",
        sampler: str = "nsga2",
        epochs: int = 1,
        baselines: str = "{}",
        export_top: int = 0,
    ) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(
            TINY.format(
                name=name,
                sampler=sampler,
                epochs=epochs,
                baselines=baselines,
                export_top=export_top,
            )
        )
        return path

    return make
