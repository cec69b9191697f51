"""Structured pruning driver: groups, scores and cuts per schedule step; the replayable history.

Each step traces the current model (:func:`build_dependency_graph`), scores its channels with an
:class:`~._importance.Importance`, allocates the cut (:mod:`._allocate`) so that the prunable
weights (or the MACs, or the channels) shrink by the step's target fraction of the *original*
model, and removes the channels physically. Removed channels are kept as original indices per
source (``removed``), which :func:`replay_removal` applies to a fresh model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeslim.passes.prune._allocate import Allocation, reduction, select_channels, solve_ratio
from edgeslim.passes.prune._graph import DependencyGraph, build_dependency_graph, remove_channels
from edgeslim.passes.prune._importance import Importance
from edgeslim.passes.prune._stats import count_params, layer_sparsity, weight_counts

ImportanceFactory = Callable[[nn.Module], Importance]


@dataclass
class ChannelPruner:
    """A :class:`~._schedule.Pruner` that removes channels (see module docstring)."""

    example: torch.Tensor
    importance: ImportanceFactory
    allocation: Allocation = field(default_factory=Allocation)
    target: str = "params"  # params | macs | channels
    origin: dict[str, list[int]] = field(default_factory=dict)  # current -> original index
    widths: dict[str, int] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)  # source key -> module name
    reference: dict[str, int] = field(default_factory=dict)
    base_cost: float = 0.0
    notes: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # prunable source key -> module type

    def _start(self, model: nn.Module, graph: DependencyGraph) -> None:
        live = {k for g in graph.groups if g.prunable for k in g.sources}
        self.kinds = {
            k: type(graph.modules[s.module]).__name__
            for k, s in graph.sources.items()
            if k in live
        }
        self.origin = {k: list(range(s.width)) for k, s in graph.sources.items()}
        self.widths = {k: s.width for k, s in graph.sources.items()}
        self.modules = {k: s.module for k, s in graph.sources.items()}
        self.reference = {k: n for k, (n, _) in weight_counts(model).items()}
        if self.target != "channels":
            _, self.base_cost = reduction(model, self.example, self.target)

    def step(self, model: nn.Module, target: float) -> nn.Module:
        graph = build_dependency_graph(model, self.example)
        if not self.origin:
            self._start(model, graph)
        importance = self.importance(model)
        scores = importance.scores(model, graph)
        prunable = {g.sources[0] for g in graph.groups if g.prunable}
        fallback = [k for k in getattr(importance, "fallback_groups_", []) if k in prunable]
        if fallback:
            note = f"bn_scale: no batch norm in groups {', '.join(fallback)}; used L1 there"
            if note not in self.notes:
                self.notes.append(note)
        if self.target == "channels":
            alloc = self._channel_ratios(graph, target)
            chans = select_channels(graph, scores, target, alloc)
        else:
            cost, _ = reduction(model, self.example, self.target)
            chans, _ = solve_ratio(
                model,
                graph,
                scores,
                self.allocation,
                cost=cost,
                base_cost=self.base_cost,
                target=target,
            )
        self._track(graph.source_keep(chans))
        remove_channels(model, graph, chans)
        return model

    def _channel_ratios(self, graph: DependencyGraph, target: float) -> Allocation:
        """Per-group ratios of the *current* channels that reach ``target`` of the original."""
        ratios = {}
        for g in graph.groups:
            key = g.sources[0]
            now, orig = len(self.origin[key]), self.widths[key]
            keep = max(self.allocation.min_keep, round((1.0 - target) * orig))
            ratios[key] = max(0.0, (now - keep) / now) if now else 0.0
        return Allocation(
            "uniform", self.allocation.min_keep, ratios, round_to=self.allocation.round_to
        )

    def _track(self, removed_now: Mapping[str, list[int]]) -> None:
        for key, idx in removed_now.items():
            gone = set(idx)
            self.origin[key] = [o for i, o in enumerate(self.origin[key]) if i not in gone]

    def removed(self) -> dict[str, list[int]]:
        """Original indices removed per source key."""
        out = {}
        for key, kept in self.origin.items():
            gone = sorted(set(range(self.widths[key])) - set(kept))
            if gone:
                out[key] = gone
        return out

    def channel_maps(self) -> dict[str, list[int]]:
        """Kept (1) / removed (0) per original output channel of every prunable source."""
        return {
            key: [1 if i in set(kept) else 0 for i in range(self.widths[key])]
            for key, kept in self.origin.items()
            if key in self.kinds
        }

    def training(self, model: nn.Module) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def describe(self, model: nn.Module) -> dict[str, Any]:
        counts = weight_counts(model)
        ref = self.reference or {k: n for k, (n, _) in counts.items()}
        total = sum(ref.values())
        nz = sum(z for _, z in counts.values())
        return {
            "sparsity": 1.0 - nz / total if total else 0.0,
            "layers": layer_sparsity(model, ref),
            "params": count_params(model),
        }


def replay_removal(
    model: nn.Module, example: torch.Tensor, removed: Mapping[str, list[int]]
) -> nn.Module:
    """Apply a recorded ``removed`` (original indices per source key) to ``model`` in place."""
    graph = build_dependency_graph(model, example)
    remove_channels(model, graph, graph.channels_of(removed))
    return model
