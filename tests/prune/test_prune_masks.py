"""Masks: N:M and block patterns, layer and global allocation, masks that only grow, and
masks that stay zero through an ordinary training loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from prune_cases import IMAGE, tiny_dataset, zoo_model

from edgeslim.passes.prune._masks import MaskPruner, Pattern, block_scores, expand_blocks, nm_mask
from edgeslim.passes.prune._scorers import MagnitudeScorer
from edgeslim.passes.prune._stats import weight_params

pytestmark = pytest.mark.torch


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 19),
    nm=st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 8)]),
    seed=st.integers(0, 1000),
)
def test_nm_keeps_the_n_largest_of_every_m(
    rows: int, cols: int, nm: tuple[int, int], seed: int
) -> None:
    n, m = nm
    scores = torch.rand(rows, cols, generator=torch.Generator().manual_seed(seed))
    mask = nm_mask(scores, n, m)
    for r in range(rows):
        for start in range(0, cols, m):
            group, kept = scores[r, start : start + m], mask[r, start : start + m]
            assert int(kept.sum()) == min(n, len(group))
            if kept.any() and (~kept).any():
                assert group[kept].min() >= group[~kept].max()


def test_block_masks_cover_whole_blocks() -> None:
    scores = torch.arange(48, dtype=torch.float64).reshape(6, 8)
    blocks = block_scores(scores, (2, 4))
    assert blocks.shape == (3, 2)
    keep = blocks >= blocks.flatten().sort().values[3]
    mask = expand_blocks(keep, scores.shape, (2, 4))
    for i in range(3):
        for j in range(2):
            tile = mask[2 * i : 2 * i + 2, 4 * j : 4 * j + 4]
            assert bool(tile.all()) or not bool(tile.any())


def _sparsities(model: Any) -> dict[str, float]:
    return {n: float((p == 0).float().mean()) for n, p in weight_params(model)}


def test_layer_allocation_hits_every_matrix_and_global_does_not() -> None:
    model = zoo_model("cnn", {"channels": [6, 8], "hidden": 10}, IMAGE)
    with torch.no_grad():
        model.net[1].weight.mul_(10.0)  # the first layer is much larger: global spares it
    layer = MaskPruner(MagnitudeScorer(), allocation="layer").step(
        zoo_model("cnn", {"channels": [6, 8], "hidden": 10}, IMAGE), 0.5
    )
    assert all(abs(s - 0.5) < 0.05 for s in _sparsities(layer).values())
    glob = MaskPruner(MagnitudeScorer(), allocation="global").step(model, 0.5)
    s = _sparsities(glob)
    assert s["net.1.weight"] < 0.05
    total = sum(p.numel() for _, p in weight_params(glob))
    zeros = sum(int((p == 0).sum()) for _, p in weight_params(glob))
    assert zeros / total == pytest.approx(0.5, abs=0.01)


def test_masks_only_grow_and_survive_training(make_ctx: Callable[..., Any]) -> None:
    model = zoo_model("cnn", {"channels": [6, 8]}, IMAGE)
    pruner = MaskPruner(MagnitudeScorer())
    pruner.step(model, 0.4)
    first = {k: m.clone() for k, m in pruner.masks.items()}
    ctx = make_ctx(tiny_dataset(IMAGE, n=60))
    with pruner.training(model):
        ctx.fine_tune(model, 2)
    for name, p in weight_params(model):
        assert bool((p[~first[name]] == 0).all()), name
    pruner.step(model, 0.7)
    for name, mask in pruner.masks.items():
        assert bool((mask <= first[name]).all())  # nothing pruned comes back


def test_pattern_fixed_sparsity() -> None:
    assert Pattern("nm", n=2, m=4).fixed_sparsity == 0.5
    assert Pattern("element").fixed_sparsity is None
