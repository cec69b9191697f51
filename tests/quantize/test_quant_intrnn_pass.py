"""The integer recurrent cells as a pass (``quantize.int_rnn``): from a recipe and from
``edgeslim quantize apply --method int-rnn``, measured on edgeslim's interpreter (onnxruntime
cannot run the cells), with agreement, deviation and the certified bound stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from typer.testing import CliRunner

from edgeslim import api
from edgeslim._core.records import Provenance
from edgeslim.cli.quantize import app

pytestmark = [pytest.mark.torch, pytest.mark.slow]

_RECIPE = """
name: mgru
data: {name: basic-motions}
model: {kind: gru, hidden: 12}
train: {epochs: 3}
measure: {threads: [1], repeats: 3, warmup: 1, backends: [onnxruntime]}
runs:
  - name: mgru
  - name: mgru-int
    passes: [{name: quantize.int_rnn, state_bits: 8}]
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("intrnn-pass")
    store = api.open_store(root / "s.db")
    results = api.run(api.parse_recipe(_RECIPE), store=store, out_dir=root / "out")
    return {"root": root, "store": root / "s.db", "results": results}


def test_recipe_pass_measures_on_the_interpreter(runs: dict[str, Any]) -> None:
    plain, cells = runs["results"]
    model = onnx.load(str(cells.artifacts["onnx"]))
    assert {n.op_type for n in model.graph.node if n.domain == "edgeslim"} == {"IntGRU"}
    acc = {
        r.name: next(m.value for m in r.metrics if m.name == "accuracy") for r in (plain, cells)
    }
    assert acc["mgru-int"] >= acc["mgru"] - 0.1
    assert any("interpreter" in w for w in cells.warnings)
    assert not any(m.context.startswith("onnxruntime") for m in cells.metrics)


def test_cli_apply_int_rnn_stores_the_guarantees(
    runs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from cli_support import run_cli

    root, store = runs["root"], str(runs["store"])
    ckpt = runs["results"][0].artifacts["checkpoint"]
    args = ["apply", str(ckpt), "--data", "basic-motions", "--method", "int-rnn"]
    args += ["--store", store, "--out", str(root / "out"), "--repeats", "3"]
    args += ["--format", "json", "--name", "cli-int", "--set", "state_bits=16"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)["runs"][0]
    assert row["run"] == "cli-int" and row["bound"] >= row["max |dev|"]
    rec = api.open_store(store).get_run("cli-int")
    bound = rec.metric("output_deviation_bound", "float")
    worst = rec.metric("output_max_abs_diff", "float")
    agree = rec.metric("prediction_agreement", "float")
    assert bound is not None and bound.provenance is Provenance.BOUND
    assert worst is not None and agree is not None
    assert worst.value <= bound.value and agree.value >= 0.8
    code, _, err = run_cli(capsys, "quantize", *args[:-1], "state_bits=4", "--force")
    assert code == 2 and "state_bits" in err and "Traceback" not in err


def test_int_rnn_on_a_model_without_recurrent_layers_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli_support import run_cli

    store = api.open_store(tmp_path / "s.db")
    recipe = "name: m\ndata: {name: basic-motions}\nmodel: {kind: mlp}\ntrain: {epochs: 1}\n"
    recipe += "measure: {threads: [1], repeats: 2, warmup: 1, backends: [onnxruntime]}\n"
    (plain,) = api.run(api.parse_recipe(recipe), store=store, out_dir=tmp_path / "out")
    code, _, err = run_cli(
        capsys, "quantize", "apply", str(plain.artifacts["checkpoint"]), "--data",
        "basic-motions", "--method", "int-rnn", "--store", str(tmp_path / "s.db"),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2 and "no GRU or LSTM" in err


def test_bad_pass_parameter_writes_nothing(
    runs: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli_support import run_cli

    ckpt = str(runs["results"][0].artifacts["checkpoint"])
    code, _, err = run_cli(
        capsys, "quantize", "apply", ckpt, "--data", "basic-motions", "--method", "int-rnn",
        "--set", "epochs=3", "--name", "bad", "--store", str(tmp_path / "s.db"),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 2 and "unknown parameter 'epochs'" in err
    assert not (tmp_path / "out" / "bad").exists()  # a retry needs no --force
