"""Chained compression (``compress.chain``): stages that keep what earlier stages gained.

``stages`` is a list of passes (``{name: prune.magnitude, sparsity: 0.7, ...}``), applied in
order. Before each stage the chain takes the current sparsity pattern (every exact zero of the
weight matrices) and the weight shapes; while the stage trains, the pattern is re-applied
before every forward (also inside other passes' fine-tuning, e.g. quantization-aware
training), and after the stage the chain checks that every earlier zero is still zero and that
every weight kept its shape; a stage that broke either raises :class:`ModelError` naming the
stage and the layer. Stages that change the structure on purpose (``prune.channel``,
``compress.lowrank``, ``compress.separable``, ``compress.distill`` with a new ``student``) are
not checked; ``keep: false`` on a stage turns the check off, ``keep: true`` forces it.

Inside a chain, ``compress.distill`` without a teacher learns from the model the chain started
from (``teacher: original``), e.g. prune -> distill from the dense model -> QAT.

The record holds one entry per stage: validation accuracy, parameters, non-zero weights,
sparsity and what the check verified, plus the stage's own record.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

from edgeslim._core.errors import RecipeError
from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.compress._common import (
    CompressPass,
    KeepZeros,
    Param,
    apply_masks,
    boolean,
    check_masks,
    counts,
    score,
    weight_shapes,
    zero_masks,
)

RESHAPING = frozenset({"prune.channel", "compress.lowrank", "compress.separable"})


def _stages_ok(v: Any) -> bool:
    return (
        isinstance(v, list)
        and len(v) > 0
        and all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in v)
    )


def stage_keeps(stage: dict[str, Any]) -> bool:
    if isinstance(stage.get("keep"), bool):
        return bool(stage["keep"])
    name = stage["name"]
    if name == "compress.distill" and stage.get("student") is not None:
        return False
    return name not in RESHAPING


class Chain(CompressPass):
    """Compression passes in sequence with the earlier sparsity kept (see module docstring)."""

    name = "compress.chain"
    PARAMS = MappingProxyType(
        {
            "stages": Param(None, _stages_ok, "a non-empty list of passes {name: ..., ...}"),
            "check": boolean(True),
        }
    )

    def validate(self) -> None:
        super().validate()
        if self.p("stages") is None:
            raise self.fail("stages", "a non-empty list of passes {name: ..., ...}", None)
        from edgeslim import passes

        for i, stage in enumerate(self.p("stages")):
            if stage["name"] == self.name:
                raise RecipeError(f"stage {i} of pass 'compress.chain' is a chain itself")
            if "keep" in stage and not isinstance(stage["keep"], bool):
                raise self.fail(f"stages[{i}].keep", "true or false", stage["keep"])
            passes.create(stage["name"], _params(stage))

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        from edgeslim import passes
        from edgeslim.passes.quantize._model import float_module

        original = copy.deepcopy(float_module(model)).eval()
        records: list[dict[str, Any]] = [_describe(0, "input", model, ctx, None)]
        for i, stage in enumerate(self.p("stages"), start=1):
            label = f"{i} ({stage['name']})"
            current = float_module(model)
            masks = zero_masks(current)
            shapes = weight_shapes(current)
            sub = _stage_context(ctx, masks, original)
            result = passes.create(stage["name"], _params(stage)).apply(model, sub)
            model = result.model
            checked = None
            if self.p("check") and stage_keeps(stage):
                checked = check_masks(float_module(model), masks, shapes, label)
            entry = _describe(i, stage["name"], model, ctx, checked)
            entry["record"] = result.record
            entry["steps"] = list(result.steps)
            records.append(entry)
        final = records[-1]
        record = {
            "method": self.name,
            "params": {"stages": list(self.p("stages")), "check": self.p("check")},
            "stages": records,
            "claim": final["counts"],
        }
        return PassResult(model, record)


def _params(stage: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stage.items() if k not in ("name", "keep")}


def _stage_context(ctx: PassContext, masks: dict[str, Any], original: Any) -> PassContext:
    inner = ctx.fine_tune

    def fine_tune(module: Any, epochs: int) -> Any:
        if inner is None:
            return module
        with KeepZeros(module, masks):
            out = inner(module, epochs)
        apply_masks(out, masks)
        return out

    extras = {**ctx.extras, "chain_input": original}
    return PassContext(
        ctx.dataset,
        ctx.seed,
        fine_tune if inner is not None else None,
        ctx.evaluate,
        ctx.progress,
        extras,
    )


def _describe(
    index: int, name: str, model: Any, ctx: PassContext, checked: dict[str, Any] | None
) -> dict[str, Any]:
    from edgeslim.passes.quantize._model import float_module

    module = float_module(model)
    try:
        c = counts(module, ctx)
    except Exception:  # a wrapped (fake-quantized) model may not trace; weights still count
        c = {}
    w, nz = c.get("weights", 0), c.get("weights_nonzero", 0)
    return {
        "stage": index,
        "name": name,
        "accuracy": score(model, ctx),
        "counts": c,
        "sparsity": 1.0 - nz / w if w else 0.0,
        "kind": getattr(model, "kind", "float"),
        "check": checked,
    }
