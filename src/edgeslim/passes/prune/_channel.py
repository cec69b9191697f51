"""``prune.channel``: structured pruning that physically removes channels, filters, neurons and
recurrent hidden units, so the exported model has fewer parameters and MACs.

Parameters: ``importance`` (l1, l2, bn_scale, taylor, random), ``allocation`` (uniform, global,
or per group via ``group_sparsity``), ``target`` (what ``sparsity`` is a fraction of: prunable
``params``, ``macs`` or ``channels``), ``min_keep``, ``round_to`` (kept channels a multiple of
it: onnxruntime's kernels run 11 channels slower than 16, multiples of 4 or 8 keep the gain),
and a training-time ``regularizer`` (l1 on batch-norm scales, or group_lasso) applied for
``reg_epochs`` before pruning with ``reg_strength``; those epochs are part of
``fine_tune_epochs`` (the rest fine-tunes after).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from edgeslim._core.errors import RecipeError
from edgeslim.passes._base import PassContext
from edgeslim.passes.prune._allocate import Allocation
from edgeslim.passes.prune._base import PrunePass, example_input
from edgeslim.passes.prune._graph import build_dependency_graph
from edgeslim.passes.prune._importance import IMPORTANCE_NAMES, Importance, make_importance
from edgeslim.passes.prune._params import (
    Param,
    fractions_by_name,
    natural,
    non_negative,
    one_of,
    positive_int,
)
from edgeslim.passes.prune._regularize import near_zero_fraction, regularized
from edgeslim.passes.prune._schedule import Pruner, Schedule
from edgeslim.passes.prune._sensitivity import allocate_from_sensitivity, layer_sensitivity
from edgeslim.passes.prune._structured import ChannelPruner
from edgeslim.passes.prune._unstructured import saliency_provider


class ChannelPrune(PrunePass):
    """Remove whole channels by dependency group (see module docstring)."""

    name = "prune.channel"
    structured = True
    params_spec: ClassVar[dict[str, Param]] = {
        "importance": Param("l2", *one_of(*IMPORTANCE_NAMES)),
        "allocation": Param("uniform", *one_of("uniform", "global", "sensitivity")),
        "target": Param("params", *one_of("params", "macs", "channels")),
        "min_keep": Param(1, "an integer >= 1", positive_int),
        "round_to": Param(1, "an integer >= 1", positive_int),
        "group_sparsity": Param(
            {}, "a mapping of source names to numbers in [0, 1)", fractions_by_name
        ),
        "regularizer": Param("none", *one_of("none", "l1", "group_lasso")),
        "reg_strength": Param(1e-3, "a number >= 0", non_negative),
        "reg_epochs": Param(0, "an integer >= 0", natural),
        "batches": Param(8, "an integer >= 1", positive_int),
    }

    def validate(self) -> None:
        s = self.settings()
        if s["reg_epochs"] > s["fine_tune_epochs"]:
            raise self.fail(
                "reg_epochs", f"<= fine_tune_epochs ({s['fine_tune_epochs']})", s["reg_epochs"]
            )

    def schedule(self, s: dict[str, Any]) -> Schedule:
        budget = s["fine_tune_epochs"] - (s["reg_epochs"] if s["regularizer"] != "none" else 0)
        return Schedule(s["schedule"], s["steps"], max(0, budget))

    def make_pruner(self, model: nn.Module, ctx: PassContext, s: dict[str, Any]) -> Pruner:
        provider = saliency_provider(ctx, s["batches"]) if s["importance"] == "taylor" else None

        def importance(m: nn.Module) -> Importance:
            saliency = provider(m) if provider is not None else None
            return make_importance(s["importance"], seed=ctx.seed, saliency=saliency)

        example = example_input(model, ctx)
        ratios = dict(s["group_sparsity"])
        self.sensitivity_: list[dict[str, Any]] = []
        if s["allocation"] == "sensitivity":
            ratios = self._profile(model, ctx, example)
        alloc = Allocation(s["allocation"], s["min_keep"], ratios, round_to=s["round_to"])
        return ChannelPruner(example, importance, alloc, s["target"])

    def _profile(
        self, model: nn.Module, ctx: PassContext, example: torch.Tensor
    ) -> dict[str, float]:
        """Relative cut per group (mean 1) from channel sensitivity: robust groups lose more."""
        if ctx.evaluate is None:
            raise RecipeError(f"allocation 'sensitivity' of pass {self.name!r} needs data")
        curves = layer_sensitivity(model, ctx.evaluate, kind="channels", example=example)
        self.sensitivity_ = [c.to_dict() for c in curves]
        tolerated = allocate_from_sensitivity(curves, 0.5)
        graph = build_dependency_graph(model, example)
        per_group = {
            g.sources[0]: tolerated.get(g.sources[0], tolerated.get(g.tie or "", 0.0))
            for g in graph.groups
            if g.prunable
        }
        mean = sum(per_group.values()) / len(per_group) if per_group else 0.0
        if mean <= 0:
            return {}
        return {k: max(0.05, v / mean) for k, v in per_group.items()}

    def before_schedule(
        self, model: nn.Module, ctx: PassContext, s: dict[str, Any], pruner: Pruner
    ) -> tuple[nn.Module, list[dict[str, Any]]]:
        if s["regularizer"] == "none" or s["reg_epochs"] == 0 or ctx.fine_tune is None:
            return model, []
        graph = build_dependency_graph(model, example_input(model, ctx))
        before = near_zero_fraction(graph)
        with regularized(model, graph, s["regularizer"], float(s["reg_strength"])):
            model = ctx.fine_tune(model, s["reg_epochs"])
        step = {
            "step": 0,
            "phase": f"regularize ({s['regularizer']})",
            "target": 0.0,
            "epochs": s["reg_epochs"],
            **pruner.describe(model),
            "near_zero_channels_before": before,
            "near_zero_channels": near_zero_fraction(graph),
            "accuracy": ctx.evaluate(model) if ctx.evaluate is not None else None,
        }
        return model, [step]

    def decisions(self, pruner: Pruner) -> dict[str, Any]:
        assert isinstance(pruner, ChannelPruner)
        out: dict[str, Any] = {
            "removed": pruner.removed(),
            "channels": pruner.channel_maps(),
            "sources": dict(pruner.modules),
            "source_types": dict(pruner.kinds),
        }
        if getattr(self, "sensitivity_", None):
            out["sensitivity"] = self.sensitivity_
        return out
