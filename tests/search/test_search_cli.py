"""``edgeslim search`` end to end: run, show, budget rejection, resume after a crash or a kill -9,
parallel workers. Tiny space, 1 epoch per trial, uncalibrated instruction model (no QEMU)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest

from cli_support import run_cli

pytestmark = pytest.mark.torch


_cli = run_cli


def _json(out: str) -> dict[str, Any]:
    return dict(json.loads(out[out.index("{") :]))


def _search(store: Path, recipe: Path, *extra: str) -> list[str]:
    return [
        "search", str(recipe), "--target", "cortex-m4", "--store", str(store),
        "--out", str(store.parent / "out"), "--calibration-samples", "0", *extra,
    ]  # fmt: skip


def test_search_runs_stores_every_trial_and_shows_the_front(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_recipe: Any
) -> None:
    store = tmp_path / "s.db"
    recipe = tiny_recipe(baselines="{gru-4: {kind: gru, hidden: 4}}")
    argv = _search(store, recipe, "--budget", "flash=64KB,ram=16KB", "--trials", "3")
    code, out, err = _cli(capsys, *argv, "--format", "json")
    assert code == 0, err
    info = _json(out)
    assert info["counts"]["complete"] + info["counts"]["pruned"] == 3
    assert info["front"], "a trained feasible trial is on the front"
    for r in info["front"]:
        assert r["feasible"] and r["status"] == "trained"
        assert Path(r["onnx"]).is_file()
        assert r["cost"]["flash_bytes"] <= 65536 and r["cost"]["ram_bytes"] <= 16384
    assert [b["name"] for b in info["baselines"]] == ["gru-4"]
    # the study is an Optuna study in the store's own database (optuna-dashboard opens it)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{store}")
    assert len(study.trials) == 3
    code, out, _ = _cli(capsys, "search", "show", "tiny", "--store", str(store))
    assert code == 0 and "Pareto front" in out and "gru-4" in out
    code, out, _ = _cli(capsys, "runs", "list", "--store", str(store))
    assert code == 0  # the store itself still opens beside the Optuna tables
    # a second run without --resume or --force is refused
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and "--resume" in err and "Traceback" not in err


def test_over_budget_candidates_are_rejected_without_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_recipe: Any
) -> None:
    store = tmp_path / "s.db"
    argv = _search(store, tiny_recipe(), "--budget", "ram=0.25KB", "--trials", "3")
    code, out, err = _cli(capsys, *argv, "--format", "json")
    assert code == 0, err
    info = _json(out)
    assert info["status"] == {"rejected": 3}
    assert info["front"] == []
    for t in info["trials"]:
        assert "ram_bytes" in t["reason"] and "before training" in t["reason"]
        assert t["val"] is None and t["onnx"] is None  # never trained, never exported
        assert t["predicted"]["ram_bytes"] > 256
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{store}")
    assert all(t.constraints["ram_bytes"] > 0 for t in study.trials)


def test_resume_after_a_crash_loses_and_repeats_nothing(tmp_path: Path, tiny_recipe: Any) -> None:
    from edgeslim.api import open_store
    from edgeslim.api import search as s

    store = open_store(tmp_path / "s.db")
    recipe = tiny_recipe()
    kw: dict[str, Any] = {"target": "cortex-m4", "store": store, "out_dir": tmp_path / "o"}
    with pytest.raises(RuntimeError, match="simulated crash"):
        s.search(recipe, trials=3, calibration_samples=0, extra={"crash_after": 2}, **kw)
    first = {t["number"]: t["values"] for t in s.show("tiny", store=store)["trials"]}
    assert len(first) == 2
    info = s.search(recipe, trials=3, resume=True, **kw)
    finished = [t for t in info["trials"] if t["state"] in ("complete", "pruned")]
    assert len(finished) == 3
    for n, values in first.items():  # nothing finished before the crash was lost or redone
        assert next(t for t in info["trials"] if t["number"] == n)["values"] == values
    assert info["recovered"] == 0 and info["counts"]["fail"] == 0


def test_one_objective_tpe_with_hyperband_and_force_restart(
    tmp_path: Path, tiny_recipe: Any
) -> None:
    from edgeslim.api import open_store
    from edgeslim.api import search as s

    recipe = tiny_recipe(sampler="tpe", epochs=2)
    text = recipe.read_text().replace("{accuracy: max, instructions: min}", "{accuracy: max}")
    recipe.write_text(text.replace("pruner: median", "pruner: hyperband"))
    store = open_store(tmp_path / "s.db")
    kw: dict[str, Any] = {"target": "cortex-m4", "store": store, "out_dir": tmp_path / "o"}
    info = s.search(recipe, trials=2, calibration_samples=0, **kw)
    assert info["objectives"] == {"accuracy": "max"}
    assert all(len(t["values"]) == 1 for t in info["trials"] if t["values"])
    again = s.search(recipe, trials=1, calibration_samples=0, force=True, **kw)
    assert len(again["trials"]) == 1  # --force started the study over


KILLER = """
import os, signal, sys
from pathlib import Path
import edgeslim.models.train as train
from edgeslim.api import open_store
from edgeslim.api import search as s

