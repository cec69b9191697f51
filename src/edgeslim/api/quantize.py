"""``quantize``: apply a quantization method to a trained model through the run pipeline, then
add the guarantees of the quantized artifact to the stored run.

The model is a float checkpoint or a float ONNX file (raw inputs). An ONNX model is quantized
directly by the pass's ``quantize_onnx`` (post-training methods only: ptq, ptq-w4, dynamic,
fp16, int4, int2; the others need a trainable model and are refused), written to
``<out>/<run>/model.onnx`` and measured and stored like an imported model.

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
    "int-rnn": ("quantize.int_rnn", {}),
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
    if is_onnx(request.model):
        return _quantize_onnx(request, spec, store, out_dir, force, progress)
    ckpt = load_checkpoint(request.model)  # the float reference (ModelError if not one)
    result = run_one(spec, store=store, out_dir=out_dir, force=force, progress=progress)
    dataset = load_data(spec)
    reference = float_onnx(ckpt.model, dataset)
    metrics, warnings = guarantee_metrics(
        reference, result.artifacts["onnx"], dataset, equalized=_equalized(spec)
    )
    store.add_metrics(result.run_id, metrics)
    return replace(
        result,
        metrics=result.metrics + metrics,
        warnings=result.warnings + tuple(warnings),
    )


def is_onnx(path: Path) -> bool:
    """An ONNX file (by suffix, or by not being a zip archive such as a checkpoint)."""
    import zipfile

    p = Path(path)
    return p.suffix.lower() == ".onnx" or (p.is_file() and not zipfile.is_zipfile(p))


def onnx_methods() -> tuple[str, ...]:
    """The methods that quantize an ONNX model directly (post-training, no training)."""
    from edgeslim.passes import PASSES

    return tuple(
        m for m, (name, _) in METHODS.items() if getattr(PASSES.get(name), "takes_onnx", False)
    )


def _quantize_onnx(
    request: QuantizeRequest,
    spec: RunSpec,
    store: Any,
    out_dir: Path,
    force: bool,
    progress: Progress | None,
) -> RunResult:
    """Quantize a float ONNX file with the pass's ``quantize_onnx``, write the result to
    ``out_dir/<run>/model.onnx``, then measure and store it like any imported model."""
    import onnx

    from edgeslim._core.errors import DataError, ModelError
    from edgeslim._core.io import atomic_write
    from edgeslim.passes import PassContext, create

    if request.method not in onnx_methods():
        raise RecipeError(
            f"method {request.method!r} needs a trainable model (a checkpoint from 'edgeslim "
            f"train'); {request.model} is an ONNX graph. Methods for ONNX models: "
            + ", ".join(onnx_methods())
        )
    path = Path(request.model)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    out = out_dir / spec.name
    if out.exists() and any(out.iterdir()) and not force:
        raise RecipeError(f"output folder {out} already holds results; pass --force to replace")
    dataset = load_data(spec)
    proto = onnx.load(str(path))
    dims = proto.graph.input[0].type.tensor_type.shape.dim[1:]
    if tuple(d.dim_value for d in dims) != tuple(dataset.spec.input_shape):
        raise DataError(
            f"shape mismatch: model {path} takes inputs of shape "
            f"{tuple(d.dim_value for d in dims)} but dataset {dataset.spec.name!r} has samples "
            f"of shape {tuple(dataset.spec.input_shape)}"
        )
    step = spec.passes[0]
    quant_pass: Any = create(step.name, step.params())  # a QuantPass (takes_onnx checked)
    quantized, record = quant_pass.quantize_onnx(proto, PassContext(dataset, spec.seed))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.onnx"
    with atomic_write(target) as tmp:
        onnx.save(quantized, str(tmp))
    raw = spec.model_dump(mode="json", exclude_none=True)
    raw |= {"passes": [], "model": {"path": str(target)}}
    backends = [b for b in raw["measure"].get("backends", []) if b != "torch"]  # no module
    raw["measure"]["backends"] = backends or ["onnxruntime"]
    imported = RunSpec.model_validate(raw)
    result = run_one(imported, store=store, out_dir=out_dir, force=True, progress=progress)
    store.add_step(result.run_id, "pass", step.name, {"source": str(path), **record})
    metrics, warnings = guarantee_metrics(proto, target, dataset, equalized=_equalized(spec))
    store.add_metrics(result.run_id, metrics)
    return replace(
        result, metrics=result.metrics + metrics, warnings=result.warnings + tuple(warnings)
    )


def _as_proto(model: Any) -> Any:
    import onnx

    return model if hasattr(model, "SerializeToString") else onnx.load(str(model))


def _run(proto_or_path: Any, x: np.ndarray) -> np.ndarray:
    """Outputs on onnxruntime, or on edgeslim's interpreter for a model with edgeslim's own
    ops (integer recurrent cells)."""
    import onnxruntime as ort

    proto = _as_proto(proto_or_path)
    if any(n.domain == "edgeslim" for n in proto.graph.node):
        from edgeslim import ir
        from edgeslim.ir import interp

        g = ir.from_onnx(proto)
        name, out = g.inputs[0].name, g.outputs[0].name
        parts = [interp.run(g, {name: x[i : i + 256]})[out] for i in range(0, len(x), 256)]
        return np.concatenate(parts)
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


def _equalized(spec: RunSpec) -> bool:
    return any(bool(p.params().get("equalize")) for p in spec.passes)


def guarantee_metrics(
    reference: Any, quantized_path: Path, dataset: Any, *, equalized: bool = False
) -> tuple[tuple[Metric, ...], list[str]]:
    """Agreement and deviation on the test set, and the certified bound (when the graph's ops
    allow it; otherwise a warning names the op).

    With ``equalized`` (the pass ran cross-layer equalization) the bound pairs the quantized
    weights with the equalized float weights (``equalize`` is deterministic): the equalized
    float model computes the same function in exact arithmetic, and pairing with the original
    weights would charge the rescaling to the quantization error."""
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
        if equalized:
            from edgeslim.passes.quantize._equalize import equalize

            reference = equalize(_as_proto(reference))[0]
        bound = quantization_error_bound(
            ir.from_onnx(quantized_path), ir.from_onnx(reference), lo, hi
        )
        metrics += bound.metrics(c)
        if bound.method == "ranges":
            warnings.append(f"bound from the two models' output ranges only (loose): {bound.note}")
    except UnsupportedOpError as exc:
        warnings.append(f"no certified bound: {exc}")
    return tuple(metrics), warnings


__all__ = [
    "METHODS",
    "QuantizeRequest",
    "guarantee_metrics",
    "is_onnx",
    "onnx_methods",
    "quantize",
]
