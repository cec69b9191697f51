"""Unstructured and semi-structured masks: which weight elements become zero.

Patterns: ``element`` (any element), ``nm`` (N of every M consecutive elements along a row of
the 2-D weight view ``(out, -1)`` are kept, e.g. 2:4), ``block`` (whole ``bh x bw`` blocks of the
2-D view). Allocation: ``layer`` (every weight matrix reaches the target) or ``global`` (one
threshold on the scores of all matrices). Masks only grow: an element once pruned stays pruned.

:class:`MaskPruner` drives a :class:`Scorer` through a schedule; while fine-tuning, forward
pre-hooks put the masked elements back to zero before every forward, so any training loop keeps
the sparsity without knowing about it.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from edgeslim.passes.prune._stats import layer_sparsity, weight_counts, weight_params

PATTERNS = ("element", "nm", "block")
MASK_ALLOCATIONS = ("layer", "global")


@dataclass(frozen=True, slots=True)
class Pattern:
    kind: str = "element"
    n: int = 2
    m: int = 4
    block: tuple[int, int] = (4, 4)

    @property
    def fixed_sparsity(self) -> float | None:
        return 1.0 - self.n / self.m if self.kind == "nm" else None


class Scorer(Protocol):
    """Element scores of a weight matrix: higher means keep. ``prepare`` runs once at the
    start of every pruning step (fetch saliency, advance a random stream)."""

    def prepare(self, model: nn.Module) -> None: ...

    def scores(self, model: nn.Module, name: str, weight: torch.Tensor) -> torch.Tensor: ...

    def training(self, model: nn.Module) -> contextlib.AbstractContextManager[None]: ...


def _keep_top(scores: torch.Tensor, keep: int) -> torch.Tensor:
    flat = scores.flatten()
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    if keep > 0:
        order = torch.argsort(flat, descending=True, stable=True)
        mask[order[:keep]] = True
    return mask.reshape(scores.shape)


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the ``n`` best of every ``m`` consecutive elements of each row (a short tail group
    keeps at most ``n``)."""
    rows = _rows(scores)
    pad = (-rows.shape[1]) % m
    padded = torch.cat([rows, torch.full((rows.shape[0], pad), -torch.inf)], 1)
    grouped = padded.reshape(rows.shape[0], -1, m)
    idx = torch.topk(grouped, n, dim=2, sorted=False).indices
    mask = torch.zeros_like(grouped, dtype=torch.bool).scatter_(2, idx, True)
    mask &= grouped > -torch.inf
    return mask.reshape(rows.shape[0], -1)[:, : rows.shape[1]].reshape(scores.shape)


