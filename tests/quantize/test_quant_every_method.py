"""Every quantization method runs from the CLI on the CNN, DS-CNN, GRU and LSTM zoo models and
stores agreement, deviation and a certified bound that the measured deviation respects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli_support import run_cli
from edgeslim import api
from edgeslim.api.quantize import METHODS

pytestmark = [pytest.mark.torch, pytest.mark.slow]

_RECIPE = """
name: z
data: {name: digits}
train: {epochs: 1}
measure: {threads: [1], repeats: 2, warmup: 1, backends: [onnxruntime]}
runs:
  - {name: cnn, model: {kind: cnn, channels: [4, 8]}}
  - {name: dscnn, model: {kind: dscnn, channels: [8, 8]}}
  - {name: gru, model: {kind: gru, hidden: 8}}
  - {name: lstm, model: {kind: lstm, hidden: 8}}
"""


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("every-method")
    store = api.open_store(root / "s.db")
    results = api.run(api.parse_recipe(_RECIPE), store=store, out_dir=root / "out")
    return {"root": root, "ckpt": {r.name: r.artifacts["checkpoint"] for r in results}}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("kind", ["cnn", "dscnn", "gru", "lstm"])
def test_method_runs_and_is_bounded(
    zoo: dict[str, Any], kind: str, method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root: Path = zoo["root"]
    args = ["quantize", "apply", str(zoo["ckpt"][kind]), "--data", "digits", "--method", method]
    args += ["--store", str(root / "s.db"), "--out", str(root / "out"), "--repeats", "2"]
    args += ["--name", f"{kind}-{method}", "--format", "json"]
    if method in ("qat", "binary"):
        args += ["--set", "epochs=1"]
    code, _, err = run_cli(capsys, *args)
    if method == "int-rnn" and kind in ("cnn", "dscnn"):
        assert code == 2 and "no GRU or LSTM" in err
        return
    assert code == 0, err
    assert "no certified bound" not in err
    rec = api.open_store(root / "s.db").get_run(f"{kind}-{method}")
    bound = rec.metric("output_deviation_bound", "float")
    worst = rec.metric("output_max_abs_diff", "float")
    agree = rec.metric("prediction_agreement", "float")
    assert bound is not None and worst is not None and agree is not None
    assert worst.value <= bound.value
    assert rec.metric("accuracy") is not None
