"""Every pruning pass: runs from the registry on CNN, stacked GRU and bidirectional LSTM, records
a JSON-able replayable decision, reaches its sparsity, and rejects bad parameters by name."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import torch
from prune_cases import IMAGE, SERIES, tiny_dataset, zoo_model

from edgeslim._core.errors import RecipeError
from edgeslim.passes import PASSES, apply, create
from edgeslim.passes.prune import PRUNE_PASSES, Schedule, replay
from edgeslim.passes.prune._stats import weight_params

pytestmark = pytest.mark.torch

MODELS = {
    "cnn": ("cnn", {"channels": [6, 8]}, IMAGE),
    "gru-2": ("gru", {"hidden": 8, "layers": 2}, SERIES),
    "lstm-2-bi": ("lstm", {"hidden": 8, "layers": 2, "bidirectional": True}, SERIES),
}
RUNS: dict[str, dict[str, Any]] = {
    "prune.magnitude": {"sparsity": 0.6, "allocation": "global"},
    "prune.random": {"sparsity": 0.6},
    "prune.taylor": {"sparsity": 0.6, "batches": 2},
    "prune.movement": {"sparsity": 0.6, "schedule": "agp", "steps": 2, "batches": 2},
    "prune.nm": {"n": 2, "m": 4},
    "prune.block": {"sparsity": 0.5, "block": [2, 2]},
    "prune.channel": {"sparsity": 0.5, "schedule": "iterative", "steps": 2},
}


def test_every_prune_pass_is_registered() -> None:
    assert {cls.name for cls in PRUNE_PASSES} == set(RUNS)
    assert set(RUNS) <= set(PASSES.names())


@pytest.mark.parametrize("model_id", list(MODELS))
@pytest.mark.parametrize("name", list(RUNS))
def test_pass_runs_records_and_replays(
    name: str, model_id: str, make_ctx: Callable[..., Any]
) -> None:
    kind, params, spec = MODELS[model_id]
    model = zoo_model(kind, params, spec)
    before = copy.deepcopy(model.state_dict())
    ctx = make_ctx(tiny_dataset(spec, n=60))
    result = apply(name, model, {**RUNS[name], "fine_tune_epochs": 1}, ctx)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # input kept
    record = json.loads(json.dumps(result.record))
    claim = record["claim"]
    assert claim["sparsity"] == pytest.approx(claim["target"], abs=0.12)
    assert (
        len(result.steps)
        == 1 + Schedule(RUNS[name].get("schedule", "one_shot"), RUNS[name].get("steps", 3)).n_steps
    )
    assert all(0.0 <= s["accuracy"] <= 1.0 for s in result.steps)
    replayed = replay(copy.deepcopy(model), record, spec.input_shape)
    got = dict(weight_params(replayed))
    for pname, p in weight_params(result.model):
        assert got[pname].shape == p.shape
        if not record["structured"]:
            assert torch.equal(got[pname] == 0, p == 0) or pname not in record["masks"]
    if record["structured"]:
        assert claim["params_after"] < claim["params_before"]
    else:
        assert claim["params_after"] == claim["params_before"]


def test_structured_pass_hits_a_macs_target(make_ctx: Callable[..., Any]) -> None:
    model = zoo_model("resnet", {"stem": 6, "blocks": [6, 10]}, IMAGE)
    ctx = make_ctx(tiny_dataset(IMAGE, n=40))
    result = apply("prune.channel", model, {"sparsity": 0.75, "target": "macs"}, ctx)
    claim = result.record["claim"]
    assert 1.0 - claim["macs_after"] / claim["macs_before"] == pytest.approx(0.75, abs=0.06)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (
            {"sparsity": 1.3},
            "parameter sparsity of pass 'prune.magnitude' must be a number in [0, 1); got 1.3",
        ),
        ({"allocation": "most"}, "parameter allocation of pass 'prune.magnitude' must be one of"),
        ({"speed": 2}, "unknown parameter 'speed' of pass 'prune.magnitude'"),
        ({"schedule": "linear"}, "must be one of one_shot, iterative, agp"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(RecipeError, match=None) as err:
        create("prune.magnitude", params)
    assert fragment in str(err.value)


def test_channel_pass_checks_its_regularizer_budget() -> None:
    with pytest.raises(RecipeError) as err:
        create("prune.channel", {"regularizer": "l1", "reg_epochs": 3, "fine_tune_epochs": 2})
    assert "reg_epochs" in str(err.value)


def test_nm_pattern_from_sparsity() -> None:
    from edgeslim.passes.prune._unstructured import nm_for_sparsity

    assert nm_for_sparsity(0.5) == (2, 4)
    assert nm_for_sparsity(0.75) == (1, 4)
    assert nm_for_sparsity(0.9) == (1, 8)
