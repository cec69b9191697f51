"""The shared shape of every pruning pass: validate, copy, prune on a schedule, record.

:class:`PrunePass` does the common work; a subclass declares its ``params`` and builds its
pruner (``make_pruner``), may run a phase before the schedule (``before_schedule``, used by the
regularizers) and adds its decisions to the record (``decisions``). The record is JSON and holds:

* ``params``: the validated parameters (the pass replays from them and the decisions);
* ``claim``: what the pass claims on the torch model: weight sparsity, parameters and MACs
  before and after (the realized-gain check compares these with the exported artifact);
* ``layers``: final sparsity per weight matrix; ``histogram``: non-zero weight values before
  and after; ``notes``: fallbacks taken;
* the decisions: ``removed`` (structured) or ``masks`` (unstructured, packed bits in base64).

``steps`` of the result hold the pruning process: target, reached sparsity, per-layer
sparsity, accuracy after pruning and after fine-tuning, per schedule step.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import torch
from torch import nn

from edgeslim._core.errors import ModelError
from edgeslim.passes._base import Pass, PassContext, PassResult
from edgeslim.passes.prune._params import SCHEDULE_PARAMS, Param, check_params
from edgeslim.passes.prune._schedule import Pruner, Schedule, run_schedule
from edgeslim.passes.prune._stats import (
    count_macs,
    count_params,
    histogram,
    histogram_edges,
    weight_counts,
)


def example_input(model: nn.Module, ctx: PassContext) -> torch.Tensor:
    """One all-zero sample (with its batch axis) of the shape the model takes."""
    shape = ctx.extras.get("input_shape")
    if shape is None and ctx.dataset is not None:
        shape = ctx.dataset.spec.input_shape
    if shape is None:
        raise ModelError("pruning needs the input shape: give a dataset or extras['input_shape']")
    return torch.zeros((1, *(int(d) for d in shape)), dtype=torch.float32)


def _counts(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    w = weight_counts(model)
    return {
        "params": count_params(model),
        "macs": count_macs(model, example),
        "weights": sum(n for n, _ in w.values()),
        "weights_nonzero": sum(z for _, z in w.values()),
    }


class PrunePass(Pass):
    """Base of the pruning passes (see module docstring)."""

    params_spec: ClassVar[dict[str, Param]] = {}
    structured: ClassVar[bool] = False

    def settings(self) -> dict[str, Any]:
        return check_params(self.name, self.params, {**SCHEDULE_PARAMS, **self.params_spec})

    def validate(self) -> None:
        self.settings()

    def schedule(self, s: dict[str, Any]) -> Schedule:
        return Schedule(s["schedule"], s["steps"], s["fine_tune_epochs"])

    def final_sparsity(self, s: dict[str, Any]) -> float:
        return float(s["sparsity"])

    def make_pruner(self, model: nn.Module, ctx: PassContext, s: dict[str, Any]) -> Pruner:
        raise NotImplementedError

    def before_schedule(
        self, model: nn.Module, ctx: PassContext, s: dict[str, Any], pruner: Pruner
    ) -> tuple[nn.Module, list[dict[str, Any]]]:
        return model, []

    def decisions(self, pruner: Pruner) -> dict[str, Any]:
        return {}

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        s = self.settings()
        model = copy.deepcopy(model)
        example = example_input(model, ctx)
        before = _counts(model, example)
        edges = histogram_edges(model)
        hist_before = histogram(model, edges)
        pruner = self.make_pruner(model, ctx, s)
        schedule = self.schedule(s)
        model, pre_steps = self.before_schedule(model, ctx, s, pruner)
        model, steps = run_schedule(
            model,
            pruner,
            schedule,
            self.final_sparsity(s),
            fine_tune=ctx.fine_tune,
            evaluate=ctx.evaluate,
            progress=ctx.progress,
        )
        after = _counts(model, example)
        final = pruner.describe(model)
        record: dict[str, Any] = {
            "method": self.name,
            "params": s,
            "structured": self.structured,
            "claim": {
                "sparsity": final["sparsity"],
                "target": self.final_sparsity(s),
                **{f"{k}_before": v for k, v in before.items()},
                **{f"{k}_after": v for k, v in after.items()},
            },
            "layers": final["layers"],
            "histogram": {
                "edges": [float(e) for e in edges],
                "before": hist_before,
                "after": histogram(model, edges),
            },
            "notes": list(getattr(pruner, "notes", [])),
            **self.decisions(pruner),
        }
        model.eval()
        return PassResult(model, record, tuple(pre_steps + steps))
