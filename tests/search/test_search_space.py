"""Search recipes, budgets, the searchable families, the cost model and the Pareto front."""

from __future__ import annotations

import math

import pytest

from edgeslim._core.errors import RecipeError
from edgeslim.search import (
    FAMILIES,
    InstructionModel,
    build_candidate,
    candidate_cost,
    pareto_front,
    parse_budget,
    parse_search_recipe,
)
from edgeslim.search._study import objective_values

pytestmark = pytest.mark.torch

BASE = """
name: t
data: {name: basic-motions}
space:
  recurrent: {cell: [gru, lstm, rnn], hidden: [4, 8]}
"""


def test_budget_parses_units() -> None:
    b = parse_budget("flash=64KB, ram=16kb,latency=50ms")
    assert b == {"flash_bytes": 65536.0, "ram_bytes": 16384.0, "latency_s": pytest.approx(0.05)}
    assert parse_budget("flash=1MB,latency=2")["latency_s"] == 2.0
    with pytest.raises(RecipeError, match="--budget"):
        parse_budget("energy=1J")
    with pytest.raises(RecipeError, match="flash"):
        parse_budget("flash=lots")


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ("  transformer: {depth: [1]}\n", "space.transformer"),
        ("  tcn: {levels: {low: 3, high: 1}}\n", "low must be <= high"),
        ("  tcn: {levels: {lo: 1, high: 2}}\n", "a range is"),
        ("  compression: {bits: [4]}\n", "space.compression.bits"),
    ],
)
def test_recipe_errors_name_the_key(patch: str, fragment: str) -> None:
    with pytest.raises(RecipeError, match=fragment.replace(".", r"\.")):
        parse_search_recipe(BASE + patch, source="r.yaml")


def test_hyperband_needs_one_objective() -> None:
    with pytest.raises(RecipeError, match="hyperband"):
        parse_search_recipe(BASE + "pruner: hyperband\n")
    r = parse_search_recipe(BASE + "pruner: hyperband\nobjectives: {accuracy: max}\n")
    assert r.pruner == "hyperband"


@pytest.mark.parametrize(
    ("family", "arch"),
    [
        ("recurrent", {"cell": "gru", "hidden": 4, "layers": 2, "bidirectional": True}),
        ("recurrent", {"cell": "lstm", "hidden": 4, "stride": 4, "window": 40, "head": 8}),
        ("recurrent", {"cell": "rnn", "hidden": 4, "stride": 10}),
        ("tcn", {"levels": 2, "kernel": 3, "channels": 4, "stride": 2}),
        ("cnn", {"depth": 2, "width": 4, "kernel": 3, "conv_stride": 2}),
        ("dscnn", {"depth": 2, "width": 4}),
        ("mlp", {"depth": 1, "width": 8, "stride": 5}),
    ],
)
def test_every_family_lowers_to_c_with_a_cost(
    family: str, arch: dict, tiny_series: object
) -> None:
    assert family in FAMILIES
    module = build_candidate(family, arch, tiny_series.spec)  # type: ignore[attr-defined]
    model = InstructionModel("cortex-m4", {"dense": (2.0, 0.0, 10.0)})
    cost = candidate_cost(module, tiny_series, "host", model)
    assert cost.arena_bytes > 0 and cost.macs > 0 and cost.flash_bytes > 0
    assert cost.params == sum(p.numel() for p in module.parameters())
    assert not cost.flash_exact  # host: constants + code estimate
    assert cost.instructions > 0


def test_downsampling_cuts_recurrent_cost(tiny_series: object) -> None:
    model = InstructionModel("cortex-m4", {"gru": (10.0, 0.0, 0.0)})
    spec = tiny_series.spec  # type: ignore[attr-defined]
    full = candidate_cost(
        build_candidate("recurrent", {"hidden": 8}, spec), tiny_series, "host", model
    )
    half = candidate_cost(
        build_candidate("recurrent", {"hidden": 8, "stride": 2}, spec), tiny_series, "host", model
    )
    assert half.macs < 0.6 * full.macs
    assert half.instructions < full.instructions


def test_instruction_model_fits_linear_rows() -> None:
    rows = [
        {"kernel": "dense", "macs": m, "out_elems": o, "instructions": 3 * m + 2 * o + 50}
        for m, o in [(100, 4), (400, 8), (900, 16), (50, 2)]
    ]
    model = InstructionModel.fit("cortex-m4", rows)
    a, b, c = model.coef["dense"]
    assert (a, b, c) == (pytest.approx(3.0), pytest.approx(2.0), pytest.approx(50.0, abs=1e-6))
    again = InstructionModel.from_dict(model.to_dict())
    assert again.predict_step("dense", 200, 4) == pytest.approx(3 * 200 + 2 * 4 + 50)
    assert again.predict_step("unknown", 100, 0) > 0  # fallback instructions per MAC


def test_pareto_front_keeps_feasible_non_dominated() -> None:
    def row(n: int, acc: float, instr: float, feasible: bool = True, status: str = "trained"):
        return {"number": n, "values": [acc, instr], "feasible": feasible, "status": status}

    rows = [
        row(0, 0.9, 100),
        row(1, 0.8, 50),
        row(2, 0.8, 120),  # dominated by 0
        row(3, 0.95, 10, feasible=False),
        row(4, 0.99, 1, status="pruned"),
        row(5, 0.7, 50),  # dominated by 1
    ]
    front = pareto_front(rows, ["max", "min"])
    assert [r["number"] for r in front] == [0, 1]


def test_objective_values_follow_recipe_order(tiny_series: object) -> None:
    r = parse_search_recipe(BASE + "objectives: {flash: min, accuracy: max}\n")
    model = InstructionModel("cortex-m4", {})
    spec = tiny_series.spec  # type: ignore[attr-defined]
    cost = candidate_cost(
        build_candidate("recurrent", {"hidden": 4}, spec), tiny_series, "host", model
    )
    vals = objective_values(r, {"accuracy": 0.5}, cost)
    assert vals == [cost.flash_bytes, 0.5]
    assert not math.isnan(sum(vals))


def test_layer_sparsity_samples_one_ratio_per_prunable_group(tiny_series: object) -> None:
    import optuna

    from edgeslim.search import sample_candidate
    from edgeslim.search._study import predict_cost, sample_layer_policy

    r = parse_search_recipe(
        "name: t\ndata: {name: synthetic-series}\nspace:\n  tcn: {levels: 2, channels: 8}\n"
        "  compression: {layer_sparsity: [0.0, 0.5]}\n"
    )
    model = InstructionModel("cortex-m4", {})
    study = optuna.create_study()
    study.enqueue_trial({"compression.layer.blocks.0.conv1": 0.5})
    trial = study.ask()
    cand = sample_layer_policy(trial, sample_candidate(trial, r), r, tiny_series)
    groups = cand.policy["group_sparsity"]
    assert "blocks.0.conv1" in groups and groups["blocks.0.conv1"] == 0.5
    assert set(trial.params) == {f"compression.layer.{g}" for g in groups}
    full = predict_cost(replace_policy(cand, {}), r, tiny_series, "host", model)
    cut = predict_cost(cand, r, tiny_series, "host", model)
    assert cut.params < full.params and cut.macs < full.macs


def replace_policy(cand: object, policy: dict) -> object:
    from edgeslim.search import Candidate

    return Candidate(cand.family, cand.arch, policy)  # type: ignore[attr-defined]
