"""The training loop: Adam, task loss or a loss hook, early stopping, best weights restored."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgeslim._core.errors import DataError, ModelError
from edgeslim.data.spec import Dataset, Task
from edgeslim.models.train._config import Callback, LossFn, ProgressFn, TrainConfig, TrainHistory
from edgeslim.models.train._eval import eval_mode, predict, scores
from edgeslim.models.train._head import TargetScale, fold_scale, output_linear
from edgeslim.models.train._losses import task_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Prepared:
    """Normalized tensors of one dataset, ready for the loop."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: np.ndarray
    y_val: np.ndarray
    scale: TargetScale | None
    head: torch.nn.Linear | None


def fit(
    model: Any,
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    callbacks: Sequence[Callback] = (),
    progress: ProgressFn | None = None,
    loss_fn: LossFn | None = None,
) -> TrainHistory:
    """Train ``model`` in place on ``dataset`` and return the per-epoch history.

    Inputs are normalized with ``dataset.normalization`` (pass an unwrapped zoo model, not one
    from ``with_normalization``). Loss: cross-entropy or MSE, or ``loss_fn`` if given; Adam;
    early stopping on ``config.monitor`` (validation loss by default); the weights of the best
    epoch are restored and the model is left in eval mode. For a fixed ``config.seed`` and
    initial weights the result is deterministic; the global torch RNG state is restored
    afterwards.

    Regression with ``config.standardize_targets`` trains on standardized targets when the model
    ends in an ``nn.Linear`` and folds the target scale into that layer at the end; ``loss_fn``
    then sees standardized targets, and the history's regression losses are in those units.
    """
    config = config or TrainConfig()
    start = time.perf_counter()
    data = _prepare(model, dataset, config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        run = _Run(model, data, dataset.spec.task, config, callbacks, loss_fn)
        rows, best_epoch, best_state, stopped = run.epochs(progress)
    if best_state is not None:
        model.load_state_dict(best_state)
    if data.scale is not None and data.head is not None:
        fold_scale(data.head, data.scale)
    model.eval()
    history = TrainHistory(
        train_loss=tuple(r[0] for r in rows),
        val_loss=tuple(r[1] for r in rows),
        val_metric=tuple(r[2] for r in rows),
        metric="accuracy" if dataset.spec.task is Task.CLASSIFICATION else "r2",
        best_epoch=best_epoch,
        stopped_early=stopped,
        seconds=time.perf_counter() - start,
    )
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def _prepare(model: Any, dataset: Dataset, config: TrainConfig) -> _Prepared:
    name = dataset.spec.name
    if len(dataset.x_train) == 0 or len(dataset.x_val) == 0:
        raise DataError(f"dataset {name!r} needs non-empty training and validation splits")
    norm = dataset.normalization
    x_train, x_val = norm.apply(dataset.x_train), norm.apply(dataset.x_val)
    probe = torch.from_numpy(x_train[:2])
    with eval_mode(model):
        try:
            out = model(probe)
        except RuntimeError as exc:
            raise DataError(
                f"model does not accept samples of shape {tuple(x_train.shape[1:])} of dataset "
                f"{name!r}: {str(exc).splitlines()[0]}"
            ) from None
    if tuple(out.shape) != (len(probe), dataset.spec.output_dim):
        raise ModelError(
            f"model outputs shape {tuple(out.shape[1:])} but dataset {name!r} needs "
            f"({dataset.spec.output_dim},)"
        )
    y_train, y_val = dataset.y_train, dataset.y_val
    scale, head = None, None
    if dataset.spec.task is Task.REGRESSION and config.standardize_targets:
        with eval_mode(model):
            head = output_linear(model, probe)
        if head is None:
            log.info("model has no final nn.Linear; training on raw regression targets")
        else:
            scale = TargetScale.fit(y_train)
            y_train, y_val = scale.apply(y_train), scale.apply(y_val)
    y_tensor = torch.from_numpy(y_train)
    if dataset.spec.task is Task.CLASSIFICATION:
        y_tensor = y_tensor.long()
    return _Prepared(torch.from_numpy(x_train), y_tensor, x_val, y_val, scale, head)


class _Run:
    """State of one :func:`fit` call: the optimizer, the shuffling generator, the step count."""

    def __init__(
        self,
        model: Any,
        data: _Prepared,
        task: Task,
        config: TrainConfig,
        callbacks: Sequence[Callback],
        loss_fn: LossFn | None,
    ) -> None:
        self.model, self.data, self.task, self.config = model, data, task, config
        self.callbacks, self.loss_fn = callbacks, loss_fn
        self.optimizer = torch.optim.Adam(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.gen = torch.Generator().manual_seed(config.seed)
        self.step = 0

    def epochs(
        self, progress: ProgressFn | None
    ) -> tuple[list[tuple[float, float, float]], int, dict[str, torch.Tensor] | None, bool]:
        """Run the epochs; return (rows of train loss/val loss/val metric, best epoch, best
        state, stopped early)."""
        config, rows = self.config, []
        best_epoch, best_key, best_state = -1, (math.inf, math.inf), None
        self.model.train()
        for cb in self.callbacks:
            cb.on_train_begin(self.model, config)
        for epoch in range(config.epochs):
            train_loss = self.train_epoch(epoch)
            val = scores(self.task, predict(self.model, self.data.x_val, None), self.data.y_val)
            val_metric = val["accuracy"] if self.task is Task.CLASSIFICATION else val["r2"]
            rows.append((train_loss, val["loss"], val_metric))
            key = (val["loss"], 0.0)
            if config.monitor == "val_metric":
                key = (-val_metric if math.isfinite(val_metric) else math.inf, val["loss"])
            if key < best_key:
                best_epoch, best_key = epoch, key
                best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            logs = {"train_loss": train_loss, "val_loss": val["loss"], "val_metric": val_metric}
            if progress is not None:
                progress(epoch, config.epochs, logs)
            stop = [cb.on_epoch_end(epoch, logs) for cb in self.callbacks]
            if any(stop) or (config.patience and epoch - best_epoch >= config.patience):
                return rows, best_epoch, best_state, epoch + 1 < config.epochs
        return rows, best_epoch, best_state, False

    def train_epoch(self, epoch: int) -> float:
        """One pass over the shuffled training set; returns the mean training loss."""
        x, y, bs = self.data.x_train, self.data.y_train, self.config.batch_size
        perm = torch.randperm(len(x), generator=self.gen)
        total, seen = 0.0, 0
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            if len(idx) == 1 and len(x) > 1:
                continue  # a batch of one breaks batch norm; its sample is seen next epoch
            loss = self.train_step(x[idx], y[idx], epoch)
            total += loss * len(idx)
            seen += len(idx)
        return total / max(seen, 1)

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor, epoch: int) -> float:
        logits = self.model(xb)
        if self.loss_fn is not None:
            loss = self.loss_fn(self.model, xb, yb, logits)
        else:
            loss = task_loss(self.task, logits, yb)
        if not torch.isfinite(loss):
            raise ModelError(
                f"training diverged in epoch {epoch} (loss {float(loss)}); lower parameter lr "
                f"(now {self.config.lr}) or set max_grad_norm"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        for cb in self.callbacks:
            cb.on_step_end(self.step, self.model)
        self.step += 1
        return float(loss.detach())
