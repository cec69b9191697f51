"""Backends: registry, options, capabilities, agreement on zoo models, thread state restored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeslim._core.errors import EdgeslimError, ModelError
from edgeslim._core.records import Metric, Provenance
from edgeslim.backends import (
    ArtifactKind,
    Backend,
    Capability,
    OnnxRuntimeBackend,
    Runner,
    RunnerBase,
    TorchBackend,
    backend_names,
    get_backend,
    runner_metrics,
)
from edgeslim.data.spec import DataSpec, Layout, Task

DIGITS = DataSpec("digits", Task.CLASSIFICATION, Layout.IMAGE, (1, 8, 8), 10, 10)
MOTIONS = DataSpec("basic-motions", Task.CLASSIFICATION, Layout.SERIES, (6, 100), 4, 4)
Export = Callable[[str, DataSpec], Any]


def test_registry_names_and_types() -> None:
    assert {"torch", "onnxruntime"} <= set(backend_names())
    assert isinstance(get_backend("torch"), TorchBackend)
    ort = get_backend("onnxruntime", threads=2)
    assert isinstance(ort, OnnxRuntimeBackend) and ort.threads == 2


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_every_backend_declares_its_contract(name: str) -> None:
    backend = get_backend(name)
    assert isinstance(backend, Backend)
    assert backend.name == name
    assert Capability.FLOAT32 in backend.capabilities
    assert backend.has(Capability.THREADS) and backend.has(Capability.BATCH)
    assert isinstance(backend.artifact_kind, ArtifactKind)


def test_unknown_backend_and_bad_options_raise_naming_them() -> None:
    with pytest.raises(EdgeslimError, match="unknown backend 'tvm'"):
        get_backend("tvm")
    with pytest.raises(EdgeslimError, match="unknown options"):
        get_backend("onnxruntime", thread=1)
    with pytest.raises(EdgeslimError, match="parameter threads of OnnxRuntimeBackend"):
        get_backend("onnxruntime", threads=-1)
    with pytest.raises(EdgeslimError, match="parameter threads of TorchBackend"):
        get_backend("torch", threads=1.5)


def test_threads_zero_means_default() -> None:
    assert get_backend("onnxruntime", threads=0).resolved_threads is None
    assert get_backend("onnxruntime", threads=3).resolved_threads == 3


def test_onnxruntime_session_options() -> None:
    so = OnnxRuntimeBackend(threads=1).session_options()
    assert so.intra_op_num_threads == 1
    assert so.inter_op_num_threads == 1
    assert OnnxRuntimeBackend().session_options().intra_op_num_threads == 0


def test_load_errors_name_the_artifact(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nothing\.onnx does not exist"):
        get_backend("onnxruntime").load(tmp_path / "nothing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"cannot load .*bad\.onnx"):
        get_backend("onnxruntime").load(bad)
    with pytest.raises(ModelError, match="needs an ONNX file path"):
        get_backend("onnxruntime").load(42)
    pytest.importorskip("torch")
    with pytest.raises(EdgeslimError, match=r"needs a torch\.nn\.Module"):
        get_backend("torch").load("model.onnx")


def test_runner_metrics_default_and_custom() -> None:
    class Plain:
        def run(self, x: np.ndarray) -> np.ndarray:
            return x

        def close(self) -> None:
            pass

    class Counting(RunnerBase):
        def run(self, x: np.ndarray) -> np.ndarray:
            return x

        def metrics(self) -> tuple[Metric, ...]:
            return (Metric("instructions", 7, "instr", Provenance.SIMULATED),)

    assert isinstance(Plain(), Runner)
    assert runner_metrics(Plain()) == ()
    assert runner_metrics(Counting()) == (
        Metric("instructions", 7, "instr", Provenance.SIMULATED),
    )


@pytest.mark.torch
@pytest.mark.parametrize(
    ("kind", "spec"),
    [("cnn", DIGITS), ("resnet", DIGITS), ("gru", MOTIONS), ("lstm", DIGITS), ("tcn", MOTIONS)],
)
def test_torch_and_onnxruntime_agree_on_zoo_models(
    zoo_export: Export, kind: str, spec: DataSpec
) -> None:
    module, path = zoo_export(kind, spec)
    x = np.random.default_rng(1).standard_normal((7, *spec.input_shape)).astype(np.float32)
    x_before = x.copy()
    with get_backend("torch", threads=1).load(module) as eager:
        a = eager.run(x)
    with get_backend("onnxruntime", threads=1).load(path) as ort:
        b = ort.run(x)
        single = ort.run(x[:1])
    assert a.shape == b.shape == (7, spec.output_dim)
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(single, b[:1], atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(x, x_before)  # inputs untouched


@pytest.mark.torch
def test_torch_threads_are_scoped_and_restored(zoo_export: Export) -> None:
    torch = pytest.importorskip("torch")
    module, _ = zoo_export("mlp", DIGITS)
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    seen: list[int] = []
    handle = module.register_forward_pre_hook(lambda m, a: seen.append(torch.get_num_threads()))
    try:
        runner = get_backend("torch", threads=target).load(module)
        out = runner.run(np.zeros((2, 1, 8, 8), np.float32))
        assert torch.get_num_threads() == before
        runner.close()
    finally:
        handle.remove()
    assert seen == [target]  # the model ran with the requested count ...
    assert torch.get_num_threads() == before  # ... and the process got its own back
    assert out.shape == (2, 10)


@pytest.mark.torch
def test_torch_threads_restored_after_an_exception() -> None:
    torch = pytest.importorskip("torch")

    class Boom(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            raise RuntimeError("boom")

    before = torch.get_num_threads()
    runner = get_backend("torch", threads=1 if before != 1 else 2).load(Boom())
    with pytest.raises(RuntimeError, match="boom"):
        runner.run(np.zeros((1, 1), np.float32))
    assert torch.get_num_threads() == before


@pytest.mark.torch
def test_closed_runners_refuse_to_run(zoo_export: Export) -> None:
    module, path = zoo_export("mlp", DIGITS)
    for runner in (get_backend("torch").load(module), get_backend("onnxruntime").load(path)):
        runner.close()
        runner.close()  # idempotent
        with pytest.raises(EdgeslimError, match="after close"):
            runner.run(np.zeros((1, 1, 8, 8), np.float32))


@pytest.mark.torch
def test_torch_load_puts_module_in_eval_mode(zoo_export: Export) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    from edgeslim.models import build_model, config_from_dict

    module = build_model(config_from_dict({"kind": "mlp", "dropout": 0.5}), DIGITS)
    module.train()
    runner = get_backend("torch").load(module)
    x = np.ones((3, 1, 8, 8), np.float32)
    np.testing.assert_array_equal(runner.run(x), runner.run(x))  # no dropout noise
    assert not module.training
