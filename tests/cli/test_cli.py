"""End-to-end tests of the command line, in-process through ``edgeslim.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import run_cli
from edgeslim.cli import main

pytestmark = pytest.mark.torch


_cli = run_cli


def _one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for f in fragments:
        assert f in lines[0]


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "--help")
    assert code == 0
    for verb in ("run", "demo", "train", "import", "measure", "runs", "report", "targets"):
        assert verb in out


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One quick demo shared by the tests below (2 epochs per model)."""
    root = tmp_path_factory.mktemp("demo")
    store = root / "store.db"
    report = root / "report.html"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as exit_:
        main(
            [
                "demo", "--quick", "--format", "json", "--store", str(store),
                "--out", str(root / "out"), "--report", str(report),
            ]
        )  # fmt: skip
    assert exit_.value.code in (0, None)
    return {"root": root, "store": store, "report": report, "json": json.loads(buf.getvalue())}


def test_demo_json_has_every_run_with_units_and_provenance(demo_run: dict) -> None:
    runs = demo_run["json"]["runs"]
    names = {r["name"] for r in runs}
    assert {"digits-cnn", "motions-gru"} <= names and len(runs) == 6
    for r in runs:
        metrics = r["metrics"]
        assert 0.0 <= metrics["accuracy"]["value"] <= 1.0
        assert metrics["accuracy"]["provenance"] == "measured"
        assert metrics["params"]["provenance"] == "computed"
        assert metrics["macs"]["value"] > 0
        for m in metrics.values():
            assert set(m) >= {"value", "unit", "provenance"}
        lat = [k for k in metrics if k.startswith("latency_p50[")]
        assert lat and all(metrics[k]["unit"] == "s" for k in lat)
        assert Path(r["artifacts"]["onnx"]).is_file()


def test_demo_report_and_store(demo_run: dict, capsys: pytest.CaptureFixture[str]) -> None:
    html = demo_run["report"].read_text(encoding="utf-8")
    assert "digits-cnn" in html and "motions-gru" in html
    assert demo_run["report"].with_suffix(".md").is_file()
    code, out, _ = _cli(
        capsys, "runs", "list", "--store", str(demo_run["store"]), "--format", "json"
    )
    assert code == 0
    assert len(json.loads(out)["runs"]) == 6
    code, out, _ = _cli(
        capsys, "runs", "show", "digits-cnn", "--store", str(demo_run["store"]), "--format", "json"
    )
    assert code == 0 and "accuracy" in json.loads(out)["metrics"]


