"""Training records and the two extension points of the loop: callbacks and the loss hook."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from edgeslim._core.errors import ModelError

if TYPE_CHECKING:
    import torch


MONITORS = ("val_loss", "val_metric")


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How to train: Adam with weight decay, early stopping on validation loss.

    ``monitor`` picks what "better" means for early stopping and for the restored weights:
    ``"val_loss"`` (lower loss) or ``"val_metric"`` (higher accuracy or R², ties broken by lower
    loss; steadier than the loss on very small validation splits). ``patience`` is the number of
    epochs without improvement after which training stops; 0 turns early stopping off.
    ``max_grad_norm`` clips the gradient norm (None: no clipping). ``standardize_targets``
    trains regression heads on standardized targets and folds the scale back into the output
    layer afterwards (see :func:`fit`).
    """

    epochs: int = 20
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    patience: int = 5
    seed: int = 0
    max_grad_norm: float | None = None
    standardize_targets: bool = True
    monitor: str = "val_loss"

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise ModelError(
                f"parameter monitor of TrainConfig must be one of "
                f"{', '.join(MONITORS)}; got {self.monitor!r}"
            )
        _check_int(self.epochs, "epochs", 0)
        _check_int(self.batch_size, "batch_size", 1)
        _check_int(self.patience, "patience", 0)
        _check_int(self.seed, "seed", 0)
        _check_float(self.lr, "lr", strict=True)
        _check_float(self.weight_decay, "weight_decay", strict=False)
        if self.max_grad_norm is not None:
            _check_float(self.max_grad_norm, "max_grad_norm", strict=True)

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__slots__}  # type: ignore[attr-defined]


def _check_int(value: object, name: str, lo: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise ModelError(
            f"parameter {name} of TrainConfig must be an integer >= {lo}; got {value!r}"
        )


def _check_float(value: object, name: str, *, strict: bool) -> None:
    v = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if v is None or not math.isfinite(v) or (v <= 0 if strict else v < 0):
        raise ModelError(
            f"parameter {name} of TrainConfig must be a number "
            f"{'> 0' if strict else '>= 0'}; got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class TrainHistory:
    """Per-epoch numbers of one :func:`fit` call (index = epoch, 0-based).

    ``val_metric`` is accuracy for classification and R² for regression (``metric`` names it).
    ``best_epoch`` is the epoch whose weights the model holds after ``fit`` (-1: no epoch ran).
    Regression losses are in standardized target units when ``standardize_targets`` is on.
    """

    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    val_metric: tuple[float, ...]
    metric: str
    best_epoch: int
    stopped_early: bool
    seconds: float

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    @property
    def best_val_loss(self) -> float:
        return self.val_loss[self.best_epoch] if self.best_epoch >= 0 else math.nan

    @property
    def best_val_metric(self) -> float:
        return self.val_metric[self.best_epoch] if self.best_epoch >= 0 else math.nan


class Callback:
    """Hooks called by :func:`fit`; subclass and override what you need (all are no-ops).

    Contract: hooks run in the training thread, in the order callbacks were given. They may
    change the model's parameters in place (e.g. re-apply pruning masks in ``on_step_end``) but
    must not replace modules. ``on_epoch_end`` returns True to stop training after that epoch.
    ``logs`` holds ``train_loss``, ``val_loss`` and ``val_metric`` of the epoch.
    """

    def on_train_begin(self, model: Any, config: TrainConfig) -> None:
        """Before the first epoch; ``model`` is in training mode."""

    def on_step_end(self, step: int, model: Any) -> None:
        """After every optimizer step (``step`` counts from 0 over the whole run)."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> bool:
        """After validating epoch ``epoch`` (0-based); return True to stop."""
        return False

    def on_train_end(self, history: TrainHistory) -> None:
        """After the best weights were restored."""


class ProgressFn(Protocol):
    """Progress reporting: called once per epoch with the 0-based epoch, the planned number of
    epochs and the epoch's logs. A rich progress task fits in one line:
    ``lambda epoch, total, logs: task.advance(1)``."""

    def __call__(self, epoch: int, total: int, logs: Mapping[str, float]) -> None: ...


LossFn = Callable[[Any, "torch.Tensor", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]
"""``loss_fn(model, x, y, logits) -> scalar tensor``: replaces the task loss during training
(distillation, regularizers). ``x`` is normalized, ``logits`` is ``model(x)``; validation still
uses the task loss so early stopping compares like with like."""
