"""Dependency groups of a model, built once per pruning step from the labeled trace.

* A **channel** is a set of units that must go together (union of the units coupled by
  residual adds and other element-wise ops).
* A **group** is a set of sources (module outputs) whose channels are coupled; pruning removes
  channels of a group. Its ``tie`` names the recurrent module whose (layer, direction) groups
  must keep the same number of hidden units (``nn.LSTM`` has one ``hidden_size``).
* A channel is **frozen** when one of its units reaches the model output or an op edgeslim
  cannot cut; the reason is kept for the record.

:func:`build_dependency_graph` traces; :meth:`DependencyGraph.cuts` turns removed channels into
per-module :class:`ModuleCut` records; :func:`remove_channels` applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edgeslim.passes.prune._cuts import ModuleCut, UnitMap, rule_for
from edgeslim.passes.prune._trace import NONE, Source, TraceResult, label_model


@dataclass(frozen=True, slots=True)
class Group:
    id: int
    sources: tuple[str, ...]  # source keys
    channels: tuple[int, ...]  # channel (class) ids, in the order of the first source
    frozen: tuple[bool, ...]  # per channel
    tie: str | None  # recurrent module whose groups keep equal widths

    @property
    def prunable(self) -> int:
        return sum(1 for f in self.frozen if not f)


@dataclass(frozen=True, slots=True)
class MapEntry:
    """Unit of every element of one parameter in one role (``out``, ``in`` or ``pass``)."""

    module: str
    attr: str
    role: str
    units: torch.Tensor

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.attr}" if self.module else self.attr


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


class DependencyGraph:
    """Channels, groups and unit maps of one model (see module docstring)."""

    def __init__(self, model: nn.Module, trace: TraceResult) -> None:
        self.trace = trace
        self.modules = dict(model.named_modules())
        parent = list(range(trace.n_units))
        for a, b in trace.merges:
            ra, rb = _find(parent, a), _find(parent, b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        roots = [_find(parent, u) for u in range(trace.n_units)]
        ids: dict[int, int] = {}
        self.unit_channel = torch.tensor(
            [ids.setdefault(r, len(ids)) for r in roots], dtype=torch.long
        )
        self.n_channels = len(ids)
        frozen = torch.zeros(self.n_channels, dtype=torch.bool)
        self.reasons: dict[int, str] = {}
        for u, why in trace.frozen.items():
            c = int(self.unit_channel[u])
            frozen[c] = True
            self.reasons.setdefault(c, why)
        self.channel_frozen = frozen
        self.sources = {s.key: s for s in trace.sources}
        self.groups = self._groups()
        self.maps = self._unit_maps()

    def _groups(self) -> tuple[Group, ...]:
        by_channel: dict[int, list[Source]] = {}
        for s in self.trace.sources:
            for c in self.unit_channel[s.offset : s.offset + s.width].unique().tolist():
                by_channel.setdefault(c, []).append(s)
        parent = {s.key: s.key for s in self.trace.sources}

        def find(k: str) -> str:
            while parent[k] != k:
                k = parent[k]
            return k

        for members in by_channel.values():
            for s in members[1:]:
                a, b = find(members[0].key), find(s.key)
                if a != b:
                    parent[b] = a
        groups: list[Group] = []
        seen: dict[str, int] = {}
        for s in self.trace.sources:
            root = find(s.key)
            if root in seen:
                continue
            seen[root] = len(groups)
            members = [m for m in self.trace.sources if find(m.key) == root]
            chans = dict.fromkeys(
                c
                for m in members
                for c in self.unit_channel[m.offset : m.offset + m.width].tolist()
            )
            tie = next((m.module for m in members if m.slot is not None), None)
            frozen = tuple(bool(self.channel_frozen[c]) for c in chans)
            groups.append(
                Group(len(groups), tuple(m.key for m in members), tuple(chans), frozen, tie)
            )
        return tuple(groups)

    def _unit_maps(self) -> list[MapEntry]:
        """A :class:`MapEntry` for every role of every module."""
        out: list[MapEntry] = []

        def add(module: str, role: str, maps: list[UnitMap]) -> None:
            out.extend(MapEntry(module, attr, role, umap) for attr, umap in maps)

        for s in self.trace.sources:
            m = self.modules[s.module]
            ids = torch.arange(s.offset, s.offset + s.width)
            add(s.module, "out", rule_for(m).out_maps(m, s.slot, ids))
        for c in self.trace.consumers:
            m = self.modules[c.module]
            pos = torch.tensor(c.positions, dtype=torch.long)
            add(c.module, "in", rule_for(m).in_maps(m, pos))
        for p in self.trace.passthroughs:
            m = self.modules[p.module]
            chans = torch.tensor(p.channels, dtype=torch.long)
            add(p.module, "pass", rule_for(m).pass_maps(m, chans))
        return out

    # -- scores -----------------------------------------------------------------------------
    def aggregate(
        self,
        fn: Callable[[str, torch.Tensor], torch.Tensor],
        keep: Callable[[MapEntry], bool] | None = None,
    ) -> torch.Tensor:
        """Per-channel sums of ``fn(qualified parameter name, parameter)`` through the maps.

        ``keep(entry)`` filters the maps (e.g. batch-norm scales only).
        """
        scores = torch.zeros(self.n_channels, dtype=torch.float64)
        with torch.no_grad():
            for e in self.maps:
                if keep is not None and not keep(e):
                    continue
                param = getattr(self.modules[e.module], e.attr)
                values = fn(e.qualname, param.detach())
                mask = e.units >= 0
                chans = self.unit_channel[e.units[mask]]
                scores.index_add_(0, chans, values[mask].to(torch.float64))
        return scores

    def broadcast(
        self,
        model: nn.Module,
        channel_values: torch.Tensor,
        roles: tuple[str, ...] = ("out", "in", "pass"),
    ) -> list[tuple[nn.Parameter, torch.Tensor]]:
        """Per-channel values spread onto the elements of ``model``'s parameters, one
        (parameter, values) pair per map of the given roles."""
        modules = dict(model.named_modules())
        out = []
        for e in self.maps:
            if e.role not in roles:
                continue
            mask = e.units >= 0
            values = torch.zeros(e.units.shape, dtype=channel_values.dtype)
            values[mask] = channel_values[self.unit_channel[e.units[mask]]]
            out.append((getattr(modules[e.module], e.attr), values))
        return out

    def group_of_channel(self) -> torch.Tensor:
        owner = torch.full((self.n_channels,), -1, dtype=torch.long)
        for g in self.groups:
            owner[list(g.channels)] = g.id
        return owner

    # -- cuts -------------------------------------------------------------------------------
    def cuts(self, removed_channels: Iterable[int]) -> dict[str, ModuleCut]:
        removed = torch.zeros(self.n_channels, dtype=torch.bool)
        removed[list(removed_channels)] = True
        if bool((removed & self.channel_frozen).any()):
            raise ValueError("frozen channels cannot be removed")
        gone = removed[self.unit_channel]  # per unit

        def kept(units: tuple[int, ...]) -> torch.Tensor:
            u = torch.tensor(units, dtype=torch.long)
            drop = torch.zeros(len(u), dtype=torch.bool)
            drop[u >= 0] = gone[u[u >= 0]]
            return torch.nonzero(~drop).flatten()

        parts: dict[str, dict[str, Any]] = {}
        for s in self.trace.sources:
            keep = torch.nonzero(~gone[s.offset : s.offset + s.width]).flatten()
            entry = parts.setdefault(s.module, {"slots": {}})
            if s.slot is None:
                entry["out"] = keep
            else:
                entry["slots"][s.slot] = keep
        for c in self.trace.consumers:
            parts.setdefault(c.module, {"slots": {}})["inp"] = kept(c.positions)
        for p in self.trace.passthroughs:
            parts.setdefault(p.module, {"slots": {}})["channels"] = kept(p.channels)
        return {name: ModuleCut(**kw) for name, kw in parts.items()}

    def source_keep(self, removed_channels: Iterable[int]) -> dict[str, list[int]]:
        """Removed indices per source key (the replayable decision)."""
        removed = set(removed_channels)
        out = {}
        for s in self.trace.sources:
            chans = self.unit_channel[s.offset : s.offset + s.width].tolist()
            gone = [i for i, c in enumerate(chans) if c in removed]
            if gone:
                out[s.key] = gone
        return out

    def channels_of(self, removed: Mapping[str, Iterable[int]]) -> set[int]:
        """Channel ids of removed indices per source key (inverse of :meth:`source_keep`)."""
        out: set[int] = set()
        for key, idx in removed.items():
            s = self.sources[key]
            out.update(int(self.unit_channel[s.offset + i]) for i in idx)
        return out


def build_dependency_graph(model: nn.Module, example: torch.Tensor) -> DependencyGraph:
    """Trace ``model`` on ``example`` (one sample with its batch axis) and build its groups."""
    return DependencyGraph(model, label_model(model, example))


def remove_channels(model: nn.Module, graph: DependencyGraph, removed: Iterable[int]) -> None:
    """Physically remove ``removed`` channels from ``model`` (in place).

    ``model`` is the traced model or a copy of it (modules are looked up by name).
    """
    modules = dict(model.named_modules())
    for name, cut in graph.cuts(removed).items():
        m = modules[name]
        rule_for(m).apply(m, cut)


__all__ = [
    "NONE",
    "DependencyGraph",
    "Group",
    "MapEntry",
    "build_dependency_graph",
    "remove_channels",
]
