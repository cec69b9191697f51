"""Layer sensitivity curves and the allocation computed from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from prune_cases import IMAGE, SERIES, tiny_dataset, zoo_model

from edgeslim.passes.prune import SensitivityCurve, allocate_from_sensitivity, layer_sensitivity
from edgeslim.passes.prune._stats import weight_params

pytestmark = pytest.mark.torch


def _curve(layer: str, size: int, scores: tuple[float, ...]) -> SensitivityCurve:
    return SensitivityCurve(layer, "weights", size, (0.25, 0.5, 0.75), scores, 0.9)


def test_allocation_gives_robust_layers_more_sparsity() -> None:
    robust = _curve("robust", 100, (0.9, 0.9, 0.89))
    fragile = _curve("fragile", 100, (0.85, 0.6, 0.3))
    alloc = allocate_from_sensitivity([robust, fragile], 0.5)
    assert alloc["robust"] > alloc["fragile"]
    assert (alloc["robust"] * 100 + alloc["fragile"] * 100) / 200 == pytest.approx(0.5, abs=0.02)


def test_allocation_reaches_targets_beyond_the_curves() -> None:
    a, b = _curve("a", 10, (0.1, 0.1, 0.1)), _curve("b", 30, (0.9, 0.9, 0.9))
    alloc = allocate_from_sensitivity([a, b], 0.8)
    assert (alloc["a"] * 10 + alloc["b"] * 30) / 40 >= 0.75


def test_weight_sensitivity_leaves_the_model_unchanged(make_ctx: Callable[..., Any]) -> None:
    model = zoo_model("cnn", {"channels": [4, 6]}, IMAGE)
    ctx = make_ctx(tiny_dataset(IMAGE, n=40))
    before = {n: p.clone() for n, p in weight_params(model)}
    curves = layer_sensitivity(model, ctx.evaluate, levels=(0.5, 0.9))
    assert [c.layer for c in curves] == list(before)
    assert all(len(c.scores) == 2 and 0 <= min(c.scores) <= 1 for c in curves)
    assert all(torch.equal(p, before[n]) for n, p in weight_params(model))


def test_channel_sensitivity_treats_a_recurrent_module_as_one_layer(
    make_ctx: Callable[..., Any],
) -> None:
    model = zoo_model("gru", {"hidden": 6, "layers": 2}, SERIES)
    ctx = make_ctx(tiny_dataset(SERIES, n=40))
    curves = layer_sensitivity(
        model,
        ctx.evaluate,
        kind="channels",
        levels=(0.5,),
        example=torch.zeros(1, *SERIES.input_shape),
    )
    assert [c.layer for c in curves] == ["rnn"]
    assert curves[0].size == 12
