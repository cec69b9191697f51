"""``quantize int-rnn``: export a GRU/LSTM model with integer recurrent cells and measure it.

onnxruntime runs neither integer GRU/LSTM nor edgeslim's custom domain, so the exported model is
run by ``edgeslim.ir.interp`` (the reference that defines the integer cell bit for bit) and
compared with the float model on onnxruntime: ``prediction_agreement``,
``output_max_abs_diff`` and ``output_mean_abs_diff`` (context ``float``), the certified
``output_deviation_bound`` over the training inputs' box (from the output ranges of the two
models: the integer cells have no float counterpart op by op), the task metrics of
the integer model (context ``interp``) and of the float model (context ``float-reference``),
and the artifact's size. Everything goes to the store as one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeslim._core.errors import RecipeError
from edgeslim._core.records import Metric, Provenance
from edgeslim.api.pipeline import RunResult


@dataclass(frozen=True, slots=True)
class IntegerRnnRequest:
    model: Path  # float checkpoint or ONNX model
    data: str
    state_bits: int = 16
    calibrator: str = "percentile"
    calibration_samples: int = 512
    int8_rest: bool = True  # the other layers (classifier head) as int8 QDQ too
    name: str | None = None
    seed: int = 0
    label: str | None = None


def _float_model(request: IntegerRnnRequest, dataset: Any) -> Any:
    import onnx

    from edgeslim.api.quantize import is_onnx

    if is_onnx(request.model):
        return onnx.load(str(request.model))
    from edgeslim.models.checkpoint import load_checkpoint
    from edgeslim.passes.quantize._model import float_onnx

    return float_onnx(load_checkpoint(request.model).model, dataset)


def _interp_outputs(graph: Any, x: np.ndarray) -> np.ndarray:
    from edgeslim.ir import interp

    name = graph.inputs[0].name
    out = graph.outputs[0].name
    parts = [interp.run(graph, {name: x[i : i + 256]})[out] for i in range(0, len(x), 256)]
    return np.concatenate(parts)


def integer_rnn(
    request: IntegerRnnRequest, *, store: Any, out_dir: Path, force: bool = False
) -> RunResult:
    """Write ``out_dir/<name>/model.onnx`` with integer cells; store and return its metrics."""
    import onnx

    from edgeslim import data as data_mod
    from edgeslim import ir
    from edgeslim._core.io import atomic_write, ensure_writable
    from edgeslim.api.quantize import _run
    from edgeslim.measure import storage_metrics, task_metrics
    from edgeslim.measure._bounds import quantization_error_bound
    from edgeslim.passes.quantize._intrnn import integer_recurrent
    from edgeslim.passes.quantize._model import calibration_inputs

    if request.state_bits not in (8, 16):
        raise RecipeError(f"option --state-bits must be 8 or 16; got {request.state_bits}")
    if request.calibrator not in ("minmax", "percentile"):
        raise RecipeError(
            f"option --calibrator must be minmax or percentile; got {request.calibrator!r}"
        )
    name = request.data
    dataset = (
        data_mod.load_user_file(name, label=request.label, seed=request.seed)
        if name.endswith((".npz", ".csv")) or "/" in name
        else data_mod.load_dataset(name, seed=request.seed)
    )
    proto = _float_model(request, dataset)
    x_cal = calibration_inputs(dataset, request.calibration_samples, request.seed)
    quantized, record = integer_recurrent(
        proto,
        x_cal,
        state_bits=request.state_bits,
        calibrator=request.calibrator,
        int8_rest=request.int8_rest,
    )
    stem = (
        Path(request.model).parent.name
        if Path(request.model).stem == "model"
        else Path(request.model).stem
    )
    run_name = request.name or f"{stem}-int-rnn{request.state_bits}"
    target = ensure_writable(out_dir / run_name / "model.onnx", force)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as tmp:
        onnx.save(quantized, str(tmp))
    graph = ir.from_onnx(target)
    ir.verify(graph)
    x = np.asarray(dataset.x_test, np.float32)
    ours, ref = _interp_outputs(graph, x), _run(proto, x)
    dev = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    m = Provenance.MEASURED
    metrics = [
        *task_metrics(dataset.y_test, ours, dataset.spec.task, context="interp"),
        *task_metrics(dataset.y_test, ref, dataset.spec.task, context="float-reference"),
        Metric("output_max_abs_diff", float(dev.max()), "1", m, "float"),
        Metric("output_mean_abs_diff", float(dev.mean()), "1", m, "float"),
        *storage_metrics(target),
    ]
    if ref.ndim == 2 and ref.shape[1] > 1:
        agree = float(np.mean(ours.argmax(1) == ref.argmax(1)))
        metrics.append(Metric("prediction_agreement", agree, "1", m, "float"))
    lo, hi = np.min(dataset.x_train, axis=0), np.max(dataset.x_train, axis=0)
    bound = quantization_error_bound(graph, ir.from_onnx(proto), lo, hi)
    metrics += bound.metrics("float")
    recipe = {
        "name": run_name,
        "data": {"name": request.data},
        "model": {"path": str(request.model)},
        "passes": [
            {
                "name": "quantize.int_rnn",
                "state_bits": request.state_bits,
                "calibrator": request.calibrator,
                "int8_rest": request.int8_rest,
            }
        ],
    }
    run = store.create_run(run_name, recipe=recipe)
    try:
        store.add_step(run.id, "pass", "quantize.int_rnn", record)
        store.add_metrics(run.id, metrics)
        store.add_artifact(run.id, "onnx", target)
    except BaseException:
        store.finish_run(run.id, "failed")
        raise
    store.finish_run(run.id, "finished")
    return RunResult(run_name, run.id, tuple(metrics), run.name, {"onnx": target})


__all__ = ["IntegerRnnRequest", "integer_rnn"]
