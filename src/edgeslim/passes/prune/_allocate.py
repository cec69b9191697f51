"""Which channels to cut: allocation of a ratio over groups, and solving for a target.

* ``uniform``: every group loses the same fraction of its channels (or the fraction given for
  it in ``group_ratios``, e.g. from sensitivity analysis);
* ``global``: channels of all groups compete on their score divided by their group's mean score
  (scores of different layers are not on one scale);
* ``sensitivity``: each group's ratio is the common ratio times the group's weight from the
  sensitivity analysis (robust groups lose more).

Every group keeps at least ``min_keep`` channels. Groups tied to one recurrent module lose the
same number of hidden units (one ``hidden_size`` per ``nn.LSTM``/``nn.GRU``).
:func:`solve_ratio` finds the ratio whose cut removes a target fraction of the prunable weights
or of the MACs, by bisection on the real cut model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from edgeslim.passes.prune._graph import DependencyGraph, Group, remove_channels
from edgeslim.passes.prune._stats import count_macs, weight_counts

ALLOCATIONS = ("uniform", "global", "sensitivity")
TARGETS = ("params", "macs", "channels")


@dataclass(frozen=True, slots=True)
class Allocation:
    """``group_ratios`` (by a group's first source key): absolute ratios for ``uniform``;
    relative weights (mean 1) multiplying the ratio for ``sensitivity``."""

    kind: str = "uniform"
    min_keep: int = 1
    group_ratios: Mapping[str, float] = field(default_factory=dict)
    cap: float = 0.95
    round_to: int = 1  # kept channels per group rounded up to a multiple (fast kernels)


def _limit(g: Group, min_keep: int) -> int:
    return max(0, min(g.prunable, len(g.channels) - min_keep))


def _lowest(g: Group, scores: torch.Tensor, n: int) -> list[int]:
    cands = [c for c, f in zip(g.channels, g.frozen, strict=True) if not f]
    cands.sort(key=lambda c: (float(scores[c]), c))
    return cands[:n]


def select_channels(
    graph: DependencyGraph, scores: torch.Tensor, ratio: float, alloc: Allocation
) -> list[int]:
    """Channels to remove at ``ratio`` (fraction of each group's channels, on average)."""
    counts: dict[int, int] = {}
    if alloc.kind == "global":
        pool: list[tuple[float, int, int]] = []
        for g in graph.groups:
            chans = torch.tensor(g.channels, dtype=torch.long)
            mean = float(scores[chans].mean()) or 1.0
            pool += [
                (float(scores[c]) / mean, c, g.id)
                for c, f in zip(g.channels, g.frozen, strict=True)
                if not f
            ]
        budget = round(ratio * sum(len(g.channels) for g in graph.groups if g.prunable))
        limits = {g.id: _limit(g, alloc.min_keep) for g in graph.groups}
        for _, _, gid in sorted(pool):
            if budget <= 0:
                break
            if counts.get(gid, 0) < limits[gid]:
                counts[gid] = counts.get(gid, 0) + 1
                budget -= 1
    else:
        for g in graph.groups:
            if alloc.kind == "sensitivity":
                r = min(alloc.cap, ratio * alloc.group_ratios.get(g.sources[0], 1.0))
            else:
                r = alloc.group_ratios.get(g.sources[0], ratio)
            counts[g.id] = min(int(r * len(g.channels) + 1e-9), _limit(g, alloc.min_keep))
    _tie(graph, counts, alloc.min_keep)
    if alloc.round_to > 1:
        for g in graph.groups:
            n, r = len(g.channels), alloc.round_to
            kept = min(n, -(-(n - counts.get(g.id, 0)) // r) * r)
            counts[g.id] = n - kept
    removed: list[int] = []
    for g in graph.groups:
        removed += _lowest(g, scores, counts.get(g.id, 0))
    return removed


def _tie(graph: DependencyGraph, counts: dict[int, int], min_keep: int) -> None:
    """Equal removal counts within each recurrent module."""
    ties: dict[str, list[Group]] = {}
    for g in graph.groups:
        if g.tie is not None:
            ties.setdefault(g.tie, []).append(g)
    for groups in ties.values():
        want = round(sum(counts.get(g.id, 0) for g in groups) / len(groups))
        n = min([want, *(_limit(g, min_keep) for g in groups)])
        for g in groups:
            counts[g.id] = n


Measure = Callable[[nn.Module], float]


def reduction(model: nn.Module, example: torch.Tensor, target: str) -> tuple[Measure, float]:
    """(cost function, cost of ``model``) for ``target`` ``params`` or ``macs``."""
    if target == "macs":

        def cost(m: nn.Module) -> float:
            return float(count_macs(m, example))
    else:

        def cost(m: nn.Module) -> float:
            return float(sum(nz for _, nz in weight_counts(m).values()))

    return cost, cost(model)


def solve_ratio(
    model: nn.Module,
    graph: DependencyGraph,
    scores: torch.Tensor,
    alloc: Allocation,
    *,
    cost: Measure,
    base_cost: float,
    target: float,
    iterations: int = 14,
) -> tuple[list[int], float]:
    """The smallest cut (in ratio) whose removal brings ``cost`` to ``(1 - target) *
    base_cost`` or below (the largest cut if none does); returns its channels and the
    reduction reached (fraction of ``base_cost``)."""

    def reached(ratio: float) -> tuple[list[int], float]:
        chans = select_channels(graph, scores, ratio, alloc)
        probe = copy.deepcopy(model)
        remove_channels(probe, graph, chans)
        return chans, 1.0 - cost(probe) / base_cost

    best = reached(1.0)
    if best[1] < target - 1e-9:
        return best
    lo, hi = 0.0, 1.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        chans, red = reached(mid)
        if red >= target - 1e-9:
            hi, best = mid, (chans, red)
        else:
            lo = mid
    return best
