"""The end-to-end chain for one run: data → model (train or import) → passes → export →
measure the exported artifact → store. Objects in; the CLI turns strings into these calls.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeslim._core.errors import DataError, ModelError, RecipeError
from edgeslim._core.records import Metric
from edgeslim._core.seeding import seed_everything
from edgeslim.api.progress import NullProgress, Progress
from edgeslim.api.recipe import RunSpec
from edgeslim.data.spec import Dataset, DataSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What one run produced: its stored id, metrics and artifact paths."""

    name: str
    run_id: int
    metrics: tuple[Metric, ...]
    stored_as: str = ""
    artifacts: dict[str, Path] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "run_id": self.run_id,
            "stored_as": self.stored_as or self.name,
            "metrics": {m.key: m.to_dict() for m in self.metrics},
            "artifacts": {k: str(v) for k, v in self.artifacts.items()},
            "warnings": list(self.warnings),
        }


@dataclass
class _Model:
    """A model on its way through the chain."""

    module: Any | None  # torch.nn.Module, or None for an imported ONNX graph
    onnx_path: Path | None
    config: dict[str, Any] | None
    spec: DataSpec
    history: dict[str, Any] | None = None


def load_data(spec: RunSpec) -> Dataset:
    from edgeslim import data

    name = spec.data.name
    if name.endswith((".npz", ".csv")) or "/" in name:
        return data.load_user_file(name, label=spec.data.label, seed=spec.seed)
    return data.load_dataset(name, seed=spec.seed, **spec.data.params)


def _train(spec: RunSpec, dataset: Dataset, progress: Progress) -> _Model:
    from edgeslim.models import build_model, config_from_dict, config_to_dict
    from edgeslim.models.train import fit

    assert spec.model.kind is not None
    config = config_from_dict({"kind": spec.model.kind, **spec.model.zoo_params()})
    module = build_model(config, dataset.spec)
    task = progress.task(f"{spec.name}: train {spec.model.kind}", total=spec.train.epochs)

    def on_epoch(epoch: int, total: int, logs: Any) -> None:
        task.advance(1)

    history = fit(module, dataset, _train_config(spec), progress=on_epoch)
    task.done()
    return _Model(module, None, config_to_dict(config), dataset.spec, _history_dict(history))


def _history_dict(history: Any) -> dict[str, Any]:
    """The training history as JSON (a frozen :class:`TrainHistory`)."""
    import dataclasses

    return dict(json.loads(json.dumps(dataclasses.asdict(history), default=float)))


def _import(spec: RunSpec, dataset: Dataset, out: Path, force: bool) -> _Model:
    from edgeslim import ir

    path = Path(str(spec.model.path))
    if not path.exists():
        raise ModelError(f"model file {path} does not exist")
    if ir.is_tflite(path):  # no onnxruntime kernels for TFLite ops: measured as generated C
        raise ModelError(
            f"{path} is a TFLite model: measure it through generated C with --target "
            "(host, cortex-m4, ...), e.g. edgeslim measure model.tflite --data frames.npz "
            "--target cortex-m4"
        )
    if path.suffix == ".pt" and _is_checkpoint(path):
        from edgeslim.models.checkpoint import load_checkpoint

        ckpt = load_checkpoint(path)
        _check_shapes(ckpt.spec.input_shape, dataset.spec, path)
        from edgeslim.models import config_to_dict

        return _Model(ckpt.model, None, config_to_dict(ckpt.config), dataset.spec)
    is_archive = zipfile.is_zipfile(path)  # TorchScript; ONNX files are used as they are
    onnx_path = out / "imported.onnx" if is_archive else path
    graph = ir.import_model(
        path,
        input_shape=dataset.spec.input_shape,
        onnx_path=onnx_path if is_archive else None,
        force=force,
    )
    _check_shapes(tuple(graph.inputs[0].shape[1:]), dataset.spec, path)
    return _Model(None, Path(onnx_path), None, dataset.spec)


def _is_checkpoint(path: Path) -> bool:
    """A torch.save checkpoint is a zip archive without TorchScript's ``code/`` folder."""
    return zipfile.is_zipfile(path) and not any(
        "/code/" in n for n in zipfile.ZipFile(path).namelist()
    )


def _check_shapes(model_shape: tuple[Any, ...], spec: DataSpec, path: Path) -> None:
    if tuple(model_shape) != tuple(spec.input_shape):
        raise DataError(
            f"shape mismatch: model {path} takes inputs of shape {tuple(model_shape)} but "
            f"dataset {spec.name!r} has samples of shape {tuple(spec.input_shape)}"
        )


def _train_config(spec: RunSpec, epochs: int | None = None) -> Any:
    from edgeslim.models.train import TrainConfig

    t = spec.train
    return TrainConfig(
        epochs=t.epochs if epochs is None else epochs,
        lr=t.lr,
        batch_size=t.batch_size,
        weight_decay=t.weight_decay,
        patience=t.patience,
        seed=spec.seed,
        max_grad_norm=t.max_grad_norm,
        monitor=t.monitor,
    )


def pass_context(spec: RunSpec, dataset: Dataset, progress: Progress) -> Any:
    """The :class:`edgeslim.passes.PassContext` of a run: its data, seed, training budget."""
    from edgeslim.data.spec import Task
    from edgeslim.models.train import evaluate, fit
    from edgeslim.passes import PassContext

    def fine_tune(module: Any, epochs: int) -> Any:
        if epochs > 0:
            fit(module, dataset, _train_config(spec, epochs))
        return module

    def score(module: Any) -> float:
        r = evaluate(module, dataset, "val")
        return r["accuracy"] if dataset.spec.task is Task.CLASSIFICATION else -r["mae"]

    extras = {"train_config": _train_config(spec)}  # passes that train with a loss hook
    return PassContext(dataset, spec.seed, fine_tune, score, progress, extras)


