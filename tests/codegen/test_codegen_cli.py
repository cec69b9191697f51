"""``export`` and ``measure`` in-process with Typer's CliRunner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tests.codegen.conftest import needs_cc, sample_inputs
from typer.testing import CliRunner

from cli_support import run_cli
from edgeslim.cli.deploy import app
from edgeslim.data.spec import Layout
from edgeslim.ir import Graph, to_onnx

pytestmark = [pytest.mark.torch]


def _onnx(graph: Graph, path: Path) -> Path:
    import onnx

    onnx.save(to_onnx(graph), path)
    return path


def test_export_writes_library_and_refuses_overwrite(
    zoo_graph: Callable[[str, Layout], Graph], tmp_path: Path
) -> None:
    model = _onnx(zoo_graph("dscnn", Layout.IMAGE), tmp_path / "m.onnx")
    r = CliRunner().invoke(
        app,
        [
            "export",
            str(model),
            "--target",
            "cortex-m4",
            "-o",
            str(tmp_path / "out"),
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert {Path(f).name for f in data["files"]} == {"model.h", "model.c", "Makefile", "README.md"}
    assert data["arena_bytes"] > 0
    again = CliRunner().invoke(app, ["export", str(model), "-o", str(tmp_path / "out")])
    assert again.exit_code != 0 and "--force" in str(again.exception)


@needs_cc
@pytest.mark.toolchain
def test_measure_on_host_stores_a_run(
    zoo_graph: Callable[[str, Layout], Graph], tmp_path: Path
) -> None:
    model = _onnx(zoo_graph("mlp", Layout.TABULAR), tmp_path / "m.onnx")
    np.savez(tmp_path / "t.npz", x_test=sample_inputs(Layout.TABULAR, n=4))
    db = tmp_path / "s.db"
    r = CliRunner().invoke(
        app,
        [
            "measure",
            str(model),
            "--target",
            "host",
            "--data",
            str(tmp_path / "t.npz"),
            "--store",
            str(db),
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["exact"] and out["run_id"] >= 1
    from edgeslim.store import open_store

    rec = open_store(db).get_run(out["run_id"])
    assert rec.metric("arena_bytes", "host") is not None


def test_measure_without_data_is_a_user_error(
    zoo_graph: Callable[[str, Layout], Graph], tmp_path: Path
) -> None:
    model = _onnx(zoo_graph("mlp", Layout.TABULAR), tmp_path / "m.onnx")
    r = CliRunner().invoke(app, ["measure", str(model), "--target", "host"])
    assert r.exit_code != 0 and "--data" in str(r.exception)


@needs_cc
@pytest.mark.toolchain
def test_top_level_measure_passes_simd_and_layout_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx
    from tests.codegen.int8_graphs import quantized_zoo

    model = tmp_path / "q.onnx"
    onnx.save(to_onnx(quantized_zoo("cnn", (1, 8, 8), tmp_path)), model)
    np.savez(tmp_path / "t.npz", x_test=sample_inputs(Layout.IMAGE, n=3))
    argv = ["measure", str(model), "--data", str(tmp_path / "t.npz"), "--target", "host"]
    argv += ["--no-simd", "--store", str(tmp_path / "s.db")]
    code, stdout, _ = run_cli(capsys, *argv, "--layout", "im2col2", "--format", "json")
    assert code == 0
    out = json.loads(stdout)
    assert out["exact"] and out["options"]["simd"] is False
    assert "im2col2" in out["options"]["algorithms"].values()
    code, _, err = run_cli(capsys, *argv, "--layout", "sideways")
    assert code == 2 and "sideways" in err
