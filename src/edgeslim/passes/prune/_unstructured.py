"""Unstructured and semi-structured pruning passes (weights set to zero, shapes unchanged).

``prune.magnitude``, ``prune.random``, ``prune.taylor``, ``prune.movement`` (elements),
``prune.nm`` (N:M, e.g. 2:4) and ``prune.block`` (blocks). The exported model keeps its
parameter count and MACs; the gain is in storage, once weights are stored sparse
(:mod:`._storage`), and nowhere else on a dense runtime, which the realized-gain check says.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from edgeslim._core.errors import RecipeError
from edgeslim.passes._base import PassContext
from edgeslim.passes.prune._base import PrunePass
from edgeslim.passes.prune._masks import MaskPruner, Pattern, Scorer
from edgeslim.passes.prune._params import (
    Param,
    fractions_by_name,
    one_of,
    pair,
    positive_int,
    strings,
)
from edgeslim.passes.prune._schedule import Pruner, Schedule
from edgeslim.passes.prune._scorers import (
    MagnitudeScorer,
    MovementScorer,
    RandomScorer,
    SaliencyProvider,
    TaylorScorer,
    taylor_saliency,
)
from edgeslim.passes.prune._sensitivity import allocate_from_sensitivity, layer_sensitivity

_COMMON: dict[str, Param] = {
    "allocation": Param("layer", *one_of("layer", "global", "sensitivity")),
    "exclude": Param([], "a list of parameter name patterns", strings),
    "layer_sparsity": Param(
        {}, "a mapping of weight names to numbers in [0, 1)", fractions_by_name
    ),
}


def pack_mask(mask: torch.Tensor) -> dict[str, Any]:
    bits = np.packbits(mask.flatten().numpy().astype(np.uint8))
    return {"shape": list(mask.shape), "bits": base64.b64encode(bits.tobytes()).decode("ascii")}


def unpack_mask(entry: dict[str, Any]) -> torch.Tensor:
    shape = tuple(entry["shape"])
    n = int(np.prod(shape)) if shape else 1
    bits = np.frombuffer(base64.b64decode(entry["bits"]), dtype=np.uint8)
    return torch.from_numpy(np.unpackbits(bits)[:n].astype(bool)).reshape(shape)


def saliency_provider(ctx: PassContext, batches: int, square: bool = False) -> SaliencyProvider:
    """Saliency data given in ``ctx.extras['saliency']``, or computed on the training split
    (``sum_b w * g_b``, or ``sum_b (w * g_b)^2`` with ``square``)."""
    given = ctx.extras.get("saliency")
    if given is not None:
        return lambda _model: given
    return lambda model: taylor_saliency(
        model, ctx.dataset, batches=batches, seed=ctx.seed, square=square
    )


class _MaskPass(PrunePass):
    structured = False
    params_spec: ClassVar[dict[str, Param]] = dict(_COMMON)

    def scorer(self, ctx: PassContext, s: dict[str, Any]) -> Scorer:
        raise NotImplementedError

    def pattern(self, s: dict[str, Any]) -> Pattern:
        return Pattern()

    def make_pruner(self, model: nn.Module, ctx: PassContext, s: dict[str, Any]) -> Pruner:
        targets, alloc = dict(s["layer_sparsity"]), s["allocation"]
        final = self.final_sparsity(s)
        self.sensitivity_: list[dict[str, Any]] = []
        if alloc == "sensitivity":
            if ctx.evaluate is None:
                raise RecipeError(f"allocation 'sensitivity' of pass {self.name!r} needs data")
            curves = layer_sensitivity(model, ctx.evaluate, kind="weights")
            self.sensitivity_ = [c.to_dict() for c in curves]
            targets = {**allocate_from_sensitivity(curves, final), **targets}
            alloc = "layer"
        return MaskPruner(
            self.scorer(ctx, s), self.pattern(s), alloc, tuple(s["exclude"]), targets, final
        )

    def decisions(self, pruner: Pruner) -> dict[str, Any]:
        assert isinstance(pruner, MaskPruner)
        out: dict[str, Any] = {"masks": {k: pack_mask(m) for k, m in pruner.masks.items()}}
        if getattr(self, "sensitivity_", None):
            out["sensitivity"] = self.sensitivity_
            out["layer_targets"] = dict(pruner.layer_targets)
        return out


class MagnitudePrune(_MaskPass):
    """Zero the smallest weights, per matrix (``allocation: layer``) or over all (``global``)."""

    name = "prune.magnitude"

    def scorer(self, ctx: PassContext, s: dict[str, Any]) -> Scorer:
        return MagnitudeScorer()


class RandomPrune(_MaskPass):
    """Zero random weights: the baseline every method must beat."""

    name = "prune.random"

    def scorer(self, ctx: PassContext, s: dict[str, Any]) -> Scorer:
        return RandomScorer(ctx.seed)


class TaylorPrune(_MaskPass):
    """Zero the weights of least first-order Taylor saliency ``|w * dL/dw|``."""

    name = "prune.taylor"
    params_spec: ClassVar[dict[str, Param]] = {
        **_COMMON,
        "batches": Param(8, "an integer >= 1", positive_int),
    }

    def scorer(self, ctx: PassContext, s: dict[str, Any]) -> Scorer:
        return TaylorScorer(saliency_provider(ctx, s["batches"], square=True))


class MovementPrune(_MaskPass):
    """Zero the weights moving towards zero while fine-tuning (movement pruning)."""

    name = "prune.movement"
    params_spec: ClassVar[dict[str, Param]] = {
        **_COMMON,
        "batches": Param(8, "an integer >= 1", positive_int),
    }

    def scorer(self, ctx: PassContext, s: dict[str, Any]) -> Scorer:
        return MovementScorer(saliency_provider(ctx, s["batches"]))


def nm_for_sparsity(sparsity: float) -> tuple[int, int]:
    """The N:M pattern (M in 4, 8, 16) whose sparsity ``1 - N/M`` is nearest ``sparsity``."""
    best = min(
        ((n, m) for m in (4, 8, 16) for n in range(1, m)),
        key=lambda nm: (abs(1.0 - nm[0] / nm[1] - sparsity), nm[1]),
    )
    return best


class NMPrune(_MaskPass):
    """Keep N of every M consecutive weights along each row (2:4 by default).

    Give ``n`` and ``m``, or only ``sparsity`` to pick the nearest pattern with M in 4, 8, 16.
    """

    name = "prune.nm"
    params_spec: ClassVar[dict[str, Param]] = {
        "exclude": _COMMON["exclude"],
        "n": Param(None, "an integer >= 1", positive_int),
        "m": Param(None, "an integer >= 2", lambda v: positive_int(v) and v >= 2),
        "scorer": Param("magnitude", *one_of("magnitude", "random")),
    }

    def _nm(self, s: dict[str, Any]) -> tuple[int, int]:
        if s["n"] is None and s["m"] is None and "sparsity" in self.params:
            return nm_for_sparsity(float(s["sparsity"]))
        n, m = s["n"] or 2, s["m"] or 4
        if n >= m:
            raise self.fail("n", f"smaller than m ({m})", n)
        return n, m

    def validate(self) -> None:
        self._nm(self.settings())

    def final_sparsity(self, s: dict[str, Any]) -> float:
        n, m = self._nm(s)
        return 1.0 - n / m

    def pattern(self, s: dict[str, Any]) -> Pattern:
        n, m = self._nm(s)
        return Pattern("nm", n=n, m=m)

    def scorer(self, ctx: PassContext, s: dict[str, Any]) -> Scorer:
        return RandomScorer(ctx.seed) if s["scorer"] == "random" else MagnitudeScorer()

    def make_pruner(self, model: nn.Module, ctx: PassContext, s: dict[str, Any]) -> Pruner:
        return MaskPruner(self.scorer(ctx, s), self.pattern(s), "layer", tuple(s["exclude"]))

    def schedule(self, s: dict[str, Any]) -> Schedule:
        return Schedule("one_shot", 1, s["fine_tune_epochs"])


class BlockPrune(_MaskPass):
    """Zero whole ``block`` (rows x columns of the 2-D weight view) blocks of least mean |w|."""

    name = "prune.block"
    params_spec: ClassVar[dict[str, Param]] = {
        **_COMMON,
        "block": Param([4, 4], "a pair of integers >= 1", pair),
    }

    def pattern(self, s: dict[str, Any]) -> Pattern:
        return Pattern("block", block=(int(s["block"][0]), int(s["block"][1])))

    def scorer(self, ctx: PassContext, s: dict[str, Any]) -> Scorer:
        return MagnitudeScorer()


UNSTRUCTURED_PASSES = (
    MagnitudePrune,
    RandomPrune,
    TaylorPrune,
    MovementPrune,
    NMPrune,
    BlockPrune,
)