def _apply_passes(
    spec: RunSpec, model: _Model, dataset: Dataset, progress: Progress
) -> list[dict[str, Any]]:
    from edgeslim import passes

    if spec.passes and model.module is None:
        raise RecipeError(
            f"run {spec.name!r}: passes need a trainable model (a zoo kind or a checkpoint); "
            f"{spec.model.path} is an exported graph"
        )
    ctx = pass_context(spec, dataset, progress)
    records = []
    for p in spec.passes:
        result = passes.apply(p.name, model.module, p.params(), ctx)
        model.module = result.model
        records.append({"name": p.name, **result.record, "steps": list(result.steps)})
    return records


def _export(model: _Model, dataset: Dataset, out: Path, force: bool) -> Path:
    if model.onnx_path is not None:
        return model.onnx_path
    from edgeslim import ir
    from edgeslim.models import with_normalization

    path = out / "model.onnx"
    hook = getattr(model.module, "edgeslim_export", None)
    if callable(hook):  # a pass built its own artifact (quantized ONNX); it writes it
        model.onnx_path = hook(path, dataset.spec.input_shape, dataset.normalization, force=force)
        return path
    wrapped = with_normalization(model.module, dataset.normalization, dataset.spec.input_shape)
    ir.export_torch(wrapped, dataset.spec.input_shape, path, force=force)
    model.onnx_path = path
    return path


def run_one(
    spec: RunSpec,
    *,
    store: Any,
    out_dir: Path,
    force: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run one recipe entry end to end and store everything it measured."""
    progress = progress or NullProgress()
    seed_everything(spec.seed)
    out = out_dir / spec.name
    if out.exists() and any(out.iterdir()) and not force:
        raise RecipeError(f"output folder {out} already holds results; pass --force to replace")
    from edgeslim import passes

    for step in spec.passes:  # bad pass names or parameters fail before anything is written
        passes.create(step.name, step.params())
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_data(spec)
    run = store.create_run(spec.name, recipe=spec.model_dump(mode="json"))
    try:
        result = _run_stages(spec, dataset, run, store, out, force, progress)
    except BaseException:
        store.finish_run(run.id, "failed")
        raise
    store.finish_run(run.id, "finished")
    return result


def _run_stages(
    spec: RunSpec,
    dataset: Dataset,
    run: Any,
    store: Any,
    out: Path,
    force: bool,
    progress: Progress,
) -> RunResult:
    from edgeslim import ir
    from edgeslim.measure import measure_artifact

    if spec.model.path:
        model = _import(spec, dataset, out, force)
    elif spec.model.kind:
        model = _train(spec, dataset, progress)
        store.add_step(run.id, "train", spec.model.kind, model.history or {})
    else:
        raise RecipeError(f"run {spec.name!r}: key 'model' needs 'kind' (zoo) or 'path' (import)")
    artifacts: dict[str, Path] = {}
    if model.module is not None and model.config is not None:
        artifacts["checkpoint"] = _save_checkpoint(model, dataset, out, spec, force)
    for record in _apply_passes(spec, model, dataset, progress):
        store.add_step(run.id, "pass", str(record.get("name", "pass")), record)
    onnx_path = _export(model, dataset, out, force)
    artifacts["onnx"] = onnx_path
    graph = ir.from_onnx(onnx_path)
    ir.verify(graph)
    store.add_step(
        run.id,
        "export",
        "onnx",
        {"config": model.config, "spec": dataset.spec.to_dict(), "path": str(onnx_path)},
    )
    task = progress.task(f"{spec.name}: measure", total=None)
    m = spec.measure
    report = measure_artifact(
        onnx_path,
        graph,
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        task=dataset.spec.task,
        module=_normalized_module(model, dataset),
        backends=m.backends,
        threads=m.threads,
        batch=m.batch,
        warmup=m.warmup,
        repeats=m.repeats,
    )
    task.done()
    metrics = tuple(report.metrics)
    store.add_step(run.id, "measure", "host", report.record())
    store.add_metrics(run.id, metrics)
    for kind, path in artifacts.items():
        store.add_artifact(run.id, kind, path)
    return RunResult(spec.name, run.id, metrics, run.name, artifacts, tuple(report.warnings))


def _normalized_module(model: _Model, dataset: Dataset) -> Any | None:
    if model.module is None:
        return None
    from edgeslim.models import with_normalization

    return with_normalization(model.module, dataset.normalization, dataset.spec.input_shape)


def _save_checkpoint(
    model: _Model, dataset: Dataset, out: Path, spec: RunSpec, force: bool
) -> Path:
    from edgeslim.models import config_from_dict
    from edgeslim.models.checkpoint import save_checkpoint

    assert model.config is not None
    path = out / "model.pt"
    save_checkpoint(
        path,
        model.module,
        config_from_dict(model.config),
        dataset.spec,
        dataset.normalization,
        meta={"run": spec.name, "seed": spec.seed},
        force=force,
    )
    return path


def run_recipe(
    specs: tuple[RunSpec, ...],
    *,
    store: Any,
    out_dir: Path,
    force: bool = False,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Run every entry of a recipe in order."""
    return [
        run_one(s, store=store, out_dir=out_dir, force=force, progress=progress) for s in specs
    ]
