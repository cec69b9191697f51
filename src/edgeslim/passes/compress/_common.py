"""Shared pieces of the compression passes: declared parameters, training with a loss hook,
sparsity masks that later training keeps, counts on the torch model, module surgery.

Masks: an exactly-zero weight of a trained float model only comes from pruning, so
:func:`zero_masks` takes every exact zero of the weight matrices as the incoming sparsity
pattern, and :class:`KeepZeros` puts those elements back to zero before every forward of the
model (a forward pre-hook on the root module), so any training loop (ours or another pass's
``fine_tune``) keeps the pattern. Layers are matched by their *canonical* name, the qualified
name without the attribute names wrappers add (``layer``, ``rnn``, ``float_module``, ...),
so a mask found on ``net.3.weight`` is found again on ``net.3.layer.weight`` after
quantization-aware training wrapped the layer.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from edgeslim._core.errors import ModelError, RecipeError
from edgeslim.passes._base import PassContext
from edgeslim.passes.prune._stats import count_macs, count_params, weight_params
from edgeslim.passes.quantize._common import (
    Param,
    QuantPass,
    boolean,
    float_in,
    int_in,
    one_of,
)

__all__ = [
    "CompressPass",
    "KeepZeros",
    "Param",
    "boolean",
    "canonical",
    "check_masks",
    "counts",
    "float_in",
    "int_in",
    "one_of",
    "replace_module",
    "selected",
    "train",
    "zero_masks",
]

WRAPPER_SEGMENTS = frozenset({"layer", "rnn", "float_module", "module", "model", "inner"})


def strings(default: Sequence[str]) -> Param:
    def ok(v: Any) -> bool:
        return isinstance(v, list | tuple) and all(isinstance(s, str) for s in v)

    return Param(tuple(default), ok, "a list of strings (glob patterns of layer names)")


def optional_dict(rule: str) -> Param:
    return Param(None, lambda v: v is None or isinstance(v, dict | str), rule)


class CompressPass(QuantPass):
    """A pass with declared ``PARAMS`` (checked as in the quantization passes); ``self.p(name)``
    reads one with its default."""

    def resolved(self) -> dict[str, Any]:
        out = super().resolved()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def example(ctx: PassContext) -> torch.Tensor:
    shape = ctx.extras.get("input_shape")
    if shape is None and ctx.dataset is not None:
        shape = ctx.dataset.spec.input_shape
    if shape is None:
        raise ModelError("compression passes need the input shape: give a dataset")
    return torch.zeros((1, *(int(d) for d in shape)), dtype=torch.float32)


def counts(model: nn.Module, ctx: PassContext) -> dict[str, int]:
    """Parameters, MACs, weight elements and non-zero weight elements of the torch model."""
    w = weight_params(model)
    return {
        "params": count_params(model),
        "macs": count_macs(model, example(ctx)),
        "weights": sum(int(p.numel()) for _, p in w),
        "weights_nonzero": sum(int(torch.count_nonzero(p)) for _, p in w),
    }


def score(model: nn.Module, ctx: PassContext) -> float | None:
    return None if ctx.evaluate is None else float(ctx.evaluate(model))


def canonical(name: str) -> str:
    return ".".join(s for s in name.split(".") if s not in WRAPPER_SEGMENTS)


def selected(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def zero_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """``canonical name -> bool mask of exact zeros`` for every weight matrix that has any."""
    out = {}
    for name, p in weight_params(model):
        z = p.detach() == 0
        if bool(z.any()):
            out[canonical(name)] = z.clone()
    return out


def weight_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {canonical(n): tuple(p.shape) for n, p in weight_params(model)}


def _resolve(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> list[tuple[Any, Any]]:
    params = {canonical(n): p for n, p in weight_params(model)}
    pairs = []
    for name, mask in masks.items():
        p = params.get(name)
        if p is not None and tuple(p.shape) == tuple(mask.shape):
            pairs.append((p, mask))
    return pairs


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for p, mask in _resolve(model, masks):
            p.masked_fill_(mask, 0.0)


class KeepZeros:
    """Context manager: while active, masked weights are zero before every forward of
    ``model`` and once more at the end (see module docstring)."""

    def __init__(self, model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
        self.model, self.masks = model, masks
        self.handle: Any = None

    def __enter__(self) -> KeepZeros:
        pairs = _resolve(self.model, self.masks)

        def hook(module: nn.Module, args: Any) -> None:
            with torch.no_grad():
                for p, mask in pairs:
                    p.masked_fill_(mask, 0.0)

        if pairs:
            self.handle = self.model.register_forward_pre_hook(hook)
            hook(self.model, ())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.remove()
        apply_masks(self.model, self.masks)


def check_masks(
    model: nn.Module,
    masks: Mapping[str, torch.Tensor],
    shapes: Mapping[str, tuple[int, ...]],
    stage: str,
) -> dict[str, Any]:
    """Raise :class:`ModelError` if ``model`` lost a layer, changed a weight's shape or has a
    non-zero element where ``masks`` has a zero; return what was checked."""
    params = {canonical(n): p for n, p in weight_params(model)}
    for name, shape in shapes.items():
        p = params.get(name)
        if p is None:
            raise ModelError(f"stage {stage} removed or renamed layer weight {name}")
        if tuple(p.shape) != tuple(shape):
            raise ModelError(
                f"stage {stage} changed the shape of {name} from {tuple(shape)} to "
                f"{tuple(p.shape)}; the earlier structure was not kept"
            )
    kept = 0
    for name, mask in masks.items():
        bad = int(torch.count_nonzero(params[name].detach()[mask]))
        if bad:
            raise ModelError(
                f"stage {stage} broke the earlier sparsity of {name}: {bad} of "
                f"{int(mask.sum())} pruned weights are non-zero again"
            )
        kept += int(mask.sum())
    return {"layers": len(shapes), "masked_layers": len(masks), "zeros_kept": kept}


def train(
    model: nn.Module,
    ctx: PassContext,
    epochs: int,
    *,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    callbacks: Sequence[Any] = (),
    keep_zeros: bool = True,
) -> nn.Module:
    """Train ``model`` in place with the run's training settings (``ctx.extras['train_config']``,
    else the defaults) for ``epochs``, with an optional loss hook and callbacks; incoming exact
    zeros stay zero when ``keep_zeros``."""
    if epochs <= 0:
        return model
    if ctx.dataset is None:
        raise RecipeError("compression passes that train need a dataset")
    from edgeslim.models.train import TrainConfig, fit

    base = ctx.extras.get("train_config") or TrainConfig(seed=ctx.seed)
    config = dataclasses.replace(base, epochs=int(epochs))
    masks = zero_masks(model) if keep_zeros else {}
    with KeepZeros(model, masks):
        fit(model, ctx.dataset, config, callbacks=callbacks, loss_fn=loss_fn)
    model.eval()
    return model


def replace_module(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, new)


@contextmanager
def hooks(handles: list[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def accuracy_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


_ = (boolean, float_in, int_in, one_of)
