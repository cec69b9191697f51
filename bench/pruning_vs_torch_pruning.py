"""Structured pruning: edgeslim against Torch-Pruning 1.6.1, in one run, on the same models.

For a trained CNN and a tiny ResNet on the 8x8 digits, both tools cut channels to the same MACs
reduction (2x and 4x, counted by one counter), with the same importance (L2 norm of each
coupled group, the same ratio for every group) and then get the same fine-tuning budget
(``edgeslim.models.train.fit`` with the same settings). A third row per target keeps edgeslim's
channel counts multiples of 4 (``round_to``), which onnxruntime's kernels run faster. Each
result is exported to ONNX and measured on the artifact: test accuracy on onnxruntime,
parameters and MACs of the graph, and batch-1 latency p50 on onnxruntime with one thread,
timed in interleaved rounds so that the ratios hold on a noisy machine. Then edgeslim prunes
the 2-layer GRU, the 2-layer LSTM and the 2-layer bidirectional LSTM that Torch-Pruning cannot
(each is tried with it too and its outcome recorded), on basic-motions, and checks that each
export computes what the pruned torch model computes.

Torch-Pruning is only needed here (``pip install torch-pruning==1.6.1`` into the venv); it is
never a dependency of edgeslim. Usage::

    .venv/bin/python bench/pruning_vs_torch_pruning.py --quick
    .venv/bin/python bench/pruning_vs_torch_pruning.py --out bench/results/pruning.md

Writes a markdown table to ``--out`` and the rows as JSON beside it (``.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import platform
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeslim.backends import get_backend
from edgeslim.data import Dataset, load_dataset
from edgeslim.ir import export_torch, from_onnx
from edgeslim.measure import structure_metrics, time_calls
from edgeslim.models import build_model, config_from_dict, with_normalization
from edgeslim.models.train import TrainConfig, fit
from edgeslim.passes import PassContext, apply
from edgeslim.passes.prune._stats import count_macs

CNNS = (("cnn", {"channels": [16, 32]}), ("resnet", {"stem": 16, "blocks": [16, 32]}))
RNNS = (
    ("gru 2 layers", "gru", {"hidden": 32, "layers": 2}),
    ("lstm 2 layers", "lstm", {"hidden": 32, "layers": 2}),
    ("lstm 2 layers bidirectional", "lstm", {"hidden": 32, "layers": 2, "bidirectional": True}),
)


@dataclass
class Row:
    model: str
    tool: str
    target: str
    accuracy: float
    params: int
    macs: int
    macs_reduction: float
    latency_p50_s: float = float("nan")
    export_max_abs_diff: float = float("nan")
    note: str = ""


def _train(kind: str, params: dict[str, Any], data: Dataset, epochs: int) -> Any:
    torch.manual_seed(0)
    model = build_model(config_from_dict({"kind": kind, **params}), data.spec)
    fit(model, data, TrainConfig(epochs=epochs, patience=0, seed=0))
    return model


def _fine_tune(model: Any, data: Dataset, epochs: int) -> Any:
    if epochs > 0:
        fit(model, data, TrainConfig(epochs=epochs, patience=0, seed=1))
    return model.eval()


def _example(data: Dataset) -> torch.Tensor:
    return torch.zeros((1, *data.spec.input_shape))


def edgeslim_prune(
    model: Any, data: Dataset, reduction: float, epochs: int, round_to: int = 1
) -> Any:
    """prune.channel: L2 importance, the same ratio per group, cut to a MACs target."""
    ctx = PassContext(data, 0, extras={"input_shape": data.spec.input_shape})
    params = {
        "sparsity": 1.0 - 1.0 / reduction,
        "target": "macs",
        "importance": "l2",
        "round_to": round_to,
    }
    return _fine_tune(apply("prune.channel", model, params, ctx).model, data, epochs)


def edgeslim_aligned(model: Any, data: Dataset, reduction: float, epochs: int) -> Any:
    """The same, with kept channels a multiple of 4 (onnxruntime's kernels like that)."""
    return edgeslim_prune(model, data, reduction, epochs, round_to=4)


def _tp_once(model: Any, example: torch.Tensor, ratio: float) -> Any:
    import torch_pruning as tp

    pruned = copy.deepcopy(model)
    head = [m for m in pruned.modules() if isinstance(m, torch.nn.Linear)][-1]
    pruner = tp.pruner.MetaPruner(
        pruned,
        example,
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=ratio,
        ignored_layers=[head],
    )
    pruner.step()
    return pruned


def tp_prune(model: Any, data: Dataset, reduction: float, epochs: int) -> Any:
    """Torch-Pruning MetaPruner, group L2, one ratio for all layers, bisected to the target."""
    example = _example(data)
    base = count_macs(model, example)
    lo, hi, best = 0.0, 0.95, None
    for _ in range(14):
        mid = (lo + hi) / 2
        pruned = _tp_once(model, example, mid)
        if base / count_macs(pruned, example) >= reduction:
            hi, best = mid, pruned
        else:
            lo = mid
    assert best is not None
    return _fine_tune(best, data, epochs)


def _export(model: Any, data: Dataset, folder: Path, name: str) -> Path:
    wrapped = with_normalization(model.eval(), data.normalization, data.spec.input_shape)
    return export_torch(wrapped, data.spec.input_shape, folder / f"{name}.onnx", force=True)


def _ort(path: Path) -> Any:
    return get_backend("onnxruntime", threads=1).load(path)


def measure(model: Any, data: Dataset, path: Path) -> dict[str, float]:
    """Accuracy of the artifact on onnxruntime, its params and MACs, torch vs ORT difference."""
    with contextlib.closing(_ort(path)) as runner:
        out = np.concatenate(
            [runner.run(data.x_test[i : i + 256]) for i in range(0, len(data.x_test), 256)]
        )
    wrapped = with_normalization(model.eval(), data.normalization, data.spec.input_shape)
    with torch.no_grad():
        want = wrapped(torch.from_numpy(data.x_test)).numpy()
    s = {m.name: m.value for m in structure_metrics(from_onnx(path))}
    return {
        "accuracy": float((out.argmax(1) == data.y_test).mean()),
        "params": int(s["params"]),
        "macs": int(s["macs"]),
        "diff": float(np.abs(out - want).max()),
    }


def latencies(paths: list[Path], sample: np.ndarray, repeats: int, rounds: int = 5) -> list[float]:
    """Median over interleaved rounds of each artifact's median batch-1 latency."""
    runners = [_ort(p) for p in paths]
    per: list[list[float]] = [[] for _ in paths]
    try:
        for _ in range(rounds):
            for i, r in enumerate(runners):
                times = time_calls(r, sample, warmup=20, repeats=max(5, repeats // rounds))
                per[i].append(float(np.median(times)))
    finally:
        for r in runners:
            r.close()
    return [float(np.median(p)) for p in per]


def cnn_rows(args: argparse.Namespace, folder: Path) -> list[Row]:
    data = load_dataset("digits", seed=0)
    rows: list[Row] = []
    tools: tuple[tuple[str, Callable[..., Any]], ...] = (
        ("edgeslim", edgeslim_prune),
        ("Torch-Pruning 1.6.1", tp_prune),
        ("edgeslim round_to=4", edgeslim_aligned),
    )
    for kind, params in CNNS:
        base = _train(kind, params, data, args.epochs)
        models = [("unpruned", "1x", base)]
        for reduction in (2.0, 4.0):
            for tool, prune in tools:
                models.append(
                    (tool, f"{reduction:g}x MACs", prune(base, data, reduction, args.fine_tune))
                )
        paths = [_export(m, data, folder, f"{kind}-{i}") for i, (_, _, m) in enumerate(models)]
        lat = latencies(paths, data.x_test[:1], args.repeats)
        base_macs = None
        for (tool, target, m), path, t in zip(models, paths, lat, strict=True):
            r = measure(m, data, path)
            base_macs = base_macs or r["macs"]
            rows.append(
                Row(
                    kind,
                    tool,
                    target,
                    r["accuracy"],
                    r["params"],
                    r["macs"],
                    base_macs / r["macs"],
                    t,
                    r["diff"],
                )
            )
    return rows


def _tp_rnn_outcome(model: Any, example: torch.Tensor) -> str:
    """What Torch-Pruning does with the recurrent model (the anchors' finding, re-checked)."""
    before = sum(p.numel() for p in model.parameters())
    try:
        pruned = _tp_once(model, example, 0.5)
        pruned(example)
    except Exception as exc:
        return f"Torch-Pruning: {type(exc).__name__}"
    after = sum(p.numel() for p in pruned.parameters())
    return "Torch-Pruning: prunes nothing" if after == before else f"Torch-Pruning: {after} params"


def rnn_rows(args: argparse.Namespace, folder: Path) -> list[Row]:
    data = load_dataset("basic-motions", seed=0)
    rows = []
    for label, kind, params in RNNS:
        base = _train(kind, params, data, args.rnn_epochs)
        note = _tp_rnn_outcome(base, _example(data))
        pruned = edgeslim_prune(base, data, 2.0, args.fine_tune)
        b_path = _export(base, data, folder, f"{kind}-base")
        p_path = _export(pruned, data, folder, f"{kind}-pruned")
        lat = latencies([b_path, p_path], data.x_test[:1], args.repeats)
        b, p = measure(base, data, b_path), measure(pruned, data, p_path)
        rows.append(
            Row(
                label,
                "unpruned",
                "1x",
                b["accuracy"],
                b["params"],
                b["macs"],
                1.0,
                lat[0],
                b["diff"],
                note,
            )
        )
        rows.append(
            Row(
                label,
                "edgeslim",
                "2x MACs",
                p["accuracy"],
                p["params"],
                p["macs"],
                b["macs"] / p["macs"],
                lat[1],
                p["diff"],
                note,
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| model | tool | target | accuracy | params | MACs | MACs reduction | ORT p50 "
        "(us) | export max abs diff | note |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.tool} | {r.target} | {r.accuracy:.4f} | {r.params:,} | "
            f"{r.macs:,} | {r.macs_reduction:.2f}x | {r.latency_p50_s * 1e6:.1f} | "
            f"{r.export_max_abs_diff:.1e} | {r.note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--epochs", type=int, default=30, help="training epochs of the CNNs")
    p.add_argument("--rnn-epochs", type=int, default=60, help="training epochs of the RNNs")
    p.add_argument("--fine-tune", type=int, default=10, help="fine-tuning epochs, both tools")
    p.add_argument("--repeats", type=int, default=500, help="timed calls per latency")
    p.add_argument("--quick", action="store_true", help="few epochs and repeats (smoke run)")
    p.add_argument("--out", type=Path, default=Path("bench/results/pruning_vs_torch_pruning.md"))
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.rnn_epochs, args.fine_tune, args.repeats = 3, 3, 1, 50
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="edgeslim-bench-") as tmp:
        rows = cnn_rows(args, Path(tmp)) + rnn_rows(args, Path(tmp))
    header = (
        f"# edgeslim vs Torch-Pruning 1.6.1 ({platform.machine()}, torch "
        f"{torch.__version__}, onnxruntime 1 thread; epochs {args.epochs}, fine-tune "
        f"{args.fine_tune})\n\n"
    )
    text = header + table(rows) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    print(text)


if __name__ == "__main__":
    main()
