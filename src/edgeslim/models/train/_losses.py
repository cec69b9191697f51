"""Losses: the task loss (cross-entropy or MSE) and knowledge distillation for the loss hook."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from edgeslim._core.errors import ModelError
from edgeslim.data.spec import Task
from edgeslim.models.train._config import LossFn


def task_loss(task: Task, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (classification, integer labels) or mean squared error (regression)."""
    if task is Task.CLASSIFICATION:
        return F.cross_entropy(logits, y)
    return F.mse_loss(logits, y.reshape(logits.shape))


def distillation_loss(teacher: Any, *, temperature: float = 4.0, alpha: float = 0.5) -> LossFn:
    """A ``loss_fn`` for :func:`fit`: ``alpha * KD + (1 - alpha) * CE`` (Hinton et al., 2015).

    KD is the KL divergence between the temperature-softened teacher and student distributions,
    scaled by ``temperature**2``. The teacher runs in eval mode without gradients on the same
    normalized inputs, so it must have been trained on the same normalization.
    """
    if not temperature > 0:
        raise ModelError(
            f"parameter temperature of distillation_loss must be > 0; got {temperature!r}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ModelError(f"parameter alpha of distillation_loss must be in [0, 1]; got {alpha!r}")
    teacher.eval()

    def loss_fn(
        model: Any, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor
    ) -> torch.Tensor:
        with torch.no_grad():
            soft = F.softmax(teacher(x) / temperature, dim=1)
        kd = F.kl_div(F.log_softmax(logits / temperature, dim=1), soft, reduction="batchmean")
        return alpha * kd * temperature**2 + (1.0 - alpha) * F.cross_entropy(logits, y)

    return loss_fn
