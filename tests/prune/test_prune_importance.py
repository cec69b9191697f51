"""Importances, allocation and the regularizers on real dependency graphs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from prune_cases import IMAGE, SERIES, tiny_dataset, zoo_model

from edgeslim.passes.prune import (
    BNScaleImportance,
    MagnitudeImportance,
    RandomImportance,
    TaylorImportance,
    build_dependency_graph,
    taylor_saliency,
)
from edgeslim.passes.prune._allocate import Allocation, select_channels
from edgeslim.passes.prune._regularize import regularized

pytestmark = pytest.mark.torch


def _graph(model: Any, spec: Any) -> Any:
    return build_dependency_graph(model, torch.zeros(1, *spec.input_shape))


def test_l1_importance_sums_every_parameter_a_channel_owns() -> None:
    model = zoo_model("mlp", {"hidden": [5, 4]}, IMAGE)
    graph = _graph(model, IMAGE)
    scores = MagnitudeImportance(1).scores(model, graph)
    fc1, fc2 = model.net[1], model.net[3]
    s = graph.sources["net.1"]
    unit = int(graph.unit_channel[s.offset + 2])
    want = fc1.weight[2].abs().sum() + fc1.bias[2].abs() + fc2.weight[:, 2].abs().sum()
    assert float(scores[unit]) == pytest.approx(float(want), rel=1e-6)


def test_bn_scale_uses_gamma_and_falls_back_without_batch_norm() -> None:
    model = zoo_model("cnn", {"channels": [6, 8], "hidden": 5}, IMAGE)
    graph = _graph(model, IMAGE)
    imp = BNScaleImportance()
    scores = imp.scores(model, graph)
    s = graph.sources["net.1"]
    assert float(scores[int(graph.unit_channel[s.offset + 3])]) == pytest.approx(
        float(model.net[2].weight[3].abs())
    )
    assert "net.10" in imp.fallback_groups_  # the hidden linear layer has no batch norm


def test_taylor_importance_reads_saliency_data() -> None:
    model = zoo_model("cnn", {"channels": [6, 8]}, IMAGE)
    graph = _graph(model, IMAGE)
    data = tiny_dataset(IMAGE, n=40)
    saliency = taylor_saliency(model, data, batches=2, batch_size=16)
    scores = TaylorImportance(saliency).scores(model, graph)
    assert bool((scores >= 0).all()) and float(scores.sum()) > 0
    zeroed = {k: torch.zeros_like(v) for k, v in saliency.items()}
    assert float(TaylorImportance(zeroed).scores(model, graph).sum()) == 0.0


def test_global_allocation_spares_important_layers() -> None:
    model = zoo_model("cnn", {"channels": [8, 8], "hidden": 8}, IMAGE)
    graph = _graph(model, IMAGE)
    scores = torch.ones(graph.n_channels, dtype=torch.float64)
    first = graph.groups[0]
    scores[list(first.channels[:-1])] = 0.1  # one dominant channel: the others matter little
    scores[first.channels[-1]] = 10.0
    chans = select_channels(graph, scores, 0.3, Allocation("global"))
    lost = {g.id: len(set(g.channels) & set(chans)) for g in graph.groups}
    assert lost[first.id] == len(first.channels) - 1  # all but min_keep
    assert sum(lost.values()) == round(0.3 * 24)  # three prunable groups of 8
    uniform = select_channels(graph, scores, 0.3, Allocation("uniform"))
    assert {g.id: len(set(g.channels) & set(uniform)) for g in graph.groups}[first.id] == 2


def test_recurrent_groups_lose_equal_counts() -> None:
    model = zoo_model("lstm", {"hidden": 8, "layers": 2, "bidirectional": True}, SERIES)
    graph = _graph(model, SERIES)
    scores = RandomImportance(1).scores(model, graph)
    chans = select_channels(graph, scores, 0.4, Allocation("global"))
    counts = {len(set(g.channels) & set(chans)) for g in graph.groups if g.tie == "rnn"}
    assert len(counts) == 1 and counts.pop() > 0


def _penalty(model: Any, graph: Any, kind: str) -> torch.Tensor:
    """The penalty written out with autograd, to check the hooks' gradients against."""
    if kind == "l1":
        return sum(
            m.weight.abs().sum() for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
        )
    modules = dict(model.named_modules())
    sq = torch.zeros(graph.n_channels, dtype=torch.float64)
    for e in graph.maps:
        w = getattr(modules[e.module], e.attr)
        mask = e.units >= 0
        sq = sq.index_add(0, graph.unit_channel[e.units[mask]], (w[mask] ** 2).double())
    live = ~graph.channel_frozen
    return sq[live].sqrt().sum()


@pytest.mark.parametrize("kind", ["group_lasso", "l1"])
def test_regularizer_hooks_add_the_penalty_gradient(kind: str) -> None:
    model = zoo_model("resnet", {"stem": 4, "blocks": [4, 6]}, IMAGE).train()
    graph = _graph(model, IMAGE)
    x = torch.randn(2, *IMAGE.input_shape)
    strength = 0.3
    _penalty(model, graph, kind).mul(strength).backward()
    want = {
        n: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
        for n, p in model.named_parameters()
    }
    model.zero_grad(set_to_none=True)
    with regularized(model, graph, kind, strength):
        (model(x) * 0.0).sum().backward()
    for n, p in model.named_parameters():
        got = p.grad if p.grad is not None else torch.zeros_like(p)
        assert torch.allclose(got, want[n].to(got.dtype), atol=1e-6), n


def test_regularizer_training_shrinks_batch_norm_scales(make_ctx: Callable[..., Any]) -> None:
    ctx = make_ctx(tiny_dataset(IMAGE, n=60))
    plain = zoo_model("cnn", {"channels": [6, 8]}, IMAGE)
    reg = copy.deepcopy(plain)
    ctx.fine_tune(plain, 4)
    with regularized(reg, _graph(reg, IMAGE), "l1", 1.0):
        ctx.fine_tune(reg, 4)
    assert float(reg.net[2].weight.abs().sum()) < float(plain.net[2].weight.abs().sum())
