"""Element scorers for masks, and the gradient saliency the training data provides.

* :class:`MagnitudeScorer`: ``|w|`` (Han et al. 2015);
* :class:`RandomScorer`: uniform noise, seeded per matrix (the baseline);
* :class:`TaylorScorer`: ``|w * dL/dw|`` from saliency data (first-order Taylor);
* :class:`MovementScorer`: ``-sum_t w * dL/dw`` accumulated while fine-tuning (Sanh et al.
  2020): weights moving away from zero score high, whatever their size.

:func:`taylor_saliency` is the training-side computation: it accumulates ``w * dL/dw`` of the
task loss over a few training batches and returns the result as plain data
(``{qualified parameter name: tensor}``), which passes take as input.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

SaliencyProvider = Callable[[nn.Module], Mapping[str, torch.Tensor]]


class MagnitudeScorer:
    def prepare(self, model: nn.Module) -> None:
        pass

    def scores(self, model: nn.Module, name: str, weight: torch.Tensor) -> torch.Tensor:
        return weight.abs()

    def training(self, model: nn.Module) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class RandomScorer:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.round = 0

    def prepare(self, model: nn.Module) -> None:
        self.round += 1

    def scores(self, model: nn.Module, name: str, weight: torch.Tensor) -> torch.Tensor:
        seed = (self.seed * 1_000_003 + zlib.crc32(name.encode()) * 31 + self.round) % (2**63)
        return torch.rand(weight.shape, generator=torch.Generator().manual_seed(seed))

    def training(self, model: nn.Module) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class TaylorScorer:
    """Saliency is fetched once per pruning step from ``provider(model)``."""

    def __init__(self, provider: SaliencyProvider) -> None:
        self.provider = provider
        self.saliency: Mapping[str, torch.Tensor] = {}

    def prepare(self, model: nn.Module) -> None:
        self.saliency = self.provider(model)

    def scores(self, model: nn.Module, name: str, weight: torch.Tensor) -> torch.Tensor:
        s = self.saliency.get(name)
        if s is None:
            return weight.abs()
        return torch.as_tensor(s).abs().reshape(weight.shape)

    def training(self, model: nn.Module) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class MovementScorer:
    """Accumulates ``-w * g`` at every backward pass while fine-tuning; starts from the
    saliency of ``provider`` so the first step has a signal before any fine-tuning."""

    def __init__(self, provider: SaliencyProvider | None = None) -> None:
        self.provider = provider
        self.acc: dict[str, torch.Tensor] = {}

    def prepare(self, model: nn.Module) -> None:
        if not self.acc and self.provider is not None:
            self.acc = {k: -torch.as_tensor(v).clone() for k, v in self.provider(model).items()}

    def scores(self, model: nn.Module, name: str, weight: torch.Tensor) -> torch.Tensor:
        s = self.acc.get(name)
        return weight.abs() if s is None else s.reshape(weight.shape)

    @contextlib.contextmanager
    def training(self, model: nn.Module) -> Iterator[None]:
        from edgeslim.passes.prune._stats import weight_params

        handles = []
        for name, p in weight_params(model):
            acc = self.acc.setdefault(name, torch.zeros_like(p.detach()))

            def hook(grad: torch.Tensor, p: torch.Tensor = p, acc: Any = acc) -> None:
                acc.sub_(grad.detach() * p.detach())

            handles.append(p.register_hook(hook))
        try:
            yield
        finally:
            for h in handles:
                h.remove()


def taylor_saliency(
    model: nn.Module,
    dataset: Any,
    *,
    batches: int = 8,
    batch_size: int = 64,
    seed: int = 0,
    square: bool = False,
) -> dict[str, torch.Tensor]:
    """``sum over batches b of w * dL_b/dw`` of the task loss for every parameter, or of its
    square with ``square`` (steadier for single elements). Eval mode, so batch-norm statistics
    stay as they are. ``dataset`` is an ``edgeslim.data.Dataset``."""
    from edgeslim.models.train import task_loss

    x = torch.from_numpy(dataset.normalization.apply(dataset.x_train))
    y = torch.from_numpy(dataset.y_train)
    if dataset.spec.task.value == "classification":
        y = y.long()
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(x), generator=gen)
    acc = {n: torch.zeros_like(p.detach()) for n, p in model.named_parameters()}
    was_training = model.training
    model.eval()
    try:
        for b in range(batches):
            idx = order[(b * batch_size) % len(x) :][:batch_size]
            if len(idx) == 0:
                break
            model.zero_grad(set_to_none=True)
            task_loss(dataset.spec.task, model(x[idx]), y[idx]).backward()
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if p.grad is not None:
                        wg = p.detach() * p.grad
                        acc[n] += wg * wg if square else wg
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return acc