real_fit = train.fit

def fit(*args, **kwargs):
    cbs = kwargs.get("callbacks") or ()
    if any(getattr(getattr(c, "trial", None), "number", -1) == 2 for c in cbs):
        os.kill(os.getpid(), signal.SIGKILL)  # trial 2 is RUNNING in the database: kill -9
    return real_fit(*args, **kwargs)

train.fit = fit
root = Path(sys.argv[1])
s.search(sys.argv[2], target="cortex-m4", store=open_store(root / "s.db"), trials=4,
         out_dir=root / "o", calibration_samples=0, export_top=0)
"""


@pytest.mark.slow
def test_kill_9_mid_trial_then_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_recipe: Any
) -> None:
    recipe = tiny_recipe(sampler="random")
    script = tmp_path / "killer.py"
    script.write_text(textwrap.dedent(KILLER))
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(recipe)],
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 's.db'}")
    states = [t.state.name for t in study.trials]
    assert states.count("RUNNING") == 1 and states.count("COMPLETE") == 2
    before = {t.number: t.values for t in study.trials if t.state.name == "COMPLETE"}
    killed = next(t for t in study.trials if t.state.name == "RUNNING")
    store = tmp_path / "s.db"
    code, out, err = _cli(capsys, *_search(store, recipe, "--trials", "4", "--resume"),
                          "--format", "json")  # fmt: skip
    assert code == 0, err
    info = _json(out)
    assert info["recovered"] == 1
    rows = {t["number"]: t for t in info["trials"]}
    assert sum(t["state"] in ("complete", "pruned") for t in rows.values()) == 4
    for n, values in before.items():
        assert rows[n]["values"] == values and rows[n]["state"] == "complete"
    assert rows[killed.number]["status"] == "interrupted"
    retry = [t for t in rows.values() if t["retry_of"] == killed.number]
    assert len(retry) == 1 and retry[0]["params"] == killed.params  # the same candidate again


@pytest.mark.slow
def test_two_workers_share_one_study(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_recipe: Any
) -> None:
    store = tmp_path / "s.db"
    argv = _search(store, tiny_recipe(sampler="random"), "--trials", "4", "--workers", "2")
    code, out, err = _cli(capsys, *argv, "--format", "json")
    assert code == 0, err
    info = _json(out)
    finished = [t for t in info["trials"] if t["state"] in ("complete", "pruned")]
    assert 4 <= len(finished) <= 5  # a worker may claim one more while the other finishes
    assert len({t["number"] for t in info["trials"]}) == len(info["trials"])
    assert info["counts"]["running"] == 0 and info["counts"]["fail"] == 0


@pytest.mark.slow
def test_ray_two_workers_local_cluster(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_recipe: Any
) -> None:
    pytest.importorskip("ray", reason="the Ray path needs the ray package")
    store = tmp_path / "s.db"
    argv = _search(store, tiny_recipe(sampler="random"), "--trials", "3", "--workers", "2")
    code, out, err = _cli(capsys, *argv, "--ray", "--format", "json")
    assert code == 0, err
    info = _json(out)
    finished = [t for t in info["trials"] if t["state"] in ("complete", "pruned")]
    assert 3 <= len(finished) <= 4
    assert info["counts"]["running"] == 0 and info["counts"]["fail"] == 0


def test_a_space_where_every_candidate_fails_stops_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_recipe: Any
) -> None:
    from edgeslim._core.errors import EdgeslimError, ExportError
    from edgeslim.api import open_store
    from edgeslim.api import search as s
    from edgeslim.search import _study

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise ExportError("candidate does not lower to C: unsupported op 'Foo'")

    monkeypatch.setattr(_study, "predict_cost", boom)
    store = open_store(tmp_path / "s.db")
    with pytest.raises(EdgeslimError, match=r"5 trials failed \(last: candidate does not lower"):
        s.search(tiny_recipe(), target="cortex-m4", store=store, trials=2,
                 calibration_samples=0, out_dir=tmp_path / "o")  # fmt: skip
    rows = s.show("tiny", store=store)["trials"]
    assert {r["status"] for r in rows} == {"failed"} and "unsupported op" in rows[0]["reason"]
