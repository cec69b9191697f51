"""Distillation (logits, hints with adapters, teachers from zoo/checkpoint/ONNX) and chains that
keep and check the earlier sparsity; the CLI and the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import typer
from compress_cases import IMAGE, SERIES, export_run, tiny_dataset, zoo_model
from typer.testing import CliRunner

from edgeslim._core.errors import EdgeslimError, ModelError, RecipeError
from edgeslim.passes import create
from edgeslim.passes.compress import kd_loss
from edgeslim.passes.prune._stats import weight_params
from edgeslim.passes.quantize import float_module

pytestmark = pytest.mark.torch

CNN = {"channels": [8, 16]}


@pytest.fixture(scope="module")
def trained() -> tuple[Any, Any]:
    from edgeslim.models.train import TrainConfig, fit

    data = tiny_dataset(IMAGE, n=200)
    teacher = zoo_model("cnn", CNN, IMAGE)
    fit(teacher, data, TrainConfig(epochs=4, patience=0, batch_size=32))
    return teacher, data


def test_student_from_the_zoo_learns_from_the_incoming_model(trained: Any, make_ctx: Any) -> None:
    teacher, data = trained
    result = create(
        "compress.distill",
        {"student": {"kind": "cnn", "channels": [4, 8]}, "epochs": 3, "baseline": True},
    ).apply(teacher, make_ctx(data))
    rec = result.record
    assert rec["teacher"] == "input"
    assert rec["accuracy_after"] > rec["accuracy_before"]
    assert rec["accuracy_baseline"] is not None
    student_params = sum(p.numel() for p in result.model.parameters())
    assert student_params < sum(p.numel() for p in teacher.parameters())


def test_hint_adapter_maps_student_width_to_teacher_width(trained: Any) -> None:
    teacher, data = trained
    student = zoo_model("cnn", {"channels": [4, 8]}, IMAGE)
    x = torch.from_numpy(data.normalization.apply(np.asarray(data.x_train[:16])))
    y = torch.from_numpy(np.asarray(data.y_train[:16])).long()
    loss_fn, adapters, handles = kd_loss(
        teacher,
        temperature=2.0,
        alpha=0.5,
        student=student,
        example=x[:2],
        hints=[{"student": "net.7", "teacher": "net.7", "weight": 1.0}],
    )
    assert adapters["h0"].map.weight.shape == (16, 8)
    student.add_module("kd_adapters", adapters)
    loss = loss_fn(student, x, y, student(x))
    loss.backward()
    assert torch.isfinite(loss) and adapters["h0"].map.weight.grad is not None
    assert float(adapters["h0"].map.weight.grad.abs().sum()) > 0
    for h in handles:
        h.remove()


def test_hints_train_and_adapters_are_dropped(trained: Any, make_ctx: Any) -> None:
    teacher, data = trained
    result = create(
        "compress.distill",
        {
            "student": {"kind": "cnn", "channels": [4, 8]},
            "epochs": 2,
            "hints": [{"student": "net.7", "teacher": "net.7"}],
        },
    ).apply(teacher, make_ctx(data))
    assert not any("kd_adapters" in k for k in result.model.state_dict())
    with pytest.raises(RecipeError, match=r"no student layer 'net\.99'"):
        create(
            "compress.distill",
            {
                "student": {"kind": "cnn"},
                "epochs": 1,
                "hints": [{"student": "net.99", "teacher": "net.7"}],
            },
        ).apply(teacher, make_ctx(data))


def test_teacher_from_checkpoint_and_from_onnx(
    trained: Any, make_ctx: Any, tmp_path: Path
) -> None:
    from edgeslim.models import config_from_dict
    from edgeslim.models.checkpoint import save_checkpoint

    teacher, data = trained
    ckpt = tmp_path / "teacher.pt"
    save_checkpoint(
        ckpt, teacher, config_from_dict({"kind": "cnn", **CNN}), data.spec, data.normalization
    )
    _, onnx_path = export_run(teacher, data, tmp_path / "teacher.onnx")
    student = zoo_model("cnn", {"channels": [4, 8]}, IMAGE)
    acc = []
    for spec in ({"path": str(ckpt)}, {"path": str(onnx_path)}):
        r = create("compress.distill", {"teacher": spec, "epochs": 1}).apply(
            student, make_ctx(data)
        )
        acc.append(r.record["accuracy_teacher"])
        assert r.record["teacher"].split(":")[0] in ("checkpoint", "onnx")
    assert acc[0] == pytest.approx(acc[1], abs=1e-9)


def test_zoo_teacher_is_trained_in_the_pass_for_a_gru(make_ctx: Any) -> None:
    data = tiny_dataset(SERIES, n=150)
    student = zoo_model("gru", {"hidden": 4}, SERIES)
    r = create(
        "compress.distill",
        {"teacher": {"kind": "lstm", "hidden": 8, "epochs": 2}, "epochs": 1},
    ).apply(student, make_ctx(data))
    assert r.record["teacher"] == "zoo:lstm" and r.record["accuracy_teacher"] is not None


def test_distill_without_teacher_outside_a_chain_is_an_error(trained: Any, make_ctx: Any) -> None:
    teacher, data = trained
    with pytest.raises(RecipeError, match=r"only exists inside compress\.chain"):
        create("compress.distill", {"epochs": 1}).apply(teacher, make_ctx(data))


def _zeros(model: Any) -> dict[str, torch.Tensor]:
    return {n: (p == 0).clone() for n, p in weight_params(model)}


def test_chain_prune_distill_qat_keeps_the_pruned_zeros(trained: Any, make_ctx: Any) -> None:
    teacher, data = trained
    stages = [
        {"name": "prune.magnitude", "sparsity": 0.6, "fine_tune_epochs": 1},
        {"name": "compress.distill", "epochs": 2},
        {"name": "quantize.qat", "epochs": 1},
    ]
    result = create("compress.chain", {"stages": stages}).apply(teacher, make_ctx(data))
    st = result.record["stages"]
    assert [s["name"] for s in st] == ["input", *[s["name"] for s in stages]]
    assert (
        st[2]["check"]["zeros_kept"] > 0
        and st[3]["check"]["zeros_kept"] == st[2]["check"]["zeros_kept"]
    )
    assert st[3]["sparsity"] >= 0.59
    assert result.model.kind.startswith("qat")
    from edgeslim.passes.quantize._qat import strip_fake_quant

    plain = strip_fake_quant(float_module(result.model))
    total = sum(int((p == 0).sum()) for _, p in weight_params(plain))
    assert total >= st[2]["check"]["zeros_kept"]


def test_chain_on_a_gru_prune_then_cluster(make_ctx: Any, tmp_path: Path) -> None:
    data = tiny_dataset(SERIES, n=150)
    model = zoo_model("gru", {"hidden": 16}, SERIES)
    stages = [
        {"name": "prune.magnitude", "sparsity": 0.5, "fine_tune_epochs": 1},
        {"name": "compress.cluster", "clusters": 8, "epochs": 1, "distill": True},
    ]
    result = create("compress.chain", {"stages": stages}).apply(model, make_ctx(data))
    assert result.record["stages"][2]["check"]["masked_layers"] == 3
    out, _ = export_run(result.model, data, tmp_path / "g.onnx")
    assert out.shape == (len(data.x_test), 3)


def test_a_stage_that_breaks_the_sparsity_fails_the_chain(trained: Any, make_ctx: Any) -> None:
    teacher, data = trained
    stages: list[dict[str, Any]] = [
        {"name": "prune.magnitude", "sparsity": 0.5},
        {"name": "compress.rigl", "sparsity": 0.5, "epochs": 1, "init": "random"},
    ]
    with pytest.raises(ModelError, match=r"stage 2 \(compress.rigl\) broke the earlier sparsity"):
        create("compress.chain", {"stages": stages}).apply(teacher, make_ctx(data))
    stages[1]["keep"] = False
    result = create("compress.chain", {"stages": stages}).apply(teacher, make_ctx(data))
    assert result.record["stages"][2]["check"] is None


def test_chain_parameters_are_checked_up_front() -> None:
    with pytest.raises(RecipeError, match=r"unknown pass 'prune\.nope'"):
        create("compress.chain", {"stages": [{"name": "prune.nope"}]})
    with pytest.raises(RecipeError, match=r"stages of pass 'compress\.chain'"):
        create("compress.chain", {"stages": []})


def _cli(*argv: str) -> tuple[int, str]:
    from edgeslim.cli.compress import app

    root = typer.Typer()
    root.add_typer(app, name="compress")
    try:
        result = CliRunner().invoke(root, ["compress", *argv], catch_exceptions=False)
    except EdgeslimError as err:
        return 2, f"error: {err}"
    return result.exit_code, result.output


def test_cli_chain_and_apply_store_stage_metrics(tmp_path: Path) -> None:
    from edgeslim import api

    data = tiny_dataset(IMAGE, n=160)
    npz = tmp_path / "d.npz"
    np.savez(
        npz,
        X=np.concatenate([data.x_train, data.x_val, data.x_test]),
        y=np.concatenate([data.y_train, data.y_val, data.y_test]),
    )
    db, out = str(tmp_path / "s.db"), str(tmp_path / "out")
    common = ["--data", str(npz), "--epochs", "2", "--repeats", "2", "--store", db, "-o", out]
    code, text = _cli(
        "chain",
        "mlp",
        *common,
        "--model-set",
        "hidden=[32]",
        "--format",
        "json",
        "--stage",
        "prune.magnitude sparsity=0.5 fine_tune_epochs=1",
        "--stage",
        "compress.cluster clusters=16 epochs=1",
    )
    assert code == 0, text
    doc = json.loads(text[text.index("{") :])
    assert set(doc["stages"]) == {
        "stage0:input",
        "stage1:prune.magnitude",
        "stage2:compress.cluster",
    }
    assert doc["stages"]["stage1:prune.magnitude"]["sparsity"] >= 0.49
    run = api.open_store(db).get_run("mlp-chain")
    names = {(m.name, m.context) for m in run.metrics}
    assert ("param_storage_bytes", "") in names and (
        "accuracy",
        "stage2:compress.cluster",
    ) in names
    code, text = _cli("apply", "mlp", *common, "--method", "lowrank", "--set", "energy=0.5")
    assert code == 0 and "mlp-lowrank" in text
    code, text = _cli("apply", "nonsense", *common)
    assert code == 2 and "neither a file nor a zoo kind" in text
    code, text = _cli("methods", "--format", "json")
    assert code == 0 and any(r["pass"] == "compress.rigl" for r in json.loads(text))
    for cmd in ("apply", "chain", "methods"):
        assert "Example" in _cli(cmd, "--help")[1]
