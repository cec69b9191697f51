"""Pruning verbs: apply one method, compare methods at several sparsities, layer sensitivity.

Each pruned model goes through the same pipeline as any run (:func:`run_one`: pass, export,
measure the artifact, store); afterwards its weights are also written in the sparse storage
format (``.esw``) and the realized-gain check compares the pass's claim with the artifact of the
unpruned reference run. Warnings of that check are stored as a ``check`` step, which the tables
and the report show beside the run.

Recipe form of a comparison (``edgeslim prune compare recipe.yaml``): a normal recipe (one run:
data, model, train, measure) plus a ``compare`` section::

    compare: {methods: [magnitude, channel-l2], sparsity: [0.5, 0.7, 0.9], fine_tune_epochs: 3}
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeslim._core.errors import EdgeslimError, RecipeError
from edgeslim._core.records import Metric, Provenance
from edgeslim.api.pipeline import RunResult, load_data, pass_context, run_one
from edgeslim.api.progress import NullProgress, Progress
from edgeslim.api.recipe import ModelSection, PassSection, RunSpec, parse_recipe
from edgeslim.passes.prune._methods import DEFAULT_METHODS, Method, resolve_method

COMPUTED = Provenance.COMPUTED


class CompareSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    methods: tuple[str | dict[str, Any], ...] = DEFAULT_METHODS
    sparsity: tuple[float, ...] = (0.5, 0.7, 0.9)
    fine_tune_epochs: int = Field(default=3, ge=0)
    sparse_format: Literal["auto", "bitmask", "csr", "dense"] = "auto"


@dataclass(frozen=True)
class CompareSpec:
    """A comparison: the reference run, the methods, the sparsities, one fine-tuning budget."""

    base: RunSpec
    methods: tuple[Method, ...]
    sparsities: tuple[float, ...]
    fine_tune_epochs: int = 3
    sparse_format: str = "auto"

    def __post_init__(self) -> None:
        bad = [s for s in self.sparsities if not 0.0 < s < 1.0]
        if bad or not self.sparsities:
            raise RecipeError(f"sparsity levels must be in (0, 1); got {list(self.sparsities)}")
        if not self.methods:
            raise RecipeError("a pruning comparison needs at least one method")


@dataclass(frozen=True)
class PrunedRun:
    """One method at one sparsity: the pipeline's result plus the realized-gain check."""

    method: str
    sparsity: float
    result: RunResult
    warnings: tuple[str, ...]
    checks: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "sparsity": self.sparsity,
            **self.result.to_dict(),
            "warnings": list(self.result.warnings) + list(self.warnings),
            "checks": list(self.checks),
        }


@dataclass(frozen=True)
class CompareResult:
    base: RunResult
    runs: tuple[PrunedRun, ...]
    report: Path | None = None
    files: tuple[Path, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.to_dict(),
            "runs": [r.to_dict() for r in self.runs],
            "report": str(self.report) if self.report else None,
            "files": [str(p) for p in self.files],
        }


def base_spec(
    model: str,
    data: str,
    *,
    name: str | None = None,
    epochs: int = 15,
    seed: int = 0,
    label: str | None = None,
    model_params: dict[str, Any] | None = None,
    measure: dict[str, Any] | None = None,
) -> RunSpec:
    """The reference run: ``model`` is a zoo kind (trained first) or a checkpoint path."""
    from edgeslim.models import zoo_names

    if model in zoo_names():
        section: dict[str, Any] = {"kind": model, **(model_params or {})}
    elif Path(model).suffix == ".pt" and Path(model).is_file():
        section = {"path": model}
    else:
        raise EdgeslimError(
            f"model {model!r} must be a zoo kind ({', '.join(zoo_names())}) or an edgeslim "
            "checkpoint (.pt, written by edgeslim train); pruning needs the torch model"
        )
    doc = {
        "name": name or f"prune-{Path(data).stem}-{Path(model).stem}",
        "seed": seed,
        "data": {"name": data, "label": label},
        "model": section,
        "train": {"epochs": epochs},
        "measure": measure or {"threads": [1], "repeats": 50, "warmup": 5},
    }
    return parse_recipe(yaml.safe_dump(doc), source="command line")[0]


