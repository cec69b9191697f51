"""Channel importances: how much each channel of a dependency graph matters (higher = keep).

Contract of :class:`Importance`: ``scores(model, graph)`` returns a float64 tensor with one score
per channel of ``graph``; it never changes the model; for a fixed seed it is deterministic. A
channel's score sums over every parameter element the channel owns, in every role (its producer's
rows, batch-norm and depthwise entries, its consumers' columns, recurrent gate rows), through
the graph's unit maps.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from edgeslim._core.errors import RecipeError
from edgeslim.passes.prune._graph import DependencyGraph, MapEntry


class Importance(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def scores(self, model: nn.Module, graph: DependencyGraph) -> torch.Tensor:
        """One score per channel of ``graph`` (float64)."""


class MagnitudeImportance(Importance):
    """L1 (``p=1``) or L2 (``p=2``) norm of all parameters a channel owns."""

    def __init__(self, p: int = 2) -> None:
        self.p = p
        self.name = "l1" if p == 1 else "l2"  # type: ignore[misc]

    def scores(self, model: nn.Module, graph: DependencyGraph) -> torch.Tensor:
        total = graph.aggregate(lambda _n, w: w.abs() ** self.p)
        return total if self.p == 1 else total.sqrt()


def _is_bn_scale(graph: DependencyGraph, e: MapEntry) -> bool:
    return isinstance(graph.modules[e.module], nn.modules.batchnorm._BatchNorm) and (
        e.attr == "weight"
    )


class BNScaleImportance(Importance):
    """|gamma| of the batch norms of a channel (network slimming, Liu et al. 2017).

    Groups without batch norm (linear layers, recurrent units) fall back to the L1 norm, so
    every group can be pruned by one method; the fallback is listed in ``fallback_groups_``.
    """

    name = "bn_scale"

    def scores(self, model: nn.Module, graph: DependencyGraph) -> torch.Tensor:
        gamma = graph.aggregate(lambda _n, w: w.abs(), keep=lambda e: _is_bn_scale(graph, e))
        has_bn = graph.aggregate(
            lambda _n, w: torch.ones_like(w), keep=lambda e: _is_bn_scale(graph, e)
        )
        l1 = MagnitudeImportance(1).scores(model, graph)
        out = gamma.clone()
        self.fallback_groups_: list[str] = []
        for g in graph.groups:
            chans = torch.tensor(g.channels, dtype=torch.long)
            if bool((has_bn[chans] == 0).all()):
                out[chans] = l1[chans]
                self.fallback_groups_.append(g.sources[0])
        return out


class TaylorImportance(Importance):
    """First-order Taylor saliency (Molchanov et al. 2019): ``(sum over a channel of w * g)^2``.

    ``saliency`` maps qualified parameter names to accumulated ``w * dL/dw`` tensors computed
    by the training code (:func:`edgeslim.passes.prune.taylor_saliency`); it is data, passed in.
    """

    name = "taylor"

    def __init__(self, saliency: Mapping[str, torch.Tensor]) -> None:
        self.saliency = saliency

    def scores(self, model: nn.Module, graph: DependencyGraph) -> torch.Tensor:
        def fn(name: str, w: torch.Tensor) -> torch.Tensor:
            s = self.saliency.get(name)
            if s is None or tuple(s.shape) != tuple(w.shape):
                return torch.zeros_like(w)
            return torch.as_tensor(s, dtype=w.dtype)

        return graph.aggregate(fn) ** 2


class RandomImportance(Importance):
    """Uniform random scores: the baseline every method must beat."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def scores(self, model: nn.Module, graph: DependencyGraph) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed)
        return torch.rand(graph.n_channels, generator=gen, dtype=torch.float64)


IMPORTANCE_NAMES = ("l1", "l2", "bn_scale", "taylor", "random")


def make_importance(name: str, *, seed: int = 0, saliency: Any = None) -> Importance:
    """The importance called ``name`` (one of :data:`IMPORTANCE_NAMES`)."""
    if name == "l1":
        return MagnitudeImportance(1)
    if name == "l2":
        return MagnitudeImportance(2)
    if name == "bn_scale":
        return BNScaleImportance()
    if name == "taylor":
        if saliency is None:
            raise RecipeError("importance 'taylor' needs saliency scores; none were given")
        return TaylorImportance(saliency)
    if name == "random":
        return RandomImportance(seed)
    raise RecipeError(f"importance must be one of {', '.join(IMPORTANCE_NAMES)}; got {name!r}")
