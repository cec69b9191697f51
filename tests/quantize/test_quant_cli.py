"""``edgeslim quantize apply/compare`` and a recipe with a ``ptq`` pass, through the pipeline:
the stored artifact is the quantized ONNX and the guarantees are stored with it."""

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
name: dcnn
data: {name: digits}
model: {kind: cnn, channels: [4, 8]}
train: {epochs: 4}
measure: {threads: [1], repeats: 3, warmup: 1, backends: [onnxruntime]}
runs:
  - name: dcnn
  - name: dcnn-ptq
    passes: [{name: quantize.ptq, calibrator: mse}]
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("quant-cli")
    store = api.open_store(root / "s.db")
    results = api.run(api.parse_recipe(_RECIPE), store=store, out_dir=root / "out")
    return {"root": root, "store": root / "s.db", "results": results}


def test_recipe_pass_exports_the_quantized_artifact(trained: dict[str, Any]) -> None:
    plain, quant = trained["results"]
    model = onnx.load(str(quant.artifacts["onnx"]))
    assert "QuantizeLinear" in {n.op_type for n in model.graph.node}
    acc = {
        r.name: next(m.value for m in r.metrics if m.name == "accuracy") for r in (plain, quant)
    }
    assert acc["dcnn-ptq"] >= acc["dcnn"] - 0.02
    agree = next(m for m in quant.metrics if m.name == "prediction_agreement")
    assert agree.context == "torch" and agree.value > 0.95  # vs the float model


def test_cli_apply_and_compare(trained: dict[str, Any]) -> None:
    root, store = trained["root"], str(trained["store"])
    ckpt = trained["results"][0].artifacts["checkpoint"]
    runner = CliRunner()
    args = ["apply", str(ckpt), "--data", "digits", "--method", "ptq", "--store", store]
    args += ["--out", str(root / "out"), "--repeats", "3", "--format", "json", "--name", "q8"]
    res = runner.invoke(app, [*args, "--set", "calibrator=percentile"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)["runs"][0]
    assert row["run"] == "q8" and row["agree float"] > 0.95
    assert row["bound"] >= row["max |dev|"] > 0
    rec = api.open_store(store).get_run("q8")
    bound = rec.metric("output_deviation_bound", "float")
    assert bound is not None and bound.provenance is Provenance.BOUND
    assert Path(next(a.path for a in rec.artifacts if a.kind == "onnx")).is_file()
    res = runner.invoke(app, ["compare", "dcnn", "q8", "--store", store, "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["runs"]
    assert [r["run"] for r in rows] == ["dcnn", "q8"] and rows[0]["bound"] is None


def test_cli_unknown_method_is_an_error(trained: dict[str, Any]) -> None:
    ckpt = trained["results"][0].artifacts["checkpoint"]
    res = CliRunner().invoke(app, ["apply", str(ckpt), "--data", "digits", "--method", "int3"])
    assert res.exit_code != 0
    assert "--method must be one of" in str(res.exception)
