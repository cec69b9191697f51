"""``compress``: distillation, low-rank, separable, clustering, sparse training and chains
through the run pipeline (export -> measure the artifact -> store -> report).

Beyond the pipeline's metrics the run gets:

* ``param_storage_bytes`` (``B``, computed): the bytes the artifact's initializers really take
  in the file (packed int4/uint2 data counted packed), i.e. parameter storage without the
  graph's protobuf overhead; ``artifact_bytes`` is the whole file;
* for ``compress.chain``, one set of metrics per stage (context ``stage<i>:<pass>``):
  ``accuracy`` on the validation split (``measured`` on the torch model), ``params`` and
  ``nonzero_weights`` (``computed``) and ``sparsity`` of the weight matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeslim._core.errors import RecipeError
from edgeslim._core.records import Metric, Provenance
from edgeslim.api.pipeline import RunResult, run_one
from edgeslim.api.progress import Progress
from edgeslim.api.recipe import RunSpec

# method -> (pass name, fixed parameters, one line of description)
METHODS: dict[str, tuple[str, dict[str, Any], str]] = {
    "distill": ("compress.distill", {}, "knowledge distillation (logits + hints)"),
    "lowrank": ("compress.lowrank", {}, "truncated SVD of Linear/GRU/LSTM, Tucker-2 of convs"),
    "tucker": ("compress.lowrank", {"conv": "tucker", "linear": False}, "Tucker-2 of convs"),
    "svd": ("compress.lowrank", {"conv": "none"}, "truncated SVD of Linear and RNN inputs"),
    "separable": ("compress.separable", {}, "conv -> depthwise + pointwise"),
    "cluster": ("compress.cluster", {}, "k-means codebooks + packed indices"),
    "rigl": ("compress.rigl", {}, "sparse training with a fixed budget (RigL)"),
    "chain": ("compress.chain", {}, "stages in order, earlier sparsity kept and checked"),
}


@dataclass(frozen=True, slots=True)
class CompressRequest:
    """One compression run. ``model`` is a checkpoint (.pt) or a zoo kind trained first
    (``model_params`` are its zoo parameters); ``stages`` are ``(pass name, params)`` pairs
    for ``method="chain"``."""

    model: str
    data: str
    method: str = "lowrank"
    params: tuple[tuple[str, Any], ...] = ()
    stages: tuple[tuple[str, dict[str, Any]], ...] = ()
    model_params: tuple[tuple[str, Any], ...] = ()
    name: str | None = None
    seed: int = 0
    train: tuple[tuple[str, Any], ...] = ()
    measure: tuple[tuple[str, Any], ...] = ()

    def spec(self) -> RunSpec:
        from edgeslim.models import zoo_names

        if self.method not in METHODS:
            raise RecipeError(
                f"option --method must be one of {', '.join(METHODS)}; got {self.method!r}"
            )
        pass_name, fixed, _ = METHODS[self.method]
        params = {**fixed, **dict(self.params)}
        if self.method == "chain":
            if not self.stages:
                raise RecipeError("a chain needs at least one --stage")
            params["stages"] = [{"name": n, **p} for n, p in self.stages]
        path = Path(self.model)
        if path.suffix in (".pt", ".pth", ".onnx") or path.exists():
            model: dict[str, Any] = {"path": str(path)}
            stem = path.parent.name if path.stem == "model" and path.parent.name else path.stem
        elif self.model in zoo_names():
            model = {"kind": self.model, **dict(self.model_params)}
            stem = self.model
        else:
            raise RecipeError(
                f"model {self.model!r} is neither a file nor a zoo kind ({', '.join(zoo_names())})"
            )
        return RunSpec.model_validate(
            {
                "name": self.name or f"{stem}-{self.method}",
                "seed": self.seed,
                "data": {"name": self.data},
                "model": model,
                "passes": [{"name": pass_name, **params}],
                "train": dict(self.train),
                "measure": dict(self.measure),
            }
        )


def compress(
    request: CompressRequest,
    *,
    store: Any,
    out_dir: Path,
    force: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run the pipeline with the compression pass and store the extra metrics."""
    result = run_one(request.spec(), store=store, out_dir=out_dir, force=force, progress=progress)
    return add_compress_metrics(result, store)


def add_compress_metrics(result: RunResult, store: Any, *, check: bool = True) -> RunResult:
    """Add ``param_storage_bytes``, the per-stage metrics of chains and (``check``) the
    realized-gain check to a stored run."""
    extra = (storage_metric(result.artifacts["onnx"]),)
    store.add_metrics(result.run_id, extra)
    stages: list[Metric] = []
    record: dict[str, Any] = {}
    for step in store.get_run(result.run_id).steps:
        if step.kind == "pass":
            record = step.record
        if step.kind == "pass" and step.name == "compress.chain":
            stages = stage_metrics(step.record)
            store.add_metrics(result.run_id, tuple(stages), step=step.index)
    result = replace(result, metrics=result.metrics + extra + tuple(stages))
    ckpt = result.artifacts.get("checkpoint")
    if not check or not record or ckpt is None:
        return result
    measured = {m.name: float(m.value) for m in result.metrics if m.context == ""}
    checks = realized_gains(record, _base_numbers(Path(ckpt)), measured)
    warnings = tuple(c["message"] for c in checks if not c["ok"])
    store.add_step(
        result.run_id, "check", "realized_gain", {"checks": checks, "warnings": list(warnings)}
    )
    return replace(result, warnings=result.warnings + warnings)


