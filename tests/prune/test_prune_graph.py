"""Dependency groups: what they couple, and that cutting them is exact (physical removal of a
channel equals zeroing it in the full model)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prune_cases import IMAGE, SERIES, ZOO_CASES, zoo_model
from torch import nn

from edgeslim.passes.prune import build_dependency_graph, remove_channels
from edgeslim.passes.prune._graph import DependencyGraph

pytestmark = pytest.mark.torch


def _graph(model: nn.Module, spec: Any) -> DependencyGraph:
    return build_dependency_graph(model, torch.zeros(1, *spec.input_shape))


def _group_sources(graph: DependencyGraph) -> set[tuple[str, ...]]:
    return {g.sources for g in graph.groups}


def test_residual_adds_couple_the_stem_with_the_identity_block() -> None:
    model = zoo_model("resnet", {"stem": 6, "blocks": [6, 10]}, IMAGE)
    groups = _group_sources(_graph(model, IMAGE))
    assert ("stem.0", "blocks.0.conv2") in groups
    assert ("blocks.1.conv2", "blocks.1.shortcut.0") in groups
    assert ("blocks.0.conv1",) in groups


def test_tcn_residual_stream_is_one_group() -> None:
    model = zoo_model("tcn", {"channels": [6, 6, 8]}, SERIES)
    groups = _group_sources(_graph(model, SERIES))
    assert ("blocks.0.conv2", "blocks.0.shortcut", "blocks.1.conv2") in groups
    assert ("blocks.2.conv2", "blocks.2.shortcut") in groups


def test_depthwise_conv_and_batch_norm_pass_channels_through() -> None:
    model = zoo_model("dscnn", {"stem": 6, "channels": [6, 8]}, IMAGE)
    graph = _graph(model, IMAGE)
    through = {p.module for p in graph.trace.passthroughs}
    assert {"net.2", "net.4", "net.5"} <= through  # bn, depthwise conv, bn
    assert "net.4" not in {s.module for s in graph.trace.sources}


def test_recurrent_layers_and_directions_are_tied_groups() -> None:
    model = zoo_model("lstm", {"hidden": 8, "layers": 2, "bidirectional": True}, SERIES)
    graph = _graph(model, SERIES)
    slots = [g for g in graph.groups if g.tie == "rnn"]
    assert sorted(g.sources[0] for g in slots) == [
        "rnn[l0,d0]",
        "rnn[l0,d1]",
        "rnn[l1,d0]",
        "rnn[l1,d1]",
    ]
    head = next(c for c in graph.trace.consumers if c.module == "head")
    last = [graph.sources["rnn[l1,d0]"], graph.sources["rnn[l1,d1]"]]
    expected = [s.offset + i for s in last for i in range(s.width)]
    assert list(head.positions) == expected  # h_n[-2:] read as [forward, backward]


def test_the_output_layer_is_frozen_with_its_reason() -> None:
    model = zoo_model("cnn", {"channels": [6, 8]}, IMAGE)
    graph = _graph(model, IMAGE)
    head = next(g for g in graph.groups if g.sources == ("net.10",))
    assert head.prunable == 0
    assert "reaches the model output" in {graph.reasons[c] for c in head.channels}


class _Cat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 3, 3, padding=1)
        self.b = nn.Conv2d(1, 2, 3, padding=1)
        self.c = nn.Conv2d(5, 4, 1)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(4 * 8 * 8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.a(x), self.b(x)], dim=1)
        return self.head(torch.flatten(self.norm(self.c(y)), 1))


def test_concatenation_maps_positions_and_unknown_ops_freeze() -> None:
    model = _Cat()
    graph = _graph(model, IMAGE)
    consumer = next(c for c in graph.trace.consumers if c.module == "c")
    a, b = graph.sources["a"], graph.sources["b"]
    assert list(consumer.positions) == [a.offset + i for i in range(3)] + [
        b.offset + i for i in range(2)
    ]
    c_group = next(g for g in graph.groups if g.sources == ("c",))
    assert c_group.prunable == 0  # LayerNorm is opaque
    assert "LayerNorm" in graph.reasons[c_group.channels[0]]


class _Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(self.fc(x)))


def test_a_module_called_twice_is_frozen() -> None:
    graph = build_dependency_graph(_Shared(), torch.zeros(1, 4))
    assert all(g.prunable == 0 for g in graph.groups)
    assert any("called more than once" in r for r in graph.reasons.values())


def _zeroed(model: nn.Module, graph: DependencyGraph, removed: list[int]) -> nn.Module:
    """The full model with the removed channels' producing parameters set to zero."""
    out = copy.deepcopy(model)
    flags = torch.zeros(graph.n_channels, dtype=torch.float64)
    flags[removed] = 1.0
    with torch.no_grad():
        for param, values in graph.broadcast(out, flags, roles=("out", "pass")):
            param[values > 0] = 0.0
    return out


@st.composite
def _removal(draw: Any, graph: DependencyGraph) -> list[int]:
    removed: list[int] = []
    tied: dict[str, int] = {}
    for g in graph.groups:
        live = [c for c, f in zip(g.channels, g.frozen, strict=True) if not f]
        top = min(len(live), len(g.channels) - 1)
        if g.tie is not None:
            n = tied.setdefault(g.tie, draw(st.integers(0, top)))
        else:
            n = draw(st.integers(0, top))
        removed += draw(st.permutations(live))[:n]
    return removed


@pytest.mark.parametrize(
    ("case", "kind", "params", "spec"), ZOO_CASES, ids=[c[0] for c in ZOO_CASES]
)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_removing_channels_equals_zeroing_them(
    case: str, kind: str, params: dict[str, Any], spec: Any, data: Any
) -> None:
    model = zoo_model(kind, params, spec).eval()
    graph = _graph(model, spec)
    removed = data.draw(_removal(graph))
    pruned = copy.deepcopy(model)
    remove_channels(pruned, graph, removed)
    x = torch.randn(4, *spec.input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = _zeroed(model, graph, removed)(x)
        got = pruned(x)
    assert torch.allclose(got, expected, atol=1e-5), case
    if removed:
        assert sum(p.numel() for p in pruned.parameters()) < sum(
            p.numel() for p in model.parameters()
        )
