"""Quantization anchors: edgeslim PTQ vs onnxruntime ``quantize_static`` vs torch's built-in
(FX, x86 engine) quantization, on the same trained float model and the same calibration data.

For each model (digits CNN, DS-CNN and MLP, basic-motions GRU and LSTM; trained here with
fixed seeds) this reports test accuracy, prediction agreement with the float model, the size of
the artifact (ONNX file, or ``torch.save`` of the quantized state for torch) and batch-1 latency
p50 and batch-256 time on one thread, all **measured** in this process one after the other.
Absolute times do not travel between machines; ratios within one run do.

QAT W4A8 rows (CNN, GRU) and binarized-MLP rows show the issue's goals in the same table.
Three more tables (no anchor exists for them): per-tensor PTQ with and without cross-layer
equalization and bias correction (also on a copy of the CNNs with unbalanced channels, the case
CLE is for); integer GRU/LSTM cells (run on ``edgeslim.ir.interp``, onnxruntime has no integer
recurrent cell) against the float model; and the certified deviation bound, interval rules vs
the combined interval/affine bound, next to the largest deviation found by sampling.

Usage::

    .venv/bin/python bench/quant_vs_anchors.py --quick
    .venv/bin/python bench/quant_vs_anchors.py --out quant_vs_anchors.md

Writes a markdown table to ``--out`` (and the rows as JSON beside it) when given.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from edgeslim import data
from edgeslim._core.seeding import seed_everything
from edgeslim.backends import get_backend
from edgeslim.measure import time_calls
from edgeslim.models import build_model, config_from_dict, with_normalization
from edgeslim.models.train import TrainConfig, fit
from edgeslim.passes import PassContext, create
from edgeslim.passes.quantize._model import batches, calibration_inputs, float_onnx

# (dataset, model config, training settings); basic-motions has 34 training series, so its GRU
# trains longer and keeps the epoch with the best validation accuracy
MODELS: tuple[tuple[str, dict[str, Any], dict[str, Any]], ...] = (
    ("digits", {"kind": "cnn"}, {"epochs": 15}),
    ("digits", {"kind": "dscnn"}, {"epochs": 15}),
    ("digits", {"kind": "mlp"}, {"epochs": 15}),
    ("basic-motions", {"kind": "gru"}, {"epochs": 150, "patience": 40, "monitor": "val_metric"}),
    ("basic-motions", {"kind": "lstm"}, {"epochs": 150, "patience": 40, "monitor": "val_metric"}),
)
EXTRA: list[dict[str, Any]] = []  # rows of the CLE / integer RNN / bound tables


@dataclass(frozen=True)
class Row:
    data: str
    model: str
    method: str
    accuracy: float
    agreement: float
    artifact_bytes: int
    p50_b1_s: float
    time_b256_s: float


class _Torch:
    def __init__(self, module: Any) -> None:
        self.module = module

    def run(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.module(torch.as_tensor(x)).numpy()


def _timing(runner: Any, x: np.ndarray, repeats: int) -> tuple[float, float]:
    one = float(np.median(time_calls(runner, x[:1], warmup=5, repeats=repeats)))
    many = np.ascontiguousarray(np.take(x, np.arange(256) % len(x), axis=0))
    return one, float(np.median(time_calls(runner, many, warmup=2, repeats=max(5, repeats // 10))))


def _onnx_row(
    name: str, proto: onnx.ModelProto, ds: Any, ref: np.ndarray, key: tuple, rep: int
) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        onnx.save(proto, str(path))
        size = path.stat().st_size
        with contextlib.closing(get_backend("onnxruntime", threads=1).load(path)) as runner:
            y = runner.run(np.asarray(ds.x_test, np.float32))
            p50, t256 = _timing(runner, np.asarray(ds.x_test, np.float32), rep)
    return _row(key, name, y, ds, ref, size, p50, t256)


def _row(
    key: tuple, name: str, y: np.ndarray, ds: Any, ref: np.ndarray, size: int, p50: float, t: float
) -> Row:
    acc = float(np.mean(y.argmax(1) == ds.y_test))
    agree = float(np.mean(y.argmax(1) == ref.argmax(1)))
    return Row(key[0], key[1], name, acc, agree, size, p50, t)


def _ort_static(proto: onnx.ModelProto, x_calib: np.ndarray) -> onnx.ModelProto:
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter([{"input": b} for b in batches(x_calib)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "f.onnx", Path(tmp) / "q.onnx"
        onnx.save(proto, str(src))
        logging.getLogger().setLevel(logging.ERROR)
        quantize_static(str(src), str(dst), Reader())  # defaults
        return onnx.load(str(dst))


def _torch_fx(
    module: Any, ds: Any, x_calib: np.ndarray, ref: np.ndarray, key: tuple, rep: int
) -> Row | None:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    wrapped = with_normalization(module, ds.normalization, ds.spec.input_shape)
    example = torch.as_tensor(x_calib[:4])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prepared = prepare_fx(wrapped, get_default_qconfig_mapping("x86"), (example,))
            with torch.no_grad():
                for b in batches(x_calib):
                    prepared(torch.as_tensor(b))
            qm = convert_fx(prepared).eval()
            buf = io.BytesIO()
            torch.save(qm.state_dict(), buf)
            runner = _Torch(qm)
            x = np.asarray(ds.x_test, np.float32)
            y = runner.run(x)
            p50, t256 = _timing(runner, x, rep)
    except Exception as exc:  # an anchor that cannot run is reported, not fatal
        logging.getLogger(__name__).warning("torch FX quantization failed on %s: %s", key, exc)
        return None
    return _row(key, "torch FX x86 (defaults)", y, ds, ref, len(buf.getvalue()), p50, t256)


def bench_model(
    dataset: str, cfg: dict[str, Any], train: dict[str, Any], repeats: int
) -> list[Row]:
    torch.set_num_threads(1)
    seed_everything(0)
    ds = data.load_dataset(dataset, seed=0)
    module = build_model(config_from_dict(cfg), ds.spec)
    fit(module, ds, TrainConfig(seed=0, **train))
    module.eval()
    key = (dataset, cfg["kind"])
    proto = float_onnx(module, ds)
    x_calib = calibration_inputs(ds, 512, 0)  # the same calibration inputs for every method
    ref = _Torch(with_normalization(module, ds.normalization, ds.spec.input_shape)).run(
        np.asarray(ds.x_test, np.float32)
    )
    rows = [_onnx_row("float (onnxruntime)", proto, ds, ref, key, repeats)]
    ctx = PassContext(ds, seed=0)
    for label, params in (
        ("edgeslim PTQ minmax per-channel", {}),
        ("edgeslim PTQ MSE per-channel", {"calibrator": "mse"}),
        ("edgeslim PTQ entropy per-tensor", {"calibrator": "entropy", "per_channel": False}),
    ):
        q = create("quantize.ptq", params).apply(module, ctx).model.proto
        rows.append(_onnx_row(label, q, ds, ref, key, repeats))
    rows.append(
        _onnx_row(
            "onnxruntime quantize_static (defaults)",
            _ort_static(proto, x_calib),
            ds,
            ref,
            key,
            repeats,
        )
    )
    torch_row = _torch_fx(module, ds, x_calib, ref, key, repeats)
    if torch_row is not None:
        rows.append(torch_row)
    tctx = _train_context(dataset, cfg, train, ds)
    if cfg["kind"] in ("cnn", "gru"):  # the W4A8 goal: within 1 point of float
        res = create("quantize.qat", {"weight_bits": 4, "epochs": 3}).apply(module, tctx)
        rows.append(
            _onnx_row("edgeslim QAT W4A8 (3 epochs)", res.model.proto, ds, ref, key, repeats)
        )
    if cfg["kind"] == "mlp":  # the binarized-MLP goal: above 90% on digits
        for mode in ("binary", "ternary"):
            res = create("quantize.binarize", {"mode": mode, "epochs": 25}).apply(module, tctx)
            label = f"edgeslim {mode} weights + binary activations (25 epochs)"
            rows.append(_onnx_row(label, res.model.proto, ds, ref, key, repeats))
    if cfg["kind"] in ("gru", "lstm"):
        EXTRA.extend(_rnn_rows(key, proto, ds, x_calib))
    else:
        EXTRA.extend(_cle_rows(key, proto, ds, x_calib))
    EXTRA.extend(_bound_rows(key, proto, ds, x_calib))
    return rows


def _train_context(
    dataset: str, cfg: dict[str, Any], train: dict[str, Any], ds: Any
) -> PassContext:
    """The context a recipe run gives its passes (fine-tuning with these training settings)."""
    from edgeslim.api.pipeline import pass_context
    from edgeslim.api.recipe import RunSpec

    spec = RunSpec.model_validate(
        {"name": "bench", "data": {"name": dataset}, "model": cfg, "train": train}
    )
    return pass_context(spec, ds, None)


def _quality(q: onnx.ModelProto, ds: Any, yf: np.ndarray) -> dict[str, float]:
    from edgeslim.passes.quantize._static import _to_opset21

    y = _onnx_run(_to_opset21(q), np.asarray(ds.x_test, np.float32))
    return {
        "accuracy": float(np.mean(y.argmax(1) == ds.y_test)),
        "agreement": float(np.mean(y.argmax(1) == yf.argmax(1))),
        "mean_abs_dev": float(np.abs(y - yf).mean()),
        "max_abs_dev": float(np.abs(y - yf).max()),
    }


def _onnx_run(proto: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0])


def _unbalanced(proto: onnx.ModelProto, factor: float = 30.0) -> onnx.ModelProto | None:
    """The same function with every other channel of the first conv scaled by ``factor``
    (and the next conv's inputs by ``1/factor``), as BN folding can leave a model."""
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(proto)
    inits = {i.name: i for i in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    if len(convs) < 2:
        return None
    a, b = convs[:2]
    wa, ba, wb = (
        numpy_helper.to_array(inits[t]).astype(np.float64) for t in (*a.input[1:3], b.input[1])
    )
    k = np.ones(wa.shape[0])
    k[::2] = factor
    wa, ba = wa * k.reshape(-1, *([1] * (wa.ndim - 1))), ba * k
    shape = (-1, 1) if wb.shape[1] == 1 else (1, -1)
    wb = wb / k.reshape(*shape, *([1] * (wb.ndim - 2)))
    for name, v in ((a.input[1], wa), (a.input[2], ba), (b.input[1], wb)):
        inits[name].CopyFrom(numpy_helper.from_array(v.astype(np.float32), name))
    return m


def _cle_rows(
    key: tuple, proto: onnx.ModelProto, ds: Any, x_calib: np.ndarray
) -> list[dict[str, Any]]:
    from edgeslim.passes.quantize import StaticConfig, static_quantize

    rows = []
    models = [("trained", proto), ("unbalanced x30", _unbalanced(proto))]
    for variant, f in models:
        if f is None:
            continue
        yf = _onnx_run(f, np.asarray(ds.x_test, np.float32))
        for wd in ("int8", "int4"):
            for eq, bc in ((False, False), (False, True), (True, False), (True, True)):
                cfg = StaticConfig(
                    per_channel=False, weight_dtype=wd, equalize=eq, bias_correction=bc
                )
                q, _ = static_quantize(f, x_calib, cfg)
                method = "+".join(["CLE"] * eq + ["bias corr"] * bc) or "plain"
                rows.append(
                    {
                        "table": "cle",
                        "data": key[0],
                        "model": key[1],
                        "float": variant,
                        "weights": f"{wd} per-tensor",
                        "method": method,
                        **_quality(q, ds, yf),
                    }
                )
    return rows


def _rnn_rows(
    key: tuple, proto: onnx.ModelProto, ds: Any, x_calib: np.ndarray
) -> list[dict[str, Any]]:
    from edgeslim import ir
    from edgeslim.ir import interp
    from edgeslim.passes.quantize._intrnn import integer_recurrent

    x = np.asarray(ds.x_test, np.float32)
    yf = _onnx_run(proto, x)
    rows = []
    variants = [(16, "percentile", False), (8, "percentile", False), (16, "minmax", False)]
    variants += [(16, "percentile", True), (8, "percentile", True)]
    for bits, calibrator, rest in variants:
        q, _ = integer_recurrent(
            proto, x_calib, state_bits=bits, calibrator=calibrator, int8_rest=rest
        )
        y = interp.run(ir.from_onnx(q), {"input": x})["output"]
        rows.append(
            {
                "table": "rnn",
                "data": key[0],
                "model": key[1],
                "state": f"int{bits}",
                "calibrator": calibrator,
                "head": "int8" if rest else "float",
                "float accuracy": float(np.mean(yf.argmax(1) == ds.y_test)),
                "accuracy": float(np.mean(y.argmax(1) == ds.y_test)),
                "agreement": float(np.mean(y.argmax(1) == yf.argmax(1))),
                "max_abs_dev": float(np.abs(y - yf).max()),
                "mean_abs_dev": float(np.abs(y - yf).mean()),
            }
        )
    return rows


def _bound_rows(
    key: tuple, proto: onnx.ModelProto, ds: Any, x_calib: np.ndarray
) -> list[dict[str, Any]]:
    from edgeslim import ir
    from edgeslim.api.quantize import _run
    from edgeslim.measure._bounds import quantization_error_bound
    from edgeslim.passes.quantize import StaticConfig, static_quantize
    from edgeslim.passes.quantize._intrnn import integer_recurrent
    from edgeslim.passes.quantize._simple import dynamic_quantize
    from edgeslim.passes.quantize._weights import quantize_weights, to_float16

    rows = []
    rng = np.random.default_rng(0)
    models = [
        ("PTQ int8 per-channel", static_quantize(proto, x_calib, StaticConfig())[0]),
        ("dynamic int8", dynamic_quantize(proto, True, False)),
        ("float16 weights", to_float16(proto)[0]),
        ("weight-only int4", quantize_weights(proto, "int4")[0]),
    ]
    if key[1] in ("gru", "lstm"):
        models.append(("integer cells, int16 state", integer_recurrent(proto, x_calib)[0]))
    for label, q in models:
        gq, gf = ir.from_onnx(q), ir.from_onnx(proto)
        boxes = [("training box", ds.x_train.min(0), ds.x_train.max(0))]
        x0 = ds.x_test[0]
        boxes.append(("test[0] +- 0.05", x0 - 0.05, x0 + 0.05))
        boxes.append(("test[0] +- 0.005", x0 - 0.005, x0 + 0.005))
        for box, lo, hi in boxes:
            xs = rng.uniform(lo, hi, size=(512, *lo.shape)).astype(np.float32)
            sampled = float(np.abs(_run(q, xs) - _run(proto, xs)).max())
            found = {
                m: quantization_error_bound(gq, gf, lo, hi, method=m) for m in ("interval", "best")
            }
            rows.append(
                {
                    "table": "bound",
                    "data": key[0],
                    "model": key[1],
                    "quantization": label,
                    "box": box,
                    "sampled max |dev|": sampled,
                    "interval bound": found["interval"].max,
                    "interval+affine bound": found["best"].max,
                    "how": found["best"].method,
                }
            )
    return rows


def extra_markdown(rows: list[dict[str, Any]]) -> str:
    out = []
    for table, title in (
        ("cle", "Per-tensor PTQ: cross-layer equalization and bias correction"),
        ("rnn", "Integer GRU/LSTM cells vs the float model"),
        ("bound", "Certified output deviation bound"),
    ):
        part = [r for r in rows if r["table"] == table]
        if not part:
            continue
        cols = [c for c in part[0] if c != "table"]
        out += ["", f"### {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in part:
            out.append(
                "| "
                + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols)
                + " |"
            )
    return "\n".join(out)


def markdown(rows: list[Row]) -> str:
    head = (
        "| data | model | method | accuracy | agree w/ float | artifact bytes "
        "| p50 b1 (us) | b256 (ms) |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r.data} | {r.model} | {r.method} | {r.accuracy:.4f} | {r.agreement:.4f} | "
            f"{r.artifact_bytes} | {r.p50_b1_s * 1e6:.1f} | {r.time_b256_s * 1e3:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed repeats")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write")
    parser.add_argument("--models", default="", help="comma-separated kinds (default: all)")
    args = parser.parse_args(argv)
    repeats = 30 if args.quick else 200
    kinds = {k for k in args.models.split(",") if k}
    models = [m for m in MODELS if not kinds or m[1]["kind"] in kinds]
    rows = [r for d, cfg, train in models for r in bench_model(d, cfg, train, repeats)]
    text = markdown(rows) + "\n" + extra_markdown(EXTRA)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
        dump = {"anchors": [asdict(r) for r in rows], "extra": EXTRA}
        args.out.with_suffix(".json").write_text(json.dumps(dump, indent=2))


if __name__ == "__main__":
    main()
