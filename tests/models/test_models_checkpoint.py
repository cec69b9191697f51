"""Checkpoints: exact round trips for every zoo kind, overwrite rules, safe-loading errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeslim._core.errors import ExportError, ModelError
from edgeslim.data import Dataset, load_dataset
from edgeslim.models import (
    MLPConfig,
    build_model,
    config_to_dict,
    default_config,
    with_normalization,
    zoo_names,
)
from edgeslim.models.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from edgeslim.models.train import TrainConfig, fit, predict

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def series() -> Dataset:
    return load_dataset("synthetic-series", n_samples=60, channels=2, steps=12, seed=0)


@pytest.mark.parametrize("kind", zoo_names())
def test_round_trip_gives_identical_outputs(kind: str, series: Dataset, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = default_config(kind)
    model = build_model(config, series.spec)
    fit(model, series, TrainConfig(epochs=1, batch_size=16))  # moves batch-norm statistics too
    meta = {"run": "r1", "seed": 0, "scores": (0.5, 1.0), "nested": {"a": [1, None]}}
    path = save_checkpoint(
        tmp_path / "m.pt", model, config, series.spec, series.normalization, meta=meta
    )
    ckpt = load_checkpoint(path)
    assert ckpt.config == config and ckpt.spec == series.spec
    assert ckpt.normalization == series.normalization
    assert ckpt.meta == {"run": "r1", "seed": 0, "scores": [0.5, 1.0], "nested": {"a": [1, None]}}
    assert not ckpt.model.training
    a = predict(model, series.x_test, series.normalization)
    b = predict(ckpt.model, series.x_test, ckpt.normalization)
    np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary files left


def test_wrapped_model_is_saved_unwrapped(series: Dataset, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = MLPConfig()
    model = build_model(config, series.spec)
    wrapped = with_normalization(model, series.normalization, series.spec.input_shape)
    save_checkpoint(tmp_path / "w.pt", wrapped, config, series.spec, series.normalization)
    ckpt = load_checkpoint(tmp_path / "w.pt")
    again = with_normalization(ckpt.model, ckpt.normalization, ckpt.spec.input_shape)
    x = torch.from_numpy(series.x_test)
    with torch.no_grad():
        assert torch.equal(wrapped(x), again(x))


def test_existing_file_needs_force(series: Dataset, tmp_path: Path) -> None:
    torch.manual_seed(0)
    first = build_model(MLPConfig(), series.spec)
    second = build_model(MLPConfig(), series.spec)
    args = (MLPConfig(), series.spec, series.normalization)
    save_checkpoint(tmp_path / "m.pt", first, *args)
    with pytest.raises(ExportError, match=r"m\.pt already exists"):
        save_checkpoint(tmp_path / "m.pt", second, *args)
    loaded = load_checkpoint(tmp_path / "m.pt").model.state_dict()
    assert all(torch.equal(v, first.state_dict()[k]) for k, v in loaded.items())
    save_checkpoint(tmp_path / "m.pt", second, *args, force=True)
    loaded = load_checkpoint(tmp_path / "m.pt").model.state_dict()
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in loaded.items())


def test_meta_must_be_json(series: Dataset, tmp_path: Path) -> None:
    model = build_model(MLPConfig(), series.spec)
    with pytest.raises(ModelError, match=r"meta\['when'\] is not a JSON value"):
        save_checkpoint(
            tmp_path / "m.pt",
            model,
            MLPConfig(),
            series.spec,
            series.normalization,
            meta={"when": object()},
        )
    assert not (tmp_path / "m.pt").exists()


def _payload(series: Dataset, **changes: object) -> dict[str, object]:
    model = build_model(MLPConfig(), series.spec)
    payload: dict[str, object] = {
        "format": FORMAT,
        "config": config_to_dict(MLPConfig()),
        "spec": series.spec.to_dict(),
        "normalization": series.normalization.to_dict(),
        "state_dict": model.state_dict(),
        "meta": {},
    }
    payload.update(changes)
    return payload


class _Pickled:
    """Something that is not plain data."""


def _bad_files(series: Dataset, d: Path) -> dict[str, tuple[Path, str]]:
    good = d / "good.pt"
    torch.save(_payload(series), good)
    raw = good.read_bytes()
    files = {
        "junk": (b"definitely not a torch file" * 4, "corrupt or not a torch file"),
        "empty": (b"", "corrupt or not a torch file"),
        "truncated": (raw[: len(raw) // 2], "corrupt or not a torch file"),
    }
    out = {}
    for name, (data, match) in files.items():
        (d / f"{name}.pt").write_bytes(data)
        out[name] = (d / f"{name}.pt", match)
    objects = {
        "plain-dict": ({"weights": torch.zeros(2)}, "not an edgeslim checkpoint \\(no 'format'"),
        "list": ([1, 2, 3], "not an edgeslim checkpoint"),
        "pickled": ({"format": _Pickled()}, "holds pickled Python objects"),
        "newer": (_payload(series, format="edgeslim-model/9"), "format 'edgeslim-model/9'"),
        "no-meta": ({k: v for k, v in _payload(series).items() if k != "meta"}, "key 'meta'"),
        "bad-kind": (_payload(series, config={"kind": "transformer"}), "model kind must be"),
        "bad-spec": (_payload(series, spec={"name": "x"}), "malformed header"),
        "mismatch": (
            _payload(series, config=config_to_dict(MLPConfig(hidden=(8,)))),
            "weights do not fit a mlp model built from its config \\(unexpected net.5",
        ),
    }
    for name, (obj, match) in objects.items():
        torch.save(obj, d / f"{name}.pt")
        out[name] = (d / f"{name}.pt", match)
    return out


def test_bad_files_raise_model_errors_naming_the_file(series: Dataset, tmp_path: Path) -> None:
    for name, (path, match) in _bad_files(series, tmp_path).items():
        with pytest.raises(ModelError, match=match) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value), name
        assert "\n" not in str(info.value), name
    with pytest.raises(ModelError, match=r"checkpoint .*nope\.pt does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    assert load_checkpoint(tmp_path / "good.pt").config == MLPConfig()


def test_torchscript_is_recognized(series: Dataset, tmp_path: Path) -> None:
    model = build_model(MLPConfig(), series.spec)
    torch.jit.trace(model, torch.from_numpy(series.x_test[:2])).save(str(tmp_path / "ts.pt"))
    assert zipfile.is_zipfile(tmp_path / "ts.pt")
    with pytest.raises(ModelError, match=r"ts\.pt is a TorchScript archive"):
        load_checkpoint(tmp_path / "ts.pt")
