"""Sparse training with a fixed budget (``compress.rigl``): RigL (Evci et al., 2020).

Every selected weight matrix keeps exactly ``round((1 - sparsity) * n)`` active weights for the
whole run. The initial mask keeps the largest magnitudes (``init: magnitude``, for a trained
model) or is random (``init: random``). Every ``update_every`` optimizer steps, until
``stop_fraction`` of the run, a fraction of the active weights (``drop_fraction``, cosine-decayed
to 0) with the smallest magnitude is dropped and as many inactive weights with the largest
gradient magnitude are regrown (starting at 0). Masked weights are zeroed after every step.
``distribution``: ``uniform`` (every layer at ``sparsity``) or ``erk`` (Erdős-Rényi-kernel:
density proportional to ``(sum of dims) / (product of dims)``, scaled to meet the budget).
"""

from __future__ import annotations

import copy
import math
from types import MappingProxyType
from typing import Any

import torch

from edgeslim.models.train import Callback
from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.compress._common import (
    CompressPass,
    canonical,
    counts,
    float_in,
    int_in,
    one_of,
    score,
    selected,
    strings,
    train,
)
from edgeslim.passes.prune._stats import weight_params


def densities(shapes: list[tuple[int, ...]], sparsity: float, kind: str) -> list[float]:
    """Per-layer density meeting the overall budget ``1 - sparsity``."""
    if kind == "uniform":
        return [1.0 - sparsity] * len(shapes)
    sizes = [math.prod(s) for s in shapes]
    raw = [sum(s) / math.prod(s) for s in shapes]
    budget = (1.0 - sparsity) * sum(sizes)
    dense: set[int] = set()
    while True:  # layers whose ERK density exceeds 1 are dense; rescale the others
        free = budget - sum(sizes[i] for i in dense)
        denom = sum(raw[i] * sizes[i] for i in range(len(shapes)) if i not in dense)
        eps = free / denom if denom > 0 else 0.0
        over = {i for i in range(len(shapes)) if i not in dense and eps * raw[i] > 1.0}
        if not over:
            return [1.0 if i in dense else eps * raw[i] for i in range(len(shapes))]
        dense |= over


class RigL(Callback):
    """Mask maintenance and drop/regrow updates (see module docstring)."""

    def __init__(
        self,
        layers: list[tuple[str, torch.Tensor, torch.Tensor]],
        *,
        update_every: int,
        drop_fraction: float,
        total_steps: int,
        stop_fraction: float,
    ) -> None:
        self.layers = layers
        self.update_every = update_every
        self.drop_fraction = drop_fraction
        self.stop = int(stop_fraction * total_steps)
        self.total = max(total_steps, 1)
        self.updates: list[dict[str, Any]] = []

    def apply(self) -> None:
        with torch.no_grad():
            for _, p, mask in self.layers:
                p.mul_(mask)

    def on_train_begin(self, model: Any, config: Any) -> None:
        self.apply()

    def on_step_end(self, step: int, model: Any) -> None:
        if step > 0 and step % self.update_every == 0 and step < self.stop:
            self.update(step)
        self.apply()

    def update(self, step: int) -> None:
        frac = self.drop_fraction * 0.5 * (1 + math.cos(math.pi * step / self.stop))
        moved = 0
        with torch.no_grad():
            for _, p, mask in self.layers:
                grad = p.grad
                active = int(mask.sum())
                n = int(frac * active)
                if grad is None or n == 0 or active == mask.numel():
                    continue
                flat_m = mask.view(-1)
                mag = torch.where(flat_m, p.detach().abs().view(-1), torch.inf)
                drop = torch.topk(mag, n, largest=False).indices
                flat_m[drop] = False
                g = torch.where(flat_m, -torch.inf, grad.detach().abs().view(-1))
                g[drop] = -torch.inf  # a dropped weight is not regrown in the same update
                grow = torch.topk(g, n).indices
                flat_m[grow] = True
                p.view(-1)[grow] = 0.0
                moved += n
        self.updates.append({"step": step, "drop_fraction": frac, "moved": moved})


class SparseTrain(CompressPass):
    """RigL sparse training (see module docstring)."""

    name = "compress.rigl"
    PARAMS = MappingProxyType(
        {
            "sparsity": float_in(0.8, 0.0, 0.999),
            "epochs": int_in(10, 1, 100_000),
            "update_every": int_in(20, 1, 1_000_000),
            "drop_fraction": float_in(0.3, 0.0, 1.0),
            "stop_fraction": float_in(0.75, 0.0, 1.0),
            "distribution": one_of("uniform", "erk"),
            "init": one_of("magnitude", "random"),
            "layers": strings(["*"]),
        }
    )

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        from edgeslim.passes.quantize._model import float_module

        module = copy.deepcopy(float_module(model))
        acc_before = score(module, ctx)
        chosen = [
            (n, p) for n, p in weight_params(module) if selected(canonical(n), self.p("layers"))
        ]
        dens = densities(
            [tuple(p.shape) for _, p in chosen], self.p("sparsity"), self.p("distribution")
        )
        gen = torch.Generator().manual_seed(ctx.seed)
        layers = []
        for (n, p), d in zip(chosen, dens, strict=True):
            keep = max(1, round(d * p.numel()))
            s = (
                p.detach().abs()
                if self.p("init") == "magnitude"
                else torch.rand(p.shape, generator=gen)
            )
            mask = torch.zeros(p.numel(), dtype=torch.bool)
            mask[torch.topk(s.reshape(-1), keep).indices] = True
            layers.append((n, p, mask.view(p.shape)))
        n_train = len(ctx.dataset.x_train)
        base = ctx.extras.get("train_config")
        batch = base.batch_size if base is not None else 64
        total = self.p("epochs") * math.ceil(n_train / batch)
        rigl = RigL(
            layers,
            update_every=self.p("update_every"),
            drop_fraction=self.p("drop_fraction"),
            total_steps=total,
            stop_fraction=self.p("stop_fraction"),
        )
        rigl.apply()
        acc_masked = score(module, ctx)
        module = train(module, ctx, self.p("epochs"), callbacks=[rigl], keep_zeros=False)
        with torch.no_grad():  # the restored best epoch used the mask of its time
            for _, p, mask in layers:
                mask.copy_(p != 0)
        layer_sparsity = {n: 1.0 - float(m.float().mean()) for n, _, m in layers}
        record = {
            "method": self.name,
            "params": self.resolved(),
            "layers": layer_sparsity,
            "claim": counts(module, ctx),
            "accuracy_before": acc_before,
            "accuracy_masked": acc_masked,
            "accuracy_after": score(module, ctx),
        }
        return PassResult(module.eval(), record, tuple(rigl.updates))
