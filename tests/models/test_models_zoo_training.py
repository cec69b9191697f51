"""Every zoo kind builds for every layout and learns something on tiny data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeslim.data import Dataset, dataset_from_arrays, load_dataset
from edgeslim.models import build_model, default_config, zoo_names
from edgeslim.models.train import TrainConfig, evaluate, fit, predict

pytestmark = pytest.mark.torch

QUICK = TrainConfig(epochs=4, lr=1e-2, batch_size=16, patience=0, seed=0)


def _tiny(layout: str) -> Dataset:
    """About 100 samples of an easy problem in ``layout``."""
    if layout == "tabular":
        return load_dataset(
            "synthetic-classification", n_samples=120, n_features=8, n_classes=3, seed=1
        )
    if layout == "series":
        return load_dataset(
            "synthetic-series", n_samples=120, channels=2, steps=16, n_classes=3, seed=1
        )
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.flatnonzero(d.target < 3)[:120]
    x = d.images[keep, None] / 16.0
    return dataset_from_arrays(
        "digits-0-2", x, d.target[keep], task="classification", layout="image", seed=1
    )


@pytest.mark.parametrize("layout", ["tabular", "image", "series"])
@pytest.mark.parametrize("kind", zoo_names())
def test_every_kind_builds_and_trains_on_every_layout(kind: str, layout: str) -> None:
    ds = _tiny(layout)
    torch.manual_seed(0)
    model = build_model(default_config(kind), ds.spec)
    out = predict(model, ds.x_test, ds.normalization)
    assert out.shape == (len(ds.x_test), ds.spec.output_dim) and out.dtype == np.float32
    history = fit(model, ds, QUICK)
    assert history.epochs == QUICK.epochs
    assert history.train_loss[-1] < history.train_loss[0]
    assert np.isfinite(history.val_loss).all()
    assert 0.0 <= evaluate(model, ds, "test")["accuracy"] <= 1.0


@pytest.mark.parametrize("kind", zoo_names())
def test_every_kind_trains_a_regression_head(kind: str) -> None:
    ds = load_dataset("synthetic-forecast", n_samples=120, channels=2, steps=12, seed=2)
    torch.manual_seed(0)
    model = build_model(default_config(kind), ds.spec)
    history = fit(model, ds, QUICK)
    assert history.metric == "r2"
    assert history.train_loss[-1] < history.train_loss[0]
    result = evaluate(model, ds, "val")
    # the target scale is folded into the head: R² on raw targets matches the history
    assert result["r2"] == pytest.approx(history.best_val_metric, abs=1e-4)