def load_compare_recipe(path: str | Path) -> CompareSpec:
    """A recipe with one run and a ``compare`` section (see module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise RecipeError(f"recipe file {p} does not exist")
    doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "compare" not in doc:
        raise RecipeError(f"{p}: a pruning comparison recipe needs a 'compare' section")
    section = doc.pop("compare")
    try:
        cmp = CompareSection.model_validate(section or {})
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(x) for x in ("compare", *first["loc"]))
        raise RecipeError(f"{p}: key {key!r}: {first['msg']}") from None
    specs = parse_recipe(yaml.safe_dump(doc), source=str(p))
    if len(specs) != 1:
        raise RecipeError(f"{p}: a pruning comparison has one reference run; got {len(specs)}")
    return CompareSpec(
        specs[0],
        tuple(resolve_method(m) for m in cmp.methods),
        tuple(cmp.sparsity),
        cmp.fine_tune_epochs,
        cmp.sparse_format,
    )


def _checkpoint(base: RunSpec, result: RunResult) -> str:
    if base.model.path:
        return str(base.model.path)
    return str(result.artifacts["checkpoint"])


def _artifact_numbers(result: RunResult) -> dict[str, float]:
    out = {m.name: m.value for m in result.metrics if not m.context}
    latency = [
        m.value
        for m in result.metrics
        if m.name == "latency_p50" and m.context == "onnxruntime,t1,b1"
    ]
    if latency:
        out["latency_p50"] = latency[0]
    return out


def _sparse(result: RunResult, store: Any, fmt: str, force: bool) -> RunResult:
    """Write the sparse storage file of the run's artifact; the result with its metric."""
    from edgeslim.passes.prune import write_sparse_artifact

    onnx_path = result.artifacts["onnx"]
    sparse = write_sparse_artifact(onnx_path, onnx_path.with_suffix(".esw"), fmt=fmt, force=force)
    metric = Metric("sparse_artifact_bytes", sparse.bytes, "B", COMPUTED)
    store.add_metrics(result.run_id, [metric])
    store.add_artifact(result.run_id, "sparse-weights", sparse.path)
    return _with(result, [metric], {"sparse": sparse.path})


def _with(result: RunResult, metrics: list[Metric], artifacts: dict[str, Path]) -> RunResult:
    return dataclasses.replace(
        result, metrics=(*result.metrics, *metrics), artifacts={**result.artifacts, **artifacts}
    )


def _realize(
    result: RunResult,
    method: Method,
    sparsity: float,
    base: dict[str, float],
    store: Any,
    fmt: str,
    force: bool,
) -> PrunedRun:
    from edgeslim.passes.prune import check_realized
    from edgeslim.passes.prune._claims import warnings_of

    run = store.get_run(result.run_id)
    record = next(s.record for s in run.steps if s.kind == "pass")
    result = _sparse(result, store, fmt, force)
    numbers = _artifact_numbers(result)
    checks = check_realized(record["claim"], base, numbers, structured=record["structured"])
    warnings = tuple(warnings_of(checks))
    store.add_step(
        result.run_id,
        "check",
        "realized_gain",
        {
            "method": method.name,
            "sparsity": sparsity,
            "structured": record["structured"],
            "checks": [c.to_dict() for c in checks],
            "warnings": list(warnings),
        },
    )
    claimed = [
        Metric("prune_sparsity", record["claim"]["sparsity"], "1", COMPUTED),
        Metric("prune_target", sparsity, "1", COMPUTED),
    ]
    store.add_metrics(result.run_id, claimed)
    return PrunedRun(
        method.name,
        sparsity,
        _with(result, claimed, {}),
        warnings,
        tuple(c.to_dict() for c in checks),
    )


def run_base(
    base: RunSpec,
    *,
    store: Any,
    out_dir: Path,
    force: bool,
    progress: Progress,
    fmt: str = "auto",
) -> tuple[RunResult, dict[str, float]]:
    """Train or load the reference, export, measure, store; its artifact numbers."""
    result = run_one(base, store=store, out_dir=out_dir, force=force, progress=progress)
    store.add_step(result.run_id, "prune", "reference", {"method": "unpruned", "sparsity": 0.0})
    zero = Metric("prune_sparsity", 0.0, "1", COMPUTED)
    store.add_metrics(result.run_id, [zero])
    result = _with(_sparse(result, store, fmt, force), [zero], {})
    return result, _artifact_numbers(result)


