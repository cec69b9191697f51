"""Training of zoo models: ``fit`` with callbacks and a loss hook, ``predict``, ``evaluate``.

``fit(model, dataset, TrainConfig(...), callbacks=..., progress=..., loss_fn=...)`` trains in
place and returns a :class:`TrainHistory`. :class:`Callback` and ``loss_fn`` are the extension
points later passes use (pruning masks, quantization-aware training, distillation).
"""

from __future__ import annotations

from edgeslim.models.train._config import (
    Callback,
    LossFn,
    ProgressFn,
    TrainConfig,
    TrainHistory,
)
from edgeslim.models.train._eval import evaluate, predict
from edgeslim.models.train._loop import fit
from edgeslim.models.train._losses import distillation_loss, task_loss

__all__ = [
    "Callback",
    "LossFn",
    "ProgressFn",
    "TrainConfig",
    "TrainHistory",
    "distillation_loss",
    "evaluate",
    "fit",
    "predict",
    "task_loss",
]