def _base_numbers(checkpoint: Path) -> dict[str, float]:
    """Parameters, MACs and parameter storage of the uncompressed model's artifact."""
    import tempfile

    from edgeslim import ir
    from edgeslim.measure import structure_metrics
    from edgeslim.models import with_normalization
    from edgeslim.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    shape = ckpt.spec.input_shape
    with tempfile.TemporaryDirectory(prefix="edgeslim-base-") as tmp:
        path = Path(tmp) / "base.onnx"
        ir.export_torch(with_normalization(ckpt.model, ckpt.normalization, shape), shape, path)
        numbers = {m.name: float(m.value) for m in structure_metrics(ir.from_onnx(path))}
        numbers["param_storage_bytes"] = float(initializer_bytes(path))
    return numbers


def _claimed(record: dict[str, Any]) -> tuple[dict[str, float], dict[str, float], float]:
    """(counts before, counts after, bytes claimed saved by clustering) of a pass record."""
    claim = record.get("claim") or {}
    if "stages" in record:
        first, last = record["stages"][0]["counts"], record["stages"][-1]["counts"]
        saved = sum(_claimed(s.get("record") or {})[2] for s in record["stages"][1:])
        return first, last, saved
    before = {k[: -len("_before")]: v for k, v in claim.items() if k.endswith("_before")}
    after = {k[: -len("_after")]: v for k, v in claim.items() if k.endswith("_after")}
    saved = float(claim.get("float_weight_bytes", 0)) - float(claim.get("stored_weight_bytes", 0))
    return before, after, saved


def realized_gains(
    record: dict[str, Any],
    base: dict[str, float],
    measured: dict[str, float],
    tolerance: float = 0.1,
) -> list[dict[str, Any]]:
    """Compare the pass's claims (torch counts) with the artifacts: the reduction of ``params``
    and ``macs``, and the bytes clustering claims to save vs ``param_storage_bytes`` saved. A
    realized gain below ``(1 - tolerance)`` of the claim fails with a message."""
    before, after, saved = _claimed(record)
    checks = []
    for metric in ("params", "macs"):
        if not before.get(metric) or metric not in after or not base.get(metric):
            continue
        claimed = 1.0 - float(after[metric]) / float(before[metric])
        if claimed <= 0.05:  # folding batch norms is not a compression claim
            continue
        realized = 1.0 - measured.get(metric, base[metric]) / base[metric]
        checks.append(_check(metric, claimed, realized, tolerance, "reduction"))
    if saved > 0 and base.get("param_storage_bytes"):
        realized_b = base["param_storage_bytes"] - measured.get("param_storage_bytes", 0.0)
        checks.append(_check("param_storage_bytes", saved, realized_b, tolerance, "bytes saved"))
    return checks


def _check(metric: str, claimed: float, realized: float, tol: float, what: str) -> dict[str, Any]:
    ok = realized >= (1.0 - tol) * claimed
    fmt = (lambda v: f"{v:.0f} B") if what == "bytes saved" else (lambda v: f"{100 * v:.1f}%")
    message = f"{metric}: claimed {what} {fmt(claimed)}, the artifact realizes {fmt(realized)}" + (
        "" if ok else " (below the claim)"
    )
    return {
        "metric": metric,
        "claimed": claimed,
        "realized": realized,
        "ok": ok,
        "message": message,
    }


def initializer_bytes(path: Path) -> int:
    """Bytes the initializers of the ONNX file at ``path`` take (raw data as stored)."""
    import onnx

    model = onnx.load(str(path))
    total = 0
    for init in model.graph.initializer:
        if init.raw_data:
            total += len(init.raw_data)
        else:
            total += len(init.SerializeToString())
    return total


def storage_metric(path: Path) -> Metric:
    return Metric("param_storage_bytes", initializer_bytes(path), "B", Provenance.COMPUTED)


def stage_metrics(record: dict[str, Any]) -> list[Metric]:
    out = []
    for stage in record.get("stages", []):
        ctx = f"stage{stage['stage']}:{stage['name']}"
        if stage.get("accuracy") is not None:
            out.append(Metric("accuracy", stage["accuracy"], "1", Provenance.MEASURED, ctx))
        c = stage.get("counts") or {}
        if "params" in c:
            out.append(Metric("params", c["params"], "param", Provenance.COMPUTED, ctx))
        if "weights_nonzero" in c:
            out.append(
                Metric("nonzero_weights", c["weights_nonzero"], "param", Provenance.COMPUTED, ctx)
            )
        out.append(Metric("sparsity", float(stage["sparsity"]), "1", Provenance.COMPUTED, ctx))
    return out


def methods() -> list[dict[str, str]]:
    """The methods of ``edgeslim compress apply`` with their passes."""
    return [
        {"method": m, "pass": p, "fixed": str(f or ""), "what": d}
        for m, (p, f, d) in METHODS.items()
    ]


__all__ = [
    "METHODS",
    "CompressRequest",
    "add_compress_metrics",
    "compress",
    "initializer_bytes",
    "methods",
    "realized_gains",
    "stage_metrics",
]
