"""Sparsity regularizers applied while training: they drive whole groups towards zero so that
removing them afterwards costs little.

* ``l1``: ``strength * sum |gamma|`` over batch-norm scales (network slimming, Liu et al. 2017);
* ``group_lasso``: ``strength * sum_c ||theta_c||_2`` over the parameters each prunable channel
  owns (Wen et al. 2016), recurrent gate rows included.

They are added as gradient hooks (the (sub)gradient of the penalty is added to each parameter's
gradient), so they work with any training loop, :func:`edgeslim.models.train.fit` included,
without changing its loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from edgeslim.passes.prune._graph import DependencyGraph

REGULARIZERS = ("none", "l1", "group_lasso")


@contextlib.contextmanager
def regularized(
    model: nn.Module, graph: DependencyGraph, kind: str, strength: float
) -> Iterator[None]:
    """Add the penalty's gradient while the context is active (``graph`` traced on ``model``)."""
    if kind == "none" or strength <= 0:
        yield
        return
    handles = _l1_hooks(model, strength) if kind == "l1" else _lasso_hooks(model, graph, strength)
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _l1_hooks(model: nn.Module, strength: float) -> list[torch.utils.hooks.RemovableHandle]:
    handles = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.weight is not None:
            w = m.weight
            handles.append(w.register_hook(lambda g, w=w: g + strength * torch.sign(w.detach())))
    return handles


def _lasso_hooks(
    model: nn.Module, graph: DependencyGraph, strength: float
) -> list[torch.utils.hooks.RemovableHandle]:
    """Per channel norms are computed at the start of each forward (weights only change in
    the optimizer step, after backward), then each parameter's hook adds ``w / norm``."""
    live = (~graph.channel_frozen).to(torch.float64)
    scale: dict[int, torch.Tensor] = {}

    def refresh(_mod: nn.Module, _inp: object) -> None:
        norms = graph.aggregate(lambda _n, w: w * w).sqrt().clamp(min=1e-12)
        spread: dict[int, torch.Tensor] = {}
        for param, values in graph.broadcast(model, live / norms):
            prev = spread.get(id(param))
            spread[id(param)] = values if prev is None else prev + values
        scale.clear()
        scale.update(spread)

    handles = [model.register_forward_pre_hook(refresh)]
    seen: set[int] = set()
    for param, _ in graph.broadcast(model, live):
        if id(param) in seen:
            continue
        seen.add(id(param))

        def hook(g: torch.Tensor, p: nn.Parameter = param) -> torch.Tensor:
            s = scale.get(id(p))
            return g if s is None else g + strength * (p.detach() * s.to(g.dtype))

        handles.append(param.register_hook(hook))
    return handles


def near_zero_fraction(graph: DependencyGraph, tol: float = 1e-3) -> float:
    """Fraction of prunable channels whose parameter norm is below ``tol`` times the mean."""
    norms = graph.aggregate(lambda _n, w: w * w).sqrt()
    live = ~graph.channel_frozen
    if not bool(live.any()):
        return 0.0
    mean = float(norms[live].mean()) or 1.0
    return float((norms[live] < tol * mean).double().mean())