def block_scores(scores: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """Mean score per block of the 2-D view (a block pruned before scores -inf)."""
    rows = _rows(scores)
    bh, bw = block
    ph, pw = (-rows.shape[0]) % bh, (-rows.shape[1]) % bw
    dead = torch.isneginf(rows)
    vals = torch.where(dead, torch.zeros_like(rows), rows)
    vals = torch.nn.functional.pad(vals, (0, pw, 0, ph))
    alive = torch.nn.functional.pad((~dead).float(), (0, pw, 0, ph))
    shape = (vals.shape[0] // bh, bh, vals.shape[1] // bw, bw)
    total = vals.reshape(shape).sum((1, 3))
    count = alive.reshape(shape).sum((1, 3))
    return torch.where(count > 0, total / count.clamp(min=1), -torch.inf)


def expand_blocks(
    block_mask: torch.Tensor, shape: torch.Size, block: tuple[int, int]
) -> torch.Tensor:
    bh, bw = block
    rows = shape[0]
    cols = int(torch.tensor(shape[1:]).prod()) if len(shape) > 1 else 1
    full = block_mask.repeat_interleave(bh, 0).repeat_interleave(bw, 1)[:rows, :cols]
    return full.reshape(shape)


@dataclass
class MaskPruner:
    """A :class:`~._schedule.Pruner` of weight elements (see module docstring)."""

    scorer: Scorer
    pattern: Pattern = field(default_factory=Pattern)
    allocation: str = "layer"
    exclude: tuple[str, ...] = ()
    layer_targets: Mapping[str, float] = field(default_factory=dict)  # at sparsity ``final``
    final: float = 0.0
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    reference: dict[str, int] = field(default_factory=dict)

    def names(self, model: nn.Module) -> list[str]:
        return [
            n
            for n, _ in weight_params(model)
            if not any(fnmatch.fnmatch(n, pat) for pat in self.exclude)
        ]

    def step(self, model: nn.Module, target: float) -> nn.Module:
        params = dict(weight_params(model))
        if not self.reference:
            self.reference = {n: p.numel() for n, p in params.items()}
        scores = {}
        self.scorer.prepare(model)
        for name in self.names(model):
            s = self.scorer.scores(model, name, params[name].detach()).to(torch.float64).clone()
            if name in self.masks:
                s[~self.masks[name]] = -torch.inf
            scores[name] = s
        for name, mask in self._select(scores, target).items():
            old = self.masks.get(name)
            self.masks[name] = mask if old is None else mask & old
        self.apply(model)
        return model

    def _select(self, scores: dict[str, torch.Tensor], target: float) -> dict[str, torch.Tensor]:
        p = self.pattern
        if p.kind == "nm":
            return {k: nm_mask(s, p.n, p.m) for k, s in scores.items()}
        units = (
            scores
            if p.kind == "element"
            else {k: block_scores(s, p.block) for k, s in scores.items()}
        )
        if self.allocation == "global":
            kept = _global(units, target)
        else:
            kept = {}
            for k, s in units.items():
                t = target
                if k in self.layer_targets:
                    scale = target / self.final if self.final > 0 else 1.0
                    t = min(0.999, self.layer_targets[k] * scale)
                kept[k] = _keep_top(s, max(1, s.numel() - round(t * s.numel())))
        if p.kind == "block":
            return {k: expand_blocks(m, scores[k].shape, p.block) for k, m in kept.items()}
        return kept

    def apply(self, model: nn.Module) -> None:
        params = dict(weight_params(model))
        with torch.no_grad():
            for name, mask in self.masks.items():
                params[name].mul_(mask.to(params[name].dtype))

    @contextlib.contextmanager
    def training(self, model: nn.Module) -> Iterator[None]:
        owners = _owners(model, self.masks)
        handles = [
            m.register_forward_pre_hook(lambda mod, _inp, names=names: self._zero(mod, names))
            for m, names in owners
        ]
        try:
            with self.scorer.training(model):
                yield
        finally:
            for h in handles:
                h.remove()
            self.apply(model)

    def _zero(self, module: nn.Module, names: list[tuple[str, str]]) -> None:
        with torch.no_grad():
            for attr, full in names:
                w = getattr(module, attr)
                w.mul_(self.masks[full].to(w.dtype))

    def describe(self, model: nn.Module) -> dict[str, Any]:
        counts = weight_counts(model)
        total = sum(self.reference.get(k, n) for k, (n, _) in counts.items())
        nz = sum(z for _, z in counts.values())
        return {
            "sparsity": 1.0 - nz / total if total else 0.0,
            "layers": layer_sparsity(model, self.reference or None),
        }


def _global(units: dict[str, torch.Tensor], target: float) -> dict[str, torch.Tensor]:
    names = list(units)
    flat = torch.cat([units[k].flatten() for k in names])
    keep = max(1, flat.numel() - round(target * flat.numel()))
    mask = _keep_top(flat, keep)
    out, start = {}, 0
    for k in names:
        n = units[k].numel()
        m = mask[start : start + n].reshape(units[k].shape)
        if not bool(m.any()):  # never empty a whole matrix
            m = _keep_top(units[k], 1)
        out[k] = m
        start += n
    return out


def _owners(
    model: nn.Module, masks: Mapping[str, torch.Tensor]
) -> list[tuple[nn.Module, list[tuple[str, str]]]]:
    out = []
    for mname, m in model.named_modules():
        prefix = f"{mname}." if mname else ""
        names = [
            (a, prefix + a) for a, _ in m.named_parameters(recurse=False) if prefix + a in masks
        ]
        if names:
            out.append((m, names))
    return out
