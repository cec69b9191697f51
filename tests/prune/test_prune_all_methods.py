"""The issue's acceptance: every named method runs through the comparison (the code behind
``edgeslim prune compare``) on the CNN, the tiny ResNet, the 2-layer GRU and the 2-layer
bidirectional LSTM; structured results are smaller in the exported artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeslim.api import open_store
from edgeslim.api.prune import CompareSpec, base_spec, compare
from edgeslim.passes.prune._methods import METHODS

pytestmark = [pytest.mark.torch, pytest.mark.slow]

MODELS = {
    "cnn": ("digits", {"channels": [4, 8]}),
    "resnet": ("digits", {"stem": 4, "blocks": [4, 8]}),
    "gru": ("basic-motions", {"hidden": 8, "layers": 2}),
    "lstm": ("basic-motions", {"hidden": 8, "layers": 2, "bidirectional": True}),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_method_runs_on(kind: str, tmp_path: Path) -> None:
    data, params = MODELS[kind]
    base = base_spec(kind, data, epochs=1, model_params=params,
                     measure={"threads": [1], "repeats": 1, "warmup": 0})  # fmt: skip
    spec = CompareSpec(base, tuple(METHODS.values()), (0.6,), fine_tune_epochs=2)
    result = compare(spec, store=open_store(tmp_path / "s.db"), out_dir=tmp_path, report=False)
    assert [r.method for r in result.runs] == list(METHODS)
    base_params = next(m.value for m in result.base.metrics if m.name == "params")
    for run in result.runs:
        metrics = {m.name: m.value for m in run.result.metrics if not m.context}
        assert 0.0 <= metrics["accuracy"] <= 1.0
        if METHODS[run.method].structured:
            assert metrics["params"] < base_params, run.method
        else:
            assert metrics["params"] == base_params, run.method
            assert metrics["sparsity"] > 0.4, run.method
