"""``edgeslim quantize apply`` on a float ONNX model: post-training methods quantize it
directly (stored run, quantized artifact, guarantees against the ONNX model); methods that need
training are refused with a message naming the methods that work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest
from typer.testing import CliRunner

from edgeslim import api
from edgeslim.api.quantize import onnx_methods
from edgeslim.cli.quantize import app

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def float_file(tmp_path_factory: pytest.TempPathFactory, float_cnn_onnx: Any) -> Path:
    path = tmp_path_factory.mktemp("onnx-in") / "cnn.onnx"
    onnx.save(float_cnn_onnx, str(path))
    return path


def _apply(path: Path, tmp: Path, method: str, *extra: str) -> Any:
    args = ["apply", str(path), "--data", "digits", "--method", method, "--repeats", "2"]
    args += ["--store", str(tmp / "s.db"), "--out", str(tmp / "out"), "--format", "json"]
    return CliRunner().invoke(app, [*args, *extra])


@pytest.mark.parametrize(
    ("method", "extra", "op"),
    [
        ("ptq", ["--set", "equalize=true", "--set", "bias_correction=true"], "QuantizeLinear"),
        ("dynamic", [], "MatMulInteger"),
        ("int4", [], "DequantizeLinear"),
    ],
)
def test_post_training_methods_take_onnx(
    tmp_path: Path, float_file: Path, method: str, extra: list[str], op: str
) -> None:
    res = _apply(float_file, tmp_path, method, *extra)
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)["runs"][0]
    assert row["run"] == f"cnn-{method}" and row["agree float"] > 0.95
    rec = api.open_store(tmp_path / "s.db").get_run(row["run"])
    path = Path(next(a.path for a in rec.artifacts if a.kind == "onnx"))
    assert path.parent == tmp_path / "out" / row["run"]
    assert op in {n.op_type for n in onnx.load(str(path)).graph.node}
    assert rec.metric("accuracy") is not None
    assert any(s.kind == "pass" for s in rec.steps)
    if method == "ptq":
        bound = rec.metric("output_deviation_bound", "float")
        assert bound is not None and bound.value >= row["max |dev|"]
    again = _apply(float_file, tmp_path, method, *extra)
    assert again.exit_code != 0 and "--force" in str(again.exception)


def test_training_methods_are_refused(tmp_path: Path, float_file: Path) -> None:
    res = _apply(float_file, tmp_path, "qat")
    assert res.exit_code != 0
    message = str(res.exception)
    assert "needs a trainable model" in message and "ptq" in message
    assert set(onnx_methods()) == {"ptq", "ptq-w4", "dynamic", "fp16", "int4", "int2", "int-rnn"}


def test_shape_mismatch_is_named(tmp_path: Path, float_file: Path) -> None:
    args = ["apply", str(float_file), "--data", "basic-motions", "--method", "fp16"]
    res = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "s.db")])
    assert res.exit_code != 0 and "shape mismatch" in str(res.exception)