def run_method(
    base: RunSpec,
    checkpoint: str,
    method: Method,
    sparsity: float,
    fine_tune_epochs: int,
    base_numbers: dict[str, float],
    *,
    store: Any,
    out_dir: Path,
    force: bool,
    progress: Progress,
    fmt: str = "auto",
) -> PrunedRun:
    """Prune the reference checkpoint with ``method`` at ``sparsity`` and measure it."""
    params = method.pass_params(sparsity, fine_tune_epochs)
    spec = base.model_copy(
        update={
            "name": f"{base.name}-{method.name}-{round(sparsity * 100)}",
            "model": ModelSection.model_validate({"path": checkpoint}),
            "passes": (PassSection.model_validate({"name": method.pass_name, **params}),),
        }
    )
    result = run_one(spec, store=store, out_dir=out_dir, force=force, progress=progress)
    store.add_step(
        result.run_id,
        "prune",
        method.name,
        {
            "method": method.name,
            "sparsity": sparsity,
            "pass": method.pass_name,
            "params": params,
            "structured": method.structured,
        },
    )
    return _realize(result, method, sparsity, base_numbers, store, fmt, force)


def compare(
    spec: CompareSpec,
    *,
    store: Any,
    out_dir: Path,
    force: bool = False,
    progress: Progress | None = None,
    report: bool = True,
) -> CompareResult:
    """Every method at every sparsity with one fine-tuning budget, measured, stored, reported."""
    progress = progress or NullProgress()
    base, numbers = run_base(
        spec.base,
        store=store,
        out_dir=out_dir,
        force=force,
        progress=progress,
        fmt=spec.sparse_format,
    )
    ckpt = _checkpoint(spec.base, base)
    runs = []
    for method in spec.methods:
        for sparsity in spec.sparsities:
            runs.append(
                run_method(
                    spec.base,
                    ckpt,
                    method,
                    sparsity,
                    spec.fine_tune_epochs,
                    numbers,
                    store=store,
                    out_dir=out_dir,
                    force=force,
                    progress=progress,
                    fmt=spec.sparse_format,
                )
            )
    if not report:
        return CompareResult(base, tuple(runs))
    files = write_reports(
        store,
        base.run_id,
        [r.result.run_id for r in runs],
        out_dir / f"{spec.base.name}-report",
        force=force,
    )
    return CompareResult(base, tuple(runs), files[0], tuple(files))


def write_reports(
    store: Any, base_id: int, run_ids: Sequence[int], folder: Path, *, force: bool
) -> list[Path]:
    """The pruning report (HTML, markdown, PNGs) and the general comparison table report."""
    from edgeslim.report import build_report
    from edgeslim.report.prune import build_prune_report

    paths = build_prune_report(store, base_id, run_ids, folder, force=force)
    table = build_report(
        store, [base_id, *run_ids], folder / "runs.html", force=force, reference=base_id
    )
    return [*paths, Path(table)]


@dataclass(frozen=True)
class SensitivityResult:
    run_id: int
    curves: tuple[Any, ...]
    allocation: dict[str, float]
    files: tuple[Path, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "curves": [c.to_dict() for c in self.curves],
            "allocation": self.allocation,
            "files": [str(p) for p in self.files],
        }


def sensitivity(
    base: RunSpec,
    *,
    kind: str,
    levels: Sequence[float],
    target: float,
    store: Any,
    out_dir: Path,
    force: bool = False,
    progress: Progress | None = None,
) -> SensitivityResult:
    """Accuracy vs sparsity per layer (no fine-tuning) and the allocation reaching ``target``."""
    import torch

    from edgeslim.models.checkpoint import load_checkpoint
    from edgeslim.passes.prune import allocate_from_sensitivity, layer_sensitivity
    from edgeslim.report.prune import build_sensitivity_report

    progress = progress or NullProgress()
    result, _ = run_base(base, store=store, out_dir=out_dir, force=force, progress=progress)
    model = load_checkpoint(_checkpoint(base, result)).model
    dataset = load_data(base)
    ctx = pass_context(base, dataset, progress)
    example = torch.zeros((1, *dataset.spec.input_shape))
    curves = layer_sensitivity(
        copy.deepcopy(model), ctx.evaluate, kind=kind, levels=levels, example=example
    )
    allocation = allocate_from_sensitivity(curves, target)
    store.add_step(
        result.run_id,
        "sensitivity",
        kind,
        {
            "curves": [c.to_dict() for c in curves],
            "target": target,
            "allocation": allocation,
        },
    )
    files = build_sensitivity_report(
        curves, allocation, out_dir / f"{base.name}-sensitivity", force=force
    )
    return SensitivityResult(result.run_id, curves, allocation, tuple(files))
