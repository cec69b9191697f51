"""``edgeslim compare`` on tiny models: rows per platform, n/a with reasons, store, report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeslim._core.errors import RecipeError
from edgeslim.api.compare import parse_platforms
from edgeslim.cli import main

needs_verilator = pytest.mark.skipif(
    shutil.which("verilator") is None, reason="verilator not installed (apt install verilator)"
)


def test_parse_platforms_checks_names() -> None:
    assert parse_platforms("cpu, gpu,mcu:cortex-m4,fpga:ice40-up5k") == [
        "cpu",
        "gpu",
        "mcu:cortex-m4",
        "fpga:ice40-up5k",
    ]
    for bad in ("tpu", "fpga:xc7", "mcu", ""):
        with pytest.raises(RecipeError, match="platform"):
            parse_platforms(bad)
    with pytest.raises(Exception, match=r"host|microcontroller|target"):
        parse_platforms("mcu:host")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    from edgeslim.trees import from_sklearn
    from edgeslim.trees._io import save_bundle

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    rf = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x[::2], y[::2])
    path = tmp_path_factory.mktemp("rf") / "rf.npz"
    data = {"x_train": x[::2], "y_train": y[::2], "x_test": x[1::2], "y_test": y[1::2]}
    return save_bundle(path, from_sklearn(rf), data)


def _cli(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:  # type: ignore[type-arg]
    code, out, err = _cli(capsys, args)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.toolchain
@pytest.mark.slow
@needs_verilator
def test_compare_cli_tree_bundle_all_platforms(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    out = _run(capsys, [
        "compare", str(bundle), "--platforms", "cpu,gpu,fpga:ice40", "--batches", "1,16",
        "--threads", "1", "--repeats", "3", "--store", str(db), "--format", "json",
        "--no-synth",
    ])  # fmt: skip
    rows = out["rows"]
    by = {(r["platform"], r["engine"], r["setting"]): r for r in rows}
    c = by[("cpu", "generated C", "t1,b1")]
    assert c["status"] == "ok" and c["metrics"]["latency"]["provenance"] == "measured"
    assert c["metrics"]["accuracy"]["value"] > 0.8
    assert {("cpu", "numpy reference", "t1,b1"), ("cpu", "numpy reference", "t1,b16")} <= set(by)
    na = [r for r in rows if r["status"] == "n/a"]
    assert {r["engine"] for r in na} >= {"onnxruntime", "torch eager"}
    assert all(r["reason"] for r in na)
    (fpga,) = [r for r in rows if r["platform"].startswith("fpga")]
    assert fpga["metrics"]["exact"]["value"] == 1.0
    assert fpga["metrics"]["cycles"]["provenance"] == "simulated"
    assert "--no-synth" in fpga["reason"]
    # stored: the run has the compare step (n/a rows included) and qualified metrics
    from edgeslim.report.platforms import build_platform_report
    from edgeslim.store import open_store

    with open_store(db) as store:
        run = store.get_run(out["run"])
        step = next(s for s in run.steps if s.kind == "compare")
        assert len(step.record["rows"]) == len(rows)
        assert run.metric("latency", "cpu;generated C;t1,b1") is not None
        page = build_platform_report(store, None, tmp_path / "p.html")
    text = page.read_text()
    assert "latency vs batch size" in text and "n/a" in text
    assert "| platform |" in page.with_suffix(".md").read_text()


@pytest.mark.slow
def test_compare_cli_onnx_with_checkpoint_lists_na(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    from edgeslim.data import load_dataset
    from edgeslim.ir import export_torch
    from edgeslim.models import build_model, default_config
    from edgeslim.models.checkpoint import save_checkpoint
    from edgeslim.models.zoo import with_normalization

    ds = load_dataset("iris")
    config = default_config("mlp")
    model = build_model(config, ds.spec).eval()
    save_checkpoint(tmp_path / "model.pt", model, config, ds.spec, ds.normalization)
    wrapped = with_normalization(model, ds.normalization, ds.spec.input_shape)
    export_torch(wrapped, ds.spec.input_shape, tmp_path / "model.onnx")
    out = _run(capsys, [
        "compare", str(tmp_path / "model.onnx"), "--platforms", "cpu,gpu", "--batches", "1,32",
        "--threads", "1", "--repeats", "3", "--store", str(tmp_path / "s.db"),
        "--format", "json",
    ])  # fmt: skip
    engines = {(r["engine"], r["setting"]) for r in out["rows"] if r["status"] == "ok"}
    assert {
        ("onnxruntime", "t1,b1"),
        ("onnxruntime", "t1,b32"),
        ("torch eager", "t1,b1"),
    } <= engines
    accs = {r["metrics"]["accuracy"]["value"] for r in out["rows"] if r["status"] == "ok"}
    assert len(accs) == 1  # every CPU engine computes the same predictions
    gpu_rows = [r for r in out["rows"] if r["platform"] == "gpu"]
    assert gpu_rows and (gpu_rows[0]["status"] == "ok" or gpu_rows[0]["reason"])


def test_compare_cli_errors_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "s.db")
    code, _, err = _cli(capsys, ["compare", str(tmp_path / "none.onnx"), "--store", db])
    assert code == 2 and err.strip().startswith("error:") and "does not exist" in err
    code, _, err = _cli(capsys, ["compare", "x.onnx", "--platforms", "tpu", "--store", db])
    assert code == 2 and "unknown platform" in err and "Traceback" not in err