def test_second_demo_refuses_without_force(
    demo_run: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(
        capsys, "demo", "--quick", "--store", str(demo_run["store"]),
        "--out", str(demo_run["root"] / "out"), "--report", str(demo_run["report"]),
    )  # fmt: skip
    _one_line_error(code, err, "--force")


def test_measure_exported_onnx_and_shape_mismatch(
    demo_run: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    onnx = demo_run["root"] / "out" / "digits-cnn" / "model.onnx"
    store = str(tmp_path / "s.db")
    code, out, err = _cli(
        capsys, "measure", str(onnx), "--data", "digits", "--store", store,
        "--out", str(tmp_path), "--format", "json", "--repeats", "3", "--threads", "1",
    )  # fmt: skip
    assert code == 0, err
    acc_cli = json.loads(out)["runs"][0]["metrics"]["accuracy"]["value"]
    acc_demo = next(r for r in demo_run["json"]["runs"] if r["name"] == "digits-cnn")
    assert acc_cli == pytest.approx(acc_demo["metrics"]["accuracy"]["value"])
    code, _, err = _cli(
        capsys, "measure", str(onnx), "--data", "basic-motions", "--store", store,
        "--out", str(tmp_path / "o2"),
    )  # fmt: skip
    _one_line_error(code, err, "shape mismatch", "model.onnx", "basic-motions")


def test_run_recipe_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: tiny\ndata: {name: iris}\nmodel: {kind: mlp, hidden: [8]}\n"
        "train: {epochs: 3}\nmeasure: {threads: [1], repeats: 3, backends: [onnxruntime]}\n"
    )
    code, out, err = _cli(
        capsys, "run", str(recipe), "--store", str(tmp_path / "s.db"),
        "--out", str(tmp_path / "out"), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    (run,) = json.loads(out)["runs"]
    assert run["name"] == "tiny"
    assert not any(k.startswith("latency_p50[torch") for k in run["metrics"])


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b"not an onnx file", ("bad.onnx",)),
        (None, ("bad.onnx", "does not exist")),
    ],
)
def test_bad_model_file_gives_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | None, fragments: tuple
) -> None:
    path = tmp_path / "bad.onnx"
    if content is not None:
        path.write_bytes(content)
    code, _, err = _cli(
        capsys, "measure", str(path), "--data", "digits", "--store", str(tmp_path / "s.db"),
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    _one_line_error(code, err, *fragments)


def test_malformed_recipe_gives_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\ndata: {name: digits}\nmodel: {kind: cnn}\ntrain: {epochs: -1}\n")
    code, _, err = _cli(capsys, "run", str(recipe), "--store", str(tmp_path / "s.db"))
    _one_line_error(code, err, "r.yaml, line 4", "train.epochs")


def test_unknown_dataset_and_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ("--store", str(tmp_path / "s.db"), "--out", str(tmp_path / "o"), "--epochs", "1")
    code, _, err = _cli(capsys, "train", "--data", "nope", "--model", "cnn", *args)
    _one_line_error(code, err, "nope")
    code, _, err = _cli(capsys, "train", "--data", "iris", "--model", "transformer", *args)
    _one_line_error(code, err, "transformer")
    code, _, err = _cli(
        capsys, "train", "--data", "iris", "--model", "mlp", "--set", "hidden", *args
    )
    _one_line_error(code, err, "--set")


def test_train_then_import_torchscript_and_onnx(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import torch

    from edgeslim.models.checkpoint import load_checkpoint

    store = str(tmp_path / "s.db")
    code, out, err = _cli(
        capsys, "train", "--data", "wine", "--model", "mlp", "--set", "hidden=16,8",
        "--epochs", "3", "--store", store, "--out", str(tmp_path / "o"), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    (run,) = json.loads(out)["runs"]
    assert run["name"] == "wine-mlp"
    weights = 13 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3
    normalization = 2 * 13  # mean and 1/std inside the exported graph are stored constants too
    assert run["metrics"]["params"]["value"] == weights + normalization
    ckpt = load_checkpoint(run["artifacts"]["checkpoint"])
    scripted = torch.jit.trace(ckpt.model, torch.zeros(1, 13))
    ts_path = tmp_path / "wine.ts"
    scripted.save(str(ts_path))
    code, out, err = _cli(
        capsys, "import", str(ts_path), "--input-shape", "13", "-o", str(tmp_path / "w.onnx"),
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    info = json.loads(out)
    assert "Gemm" in info["ops"] and Path(info["path"]).is_file()
    assert info["metrics"]["params"]["value"] == weights  # the traced model has no normalization
    # importing again without --force refuses; an ONNX source is checked and re-written
    code, _, err = _cli(capsys, "import", str(ts_path), "--input-shape", "13", "-o", info["path"])
    _one_line_error(code, err, "--force")
    code, out, err = _cli(
        capsys, "import", run["artifacts"]["onnx"], "-o", str(tmp_path / "again.onnx"),
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    # TorchScript without an input shape is a clear error
    code, _, err = _cli(capsys, "import", str(ts_path), "-o", str(tmp_path / "x.onnx"))
    _one_line_error(code, err, "input")


def test_targets_lists_profiles_with_budgets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "targets", "--format", "json")
    assert code == 0
    profiles = {p["name"]: p for p in json.loads(out)}
    assert {"host", "cortex-m0plus", "cortex-m4", "cortex-m7"} <= set(profiles)
    m4, m0 = profiles["cortex-m4"], profiles["cortex-m0plus"]
    assert m4["dsp"] is True and m0["dsp"] is False
    assert 0 < m0["flash_bytes"] <= m4["flash_bytes"] and m4["ram_bytes"] > 0
    assert m4["energy"]["source"]  # every energy figure names its source
    # the table too, for profiles without a clock (host) as well
    code, out, err = _cli(capsys, "targets")
    assert code == 0, err
    assert "cortex-m4" in out and "MHz" in out and "Traceback" not in out + err


def test_datasets_lists_bundled_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "datasets", "--format", "json")
    assert code == 0
    assert {"digits", "mnist-5k", "basic-motions", "breast-cancer"} <= set(json.loads(out))
