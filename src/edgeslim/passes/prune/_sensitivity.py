"""Layer sensitivity: accuracy against sparsity, one layer at a time, and an allocation from it.

:func:`layer_sensitivity` prunes one weight matrix (``weights``: by magnitude) or one channel
group (``channels``: by L2 importance; the groups of one recurrent module together, since they
keep one width) at each level, without fine-tuning, and evaluates.
:func:`allocate_from_sensitivity` picks per-layer sparsities that reach an overall target while
losing as little as the curves predict: the smallest tolerated accuracy drop ``tau`` is searched
such that, allowing each layer the highest level whose drop stays within ``tau``, the
size-weighted sparsity reaches the target.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from edgeslim.passes.prune._allocate import Allocation, select_channels
from edgeslim.passes.prune._graph import build_dependency_graph, remove_channels
from edgeslim.passes.prune._importance import MagnitudeImportance
from edgeslim.passes.prune._masks import _keep_top
from edgeslim.passes.prune._stats import weight_params

DEFAULT_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True, slots=True)
class SensitivityCurve:
    """Score (validation accuracy) of the model with only ``layer`` pruned, per level."""

    layer: str  # weight matrix name, or first source key of a channel group
    kind: str  # "weights" or "channels"
    size: int  # elements (weights) or channels
    levels: tuple[float, ...]
    scores: tuple[float, ...]
    baseline: float

    def tolerated(self, drop: float) -> float:
        """Highest level whose score stays within ``drop`` of the baseline (0 if none)."""
        best = 0.0
        for level, score in zip(self.levels, self.scores, strict=True):
            if score >= self.baseline - drop:
                best = max(best, level)
        return best

    def to_dict(self) -> dict[str, object]:
        return {
            "layer": self.layer,
            "kind": self.kind,
            "size": self.size,
            "levels": list(self.levels),
            "scores": list(self.scores),
            "baseline": self.baseline,
        }


def _weights(
    model: nn.Module,
    evaluate: Callable[[nn.Module], float],
    levels: Sequence[float],
    baseline: float,
) -> list[SensitivityCurve]:
    curves = []
    for name, p in weight_params(model):
        original = p.detach().clone()
        scores = []
        for level in levels:
            keep = max(1, p.numel() - round(level * p.numel()))
            with torch.no_grad():
                p.mul_(_keep_top(original.abs(), keep).to(p.dtype))
            scores.append(float(evaluate(model)))
            with torch.no_grad():
                p.copy_(original)
        curves.append(
            SensitivityCurve(name, "weights", p.numel(), tuple(levels), tuple(scores), baseline)
        )
    return curves


def _channels(
    model: nn.Module,
    evaluate: Callable[[nn.Module], float],
    levels: Sequence[float],
    baseline: float,
    example: torch.Tensor,
) -> list[SensitivityCurve]:
    graph = build_dependency_graph(model, example)
    scores = MagnitudeImportance(2).scores(model, graph)
    units: dict[str, list[str]] = {}  # one entry per group, or per tied recurrent module
    for g in graph.groups:
        if g.prunable:
            units.setdefault(g.tie or g.sources[0], []).append(g.sources[0])
    curves = []
    for key, members in units.items():
        size = sum(len(g.channels) for g in graph.groups if g.sources[0] in members)
        values = []
        for level in levels:
            ratios = {
                g.sources[0]: (level if g.sources[0] in members else 0.0) for g in graph.groups
            }
            chans = select_channels(graph, scores, 0.0, Allocation("uniform", 1, ratios))
            probe = copy.deepcopy(model)
            remove_channels(probe, graph, chans)
            values.append(float(evaluate(probe)))
        curves.append(
            SensitivityCurve(key, "channels", size, tuple(levels), tuple(values), baseline)
        )
    return curves


def layer_sensitivity(
    model: nn.Module,
    evaluate: Callable[[nn.Module], float],
    *,
    kind: str = "weights",
    levels: Sequence[float] = DEFAULT_LEVELS,
    example: torch.Tensor | None = None,
) -> tuple[SensitivityCurve, ...]:
    """One curve per weight matrix (``kind="weights"``) or channel group (``"channels"``,
    needs ``example``). ``model`` is left as it was."""
    baseline = float(evaluate(model))
    if kind == "channels":
        if example is None:
            raise ValueError("channel sensitivity needs an example input")
        return tuple(_channels(model, evaluate, levels, baseline, example))
    return tuple(_weights(model, evaluate, levels, baseline))


def allocate_from_sensitivity(
    curves: Sequence[SensitivityCurve], target: float, *, cap: float = 0.95
) -> dict[str, float]:
    """Per-layer sparsity (by curve ``layer``) reaching ``target`` size-weighted on average."""
    total = sum(c.size for c in curves) or 1

    def plan(tau: float) -> dict[str, float]:
        return {c.layer: min(cap, c.tolerated(tau)) for c in curves}

    def mean(p: dict[str, float]) -> float:
        return sum(p[c.layer] * c.size for c in curves) / total

    lo, hi = 0.0, 1.0
    if mean(plan(hi)) < target:  # even a full drop does not reach it: scale up uniformly
        p = plan(hi)
        scale = target / max(mean(p), 1e-9)
        return {k: min(cap, v * scale if v > 0 else target) for k, v in p.items()}
    for _ in range(30):
        mid = (lo + hi) / 2
        if mean(plan(mid)) >= target:
            hi = mid
        else:
            lo = mid
    p = plan(hi)
    excess = mean(p) - target
    if excess > 0:  # trim the most generous layers back towards the target
        factor = target / mean(p)
        p = {k: v * factor for k, v in p.items()}
    return p
