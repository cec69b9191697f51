"""``quantize``: apply a quantization method to a trained model through the run pipeline, then
add the guarantees of the quantized artifact to the stored run.

Guarantee metrics (context ``float``): ``prediction_agreement`` of the quantized artifact with
the float model, ``output_max_abs_diff`` and ``output_mean_abs_diff`` on the test set (both run
on onnxruntime, ``measured``), and ``output_deviation_bound``, a certified worst-case bound over
the box of training inputs (``bound``; see :func:`edgeslim.measure.quantization_error_bound`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeslim._core.errors import RecipeError, UnsupportedOpError
from edgeslim._core.records import Metric, Provenance
from edgeslim.api.pipeline import RunResult, load_data, run_one
from edgeslim.api.progress import Progress
from edgeslim.api.recipe import RunSpec

log = logging.getLogger(__name__)

# method -> (pass name, fixed pass parameters)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "ptq": ("quantize.ptq", {}),
    "ptq-w4": ("quantize.ptq", {"weight_bits": 4}),
    "dynamic": ("quantize.dynamic", {}),
    "fp16": ("quantize.fp16", {}),
    "int4": ("quantize.weight_only", {"bits": 4}),
    "int2": ("quantize.weight_only", {"bits": 2}),
    "qat": ("quantize.qat", {}),
    "binary": ("quantize.binarize", {}),
    "mixed": ("quantize.mixed", {}),
}


@dataclass(frozen=True, slots=True)
class QuantizeRequest:
    """One quantization run; ``params`` are the pass's parameters (see ``edgeslim.passes``)."""

    model: Path
    data: str
    method: str = "ptq"
    params: tuple[tuple[str, Any], ...] = ()
    name: str | None = None
    seed: int = 0
    label: str | None = None
    train: tuple[tuple[str, Any], ...] = ()  # TrainSection overrides (fine-tuning of QAT)
    measure: tuple[tuple[str, Any], ...] = ()  # MeasureSection overrides

    def spec(self) -> RunSpec:
        if self.method not in METHODS:
            raise RecipeError(
                f"option --method must be one of {', '.join(METHODS)}; got {self.method!r}"
            )
        pass_name, fixed = METHODS[self.method]
        path = Path(self.model)
        stem = path.parent.name if path.stem == "model" and path.parent.name else path.stem
        name = self.name or f"{stem}-{self.method}"
        return RunSpec.model_validate(
            {
                "name": name,
                "seed": self.seed,
                "data": {"name": self.data, "label": self.label},
                "model": {"path": str(self.model)},
                "passes": [{"name": pass_name, **fixed, **dict(self.params)}],
                "train": dict(self.train),
                "measure": dict(self.measure),
            }
        )


def quantize(
    request: QuantizeRequest,
    *,
    store: Any,
    out_dir: Path,
    force: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Run the pipeline with the quantization pass; store and return its metrics plus the
    guarantees of the quantized artifact against the float checkpoint."""
    from edgeslim.models.checkpoint import load_checkpoint
    from edgeslim.passes.quantize._model import float_onnx

    spec = request.spec()
    ckpt = load_checkpoint(request.model)  # the float reference (ModelError if not one)
    result = run_one(spec, store=store, out_dir=out_dir, force=force, progress=progress)
    dataset = load_data(spec)
    reference = float_onnx(ckpt.model, dataset)
    metrics, warnings = guarantee_metrics(reference, result.artifacts["onnx"], dataset)
    store.add_metrics(result.run_id, metrics)
    return replace(
        result,
        metrics=result.metrics + metrics,
        warnings=result.warnings + tuple(warnings),
    )


def _run(proto_or_path: Any, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    src = (
        proto_or_path.SerializeToString()
        if hasattr(proto_or_path, "SerializeToString")
        else (str(proto_or_path))
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate(
        [sess.run(None, {name: x[i : i + 256]})[0] for i in range(0, len(x), 256)]
    )


def guarantee_metrics(
    reference: Any, quantized_path: Path, dataset: Any
) -> tuple[tuple[Metric, ...], list[str]]:
    """Agreement and deviation on the test set, and the certified bound (when the graph's ops
    allow it; otherwise a warning names the op)."""
    from edgeslim import ir
    from edgeslim.measure._bounds import quantization_error_bound

    x = np.asarray(dataset.x_test, np.float32)
    ref, out = _run(reference, x), _run(quantized_path, x)
    dev = np.abs(ref.astype(np.float64) - out.astype(np.float64))
    m, c = Provenance.MEASURED, "float"
    metrics = [
        Metric("output_max_abs_diff", float(dev.max()), "1", m, c),
        Metric("output_mean_abs_diff", float(dev.mean()), "1", m, c),
    ]
    if ref.ndim == 2 and ref.shape[1] > 1:
        agree = float(np.mean(ref.argmax(1) == out.argmax(1)))
        metrics.append(Metric("prediction_agreement", agree, "1", m, c))
    warnings: list[str] = []
    lo, hi = np.min(dataset.x_train, axis=0), np.max(dataset.x_train, axis=0)
    try:
        bound = quantization_error_bound(
            ir.from_onnx(quantized_path), ir.from_onnx(reference), lo, hi
        )
        metrics += bound.metrics(c)
    except UnsupportedOpError as exc:
        warnings.append(f"no certified bound: {exc}")
    return tuple(metrics), warnings


__all__ = ["METHODS", "QuantizeRequest", "guarantee_metrics", "quantize"]
