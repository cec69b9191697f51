"""The training loop: determinism, best weights, early stopping, callbacks, hooks, errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from edgeslim._core.errors import DataError, ModelError
from edgeslim.data import Dataset, dataset_from_arrays, load_dataset
from edgeslim.models import CNNConfig, MLPConfig, build_model
from edgeslim.models.train import (
    Callback,
    TrainConfig,
    TrainHistory,
    distillation_loss,
    evaluate,
    fit,
    predict,
    task_loss,
)

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def wine() -> Dataset:
    return load_dataset("wine", seed=0)


def _mlp(ds: Dataset, seed: int = 0, **kw: Any) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(MLPConfig(**kw), ds.spec)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_fit_is_deterministic_for_a_seed(wine: Dataset) -> None:
    cfg = TrainConfig(epochs=5, lr=1e-2, batch_size=16, seed=3)
    a, b, c = _mlp(wine, dropout=0.2), _mlp(wine, dropout=0.2), _mlp(wine, dropout=0.2)
    ha, hb = fit(a, wine, cfg), fit(b, wine, cfg)
    hc = fit(c, wine, TrainConfig(epochs=5, lr=1e-2, batch_size=16, seed=4))
    assert ha.train_loss == hb.train_loss and ha.val_loss == hb.val_loss
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
    assert ha.train_loss != hc.train_loss


def test_fit_leaves_the_global_rng_alone(wine: Dataset) -> None:
    model = _mlp(wine, dropout=0.5)
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    fit(model, wine, TrainConfig(epochs=1))
    assert torch.equal(torch.rand(3), expected)


def test_best_weights_are_restored(wine: Dataset) -> None:
    model = _mlp(wine)
    history = fit(model, wine, TrainConfig(epochs=12, lr=3e-2, batch_size=8, patience=0))
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert not model.training
    val = evaluate(model, wine, "val")
    assert val["loss"] == pytest.approx(history.best_val_loss, rel=1e-5)
    assert val["accuracy"] == pytest.approx(history.best_val_metric)


def test_early_stopping_waits_patience_epochs() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 6)), rng.integers(0, 2, size=80)  # labels are noise
    ds = dataset_from_arrays("noise", x, y, task="classification", layout="tabular")
    cfg = TrainConfig(epochs=60, lr=3e-2, batch_size=8, patience=3)
    history = fit(_mlp(ds, hidden=(64, 64)), ds, cfg)
    assert history.stopped_early and history.epochs < cfg.epochs
    assert history.epochs - 1 - history.best_epoch == cfg.patience
    assert min(history.val_loss[history.best_epoch + 1 :]) >= history.best_val_loss


def test_monitor_val_metric_keeps_the_most_accurate_epoch(wine: Dataset) -> None:
    cfg = TrainConfig(epochs=10, lr=3e-2, batch_size=8, patience=0, monitor="val_metric")
    history = fit(_mlp(wine), wine, cfg)
    best = max(history.val_metric)
    tied = [i for i, m in enumerate(history.val_metric) if m == best]
    assert history.best_epoch == min(tied, key=lambda i: history.val_loss[i])


class _Recorder(Callback):
    def __init__(self, stop_at: int) -> None:
        self.stop_at, self.steps, self.epochs = stop_at, 0, []
        self.began = False
        self.ended: TrainHistory | None = None

    def on_train_begin(self, model: Any, config: TrainConfig) -> None:
        self.began = model.training

    def on_step_end(self, step: int, model: Any) -> None:
        assert step == self.steps
        self.steps += 1

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> bool:
        self.epochs.append((epoch, sorted(logs)))
        return epoch == self.stop_at

    def on_train_end(self, history: TrainHistory) -> None:
        self.ended = history


def test_callbacks_see_every_step_and_can_stop(wine: Dataset) -> None:
    rec = _Recorder(stop_at=2)
    calls: list[tuple[int, int, float]] = []
    cfg = TrainConfig(epochs=10, batch_size=32, patience=0)
    history = fit(
        _mlp(wine),
        wine,
        cfg,
        callbacks=[rec],
        progress=lambda e, total, logs: calls.append((e, total, logs["val_loss"])),
    )
    assert rec.began and history.epochs == 3 and history.stopped_early
    assert rec.ended is history
    batches = -(-len(wine.x_train) // cfg.batch_size)
    assert rec.steps == 3 * batches
    assert rec.epochs[0] == (0, ["train_loss", "val_loss", "val_metric"])
    assert [(e, t) for e, t, _ in calls] == [(0, 10), (1, 10), (2, 10)]
    assert [v for _, _, v in calls] == list(history.val_loss)


def test_loss_hook_replaces_the_training_loss(wine: Dataset) -> None:
    seen: list[tuple[int, int]] = []

    def zero(model: Any, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        seen.append((x.shape[0], logits.shape[1]))
        return 0.0 * logits.sum()

    model = _mlp(wine)
    before = _state(model)
    history = fit(model, wine, TrainConfig(epochs=2, batch_size=32, patience=0), loss_fn=zero)
    assert len(seen) == 2 * -(-len(wine.x_train) // 32) and seen[0] == (32, 3)
    assert history.train_loss == (0.0, 0.0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_distillation_loss_matches_its_definition() -> None:
    torch.manual_seed(0)
    teacher = nn.Linear(4, 3)
    x, logits, y = torch.randn(8, 4), torch.randn(8, 3), torch.randint(0, 3, (8,))
    t, a = 2.0, 0.3
    loss = distillation_loss(teacher, temperature=t, alpha=a)(None, x, y, logits)
    p = torch.softmax(teacher(x) / t, dim=1)
    kd = (p * (p.log() - torch.log_softmax(logits / t, dim=1))).sum(dim=1).mean()
    expected = a * kd * t * t + (1 - a) * nn.functional.cross_entropy(logits, y)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    ce_only = distillation_loss(teacher, alpha=0.0)(None, x, y, logits)
    assert float(ce_only) == pytest.approx(float(task_loss_ce(logits, y)), rel=1e-6)
    with pytest.raises(ModelError, match="temperature"):
        distillation_loss(teacher, temperature=0.0)
    with pytest.raises(ModelError, match="alpha"):
        distillation_loss(teacher, alpha=1.5)


def task_loss_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    from edgeslim.data import Task

    return task_loss(Task.CLASSIFICATION, logits, y)


def test_regression_learns_raw_target_scale() -> None:
    ds = load_dataset("diabetes", seed=0)
    model = _mlp(ds)
    history = fit(model, ds, TrainConfig(epochs=30, lr=3e-3, batch_size=32, patience=10))
    out = predict(model, ds.x_train, ds.normalization)[:, 0]
    assert abs(out.mean() - ds.y_train.mean()) < 0.2 * ds.y_train.std()
    assert evaluate(model, ds, "val")["r2"] == pytest.approx(history.best_val_metric, abs=1e-4)
    assert history.best_val_metric > 0.3


def test_regression_without_a_linear_head_trains_on_raw_targets() -> None:
    ds = load_dataset("synthetic-regression", n_samples=100, n_features=4, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1), nn.Tanh())
    history = fit(model, ds, TrainConfig(epochs=2))
    assert history.epochs == 2 and np.isfinite(history.train_loss).all()
    assert history.train_loss[0] > 100.0  # raw-unit MSE: nothing was standardized


def test_predict_restores_mode_and_batches(wine: Dataset) -> None:
    model = _mlp(wine, dropout=0.5)
    model.train()
    a = predict(model, wine.x_test, wine.normalization, batch_size=7)
    b = predict(model, wine.x_test, wine.normalization, batch_size=500)
    assert model.training
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # eval mode: dropout is off
    raw = predict(model, wine.normalization.apply(wine.x_test), None)
    np.testing.assert_allclose(raw, b, rtol=1e-5, atol=1e-6)


def test_evaluate_reports_task_metrics(wine: Dataset) -> None:
    model = _mlp(wine)
    fit(model, wine, TrainConfig(epochs=15, lr=1e-2, batch_size=16))
    result = evaluate(model, wine)
    logits = predict(model, wine.x_test, wine.normalization)
    assert result["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == wine.y_test))
    assert result["samples"] == len(wine.x_test) and result["accuracy"] > 0.8
    with pytest.raises(DataError, match="parameter split must be one of train, val, test"):
        evaluate(model, wine, "holdout")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": 0.0}, "lr"),
        ({"epochs": -1}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"weight_decay": -1e-3}, "weight_decay"),
        ({"patience": 1.5}, "patience"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"monitor": "val_acc"}, "monitor"),
    ],
)
def test_train_config_checks_its_parameters(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ModelError, match=f"parameter {name} of TrainConfig"):
        TrainConfig(**kwargs)


def test_mismatched_model_and_data_raise(wine: Dataset) -> None:
    digits = load_dataset("digits")
    with pytest.raises(DataError, match="does not accept samples of shape \\(13,\\)"):
        fit(build_model(CNNConfig(), digits.spec), wine, TrainConfig(epochs=1))
    ten_classes = dataclasses.replace(wine.spec, num_classes=10, output_dim=10)
    with pytest.raises(ModelError, match=r"outputs shape \(10,\).*needs \(3,\)"):
        fit(build_model(MLPConfig(), ten_classes), wine, TrainConfig(epochs=1))


def test_divergence_is_reported_with_the_learning_rate(wine: Dataset) -> None:
    def nan_loss(model: Any, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> Any:
        return logits.sum() * float("nan")

    with pytest.raises(ModelError, match=r"diverged in epoch 0.*lr"):
        fit(_mlp(wine), wine, TrainConfig(epochs=1), loss_fn=nan_loss)


def test_gradient_clipping_and_zero_epochs(wine: Dataset) -> None:
    model = _mlp(wine)
    before = _state(model)
    history = fit(model, wine, TrainConfig(epochs=0))
    assert history.epochs == 0 and history.best_epoch == -1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    clipped = fit(_mlp(wine), wine, TrainConfig(epochs=2, max_grad_norm=1e-3, lr=1e-2))
    free = fit(_mlp(wine), wine, TrainConfig(epochs=2, lr=1e-2))
    assert clipped.train_loss != free.train_loss


def test_batch_norm_model_with_a_batch_of_one_left_over() -> None:
    ds = load_dataset("synthetic-series", n_samples=40, channels=2, steps=8, seed=0)
    torch.manual_seed(0)
    model = build_model(CNNConfig(batchnorm=True), ds.spec)
    bs = len(ds.x_train) - 1  # the last batch holds one sample and is skipped
    history = fit(model, ds, TrainConfig(epochs=2, batch_size=bs))
    assert history.epochs == 2 and np.isfinite(history.train_loss).all()
