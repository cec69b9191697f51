"""Goals of issue 9 on the digits CNN and the basic-motions GRU, through the normal pipeline.

Run: ``python bench/compress_goals.py [--quick] [--out bench/results/compress_goals]``.

Every number comes from a stored run (export -> measure the artifact -> store): test accuracy
is the exported ONNX on onnxruntime; ``param bytes`` is ``param_storage_bytes`` (the bytes the
artifact's initializers take in the file, packed indices counted packed); ``file bytes`` is
``artifact_bytes`` (the whole ONNX file, graph structure included).

1. Storage: a chain prune -> distill (from the dense model) -> cluster (fine-tuned with
   distillation; biases clustered too) must be >= 10x smaller in storage than float with <= 1
   point accuracy loss. CNN: 50% magnitude pruning, 2-bit indices, 20 epochs per stage.
   GRU: 50% of the hidden units removed (structured), 4-bit indices. The chain
   prune -> distill -> QAT (int8) is shown beside it; ``digits-cnn-structured`` (channel
   pruning, 4-bit indices) is an alternative chain (``--models digits-cnn-structured``).
2. Distillation: a student that lost accuracy (magnitude-pruned to 80% one-shot, or low-rank
   factorized at 50% energy, no fine-tuning) is trained for the same epochs with the task loss
   only (``alpha: 0``) and with distillation from the dense model; distillation must recover
   at least half of what the student lost.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from edgeslim import api
from edgeslim.api.compress import add_compress_metrics

MODELS: dict[str, dict[str, Any]] = {
    "digits-cnn": {
        "data": {"name": "digits"},
        "model": {"kind": "cnn", "channels": [8, 16], "kernel": 3},
        "train": {"epochs": 25, "lr": 0.003, "batch_size": 32},
        "ft": 10,
        "chain_ft": 20,
        # unstructured pruning, then 2-bit indices (zero + 3 shared values per layer)
        "prune": {"name": "prune.magnitude", "sparsity": 0.5},
        "cluster": {"name": "compress.cluster", "clusters": 4},
    },
    "digits-cnn-structured": {  # the same CNN, structured pruning then 4-bit indices
        "data": {"name": "digits"},
        "model": {"kind": "cnn", "channels": [8, 16], "kernel": 3},
        "train": {"epochs": 25, "lr": 0.003, "batch_size": 32},
        "ft": 10,
        "prune": {"name": "prune.channel", "sparsity": 0.4},
        "cluster": {"name": "compress.cluster", "clusters": 16},
    },
    "motions-gru": {
        "data": {"name": "basic-motions"},
        "model": {"kind": "gru", "hidden": 32},
        "train": {
            "epochs": 100,
            "lr": 0.01,
            "batch_size": 16,
            "patience": 30,
            "max_grad_norm": 1.0,
            "monitor": "val_metric",
        },
        "ft": 30,
        # half the hidden units removed (gates kept coupled), then 4-bit indices
        "prune": {"name": "prune.channel", "sparsity": 0.5},
        "cluster": {"name": "compress.cluster", "clusters": 16},
    },
}


def _spec(name: str, cfg: dict[str, Any], model: dict[str, Any], passes: list[Any]) -> Any:
    return api.RunSpec.model_validate(
        {
            "name": name,
            "seed": 0,
            "data": cfg["data"],
            "model": model,
            "train": cfg["train"],
            "passes": passes,
            "measure": {"backends": ["onnxruntime"], "threads": [1], "batch": 1, "repeats": 20},
        }
    )


def _run(store: Any, out: Path, spec: Any) -> dict[str, Any]:
    result = add_compress_metrics(api.run_one(spec, store=store, out_dir=out, force=True), store)
    m = {(x.name, x.context): x.value for x in result.metrics}
    return {
        "accuracy": m[("accuracy", "")],
        "param_bytes": m[("param_storage_bytes", "")],
        "file_bytes": m[("artifact_bytes", "")],
        "params": m[("params", "")],
        "macs": m[("macs", "")],
        "latency_s": m.get(("latency_p50", "onnxruntime,t1,b1")),
        "checkpoint": str(result.artifacts.get("checkpoint", "")),
    }


def run_model(
    key: str, cfg: dict[str, Any], store: Any, out: Path, quick: bool, storage_only: bool = False
) -> dict[str, Any]:
    ft = 2 if quick else cfg["ft"]
    if quick:
        cfg = {**cfg, "train": {**cfg["train"], "epochs": 3}}
    rows: dict[str, Any] = {}
    rows["float"] = _run(store, out, _spec(f"{key}-float", cfg, cfg["model"], []))
    ckpt = {"path": rows["float"]["checkpoint"]}
    cft = 2 if quick else cfg.get("chain_ft", ft)
    prune = {**cfg["prune"], "fine_tune_epochs": cft}
    distill = {"name": "compress.distill", "epochs": cft}
    cluster = {**cfg["cluster"], "bias_clusters": 16, "epochs": cft, "distill": True}
    qat = {"name": "quantize.qat", "epochs": max(1, ft // 3)}
    chains = (("chain-cluster", [prune, distill, cluster]), ("chain-qat", [prune, distill, qat]))
    for label, stages in chains:
        chain = [{"name": "compress.chain", "stages": stages}]
        rows[label] = _run(store, out, _spec(f"{key}-{label}", cfg, ckpt, chain))
    if storage_only:
        return rows
    students = {
        "pruned-80%": {"name": "prune.magnitude", "sparsity": 0.8, "fine_tune_epochs": 0},
        "low-rank-50%": {"name": "compress.lowrank", "energy": 0.5, "epochs": 0},
    }
    for label, damage in students.items():
        rows[label] = _run(store, out, _spec(f"{key}-{label.rstrip('%')}", cfg, ckpt, [damage]))
        for how, alpha in (("ce", 0.0), ("kd", 0.7)):
            stage = {"name": "compress.distill", "epochs": ft, "alpha": alpha, "temperature": 4.0}
            chain = [{"name": "compress.chain", "stages": [damage, stage]}]
            rows[f"{label}+{how}"] = _run(
                store, out, _spec(f"{key}-{label.rstrip('%')}-{how}", cfg, ckpt, chain)
            )
    return rows


def tables(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "### Storage: chain vs float (test accuracy of the exported artifact)",
        "",
        "| model | run | accuracy | Δ points | param bytes | x smaller | file bytes "
        "| x smaller | params | MACs | goal (>=10x param bytes, <=1 pt) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, rows in results.items():
        f = rows["float"]
        for label in ("float", "chain-cluster", "chain-qat"):
            r = rows[label]
            d = 100 * (r["accuracy"] - f["accuracy"])
            rp, rf = f["param_bytes"] / r["param_bytes"], f["file_bytes"] / r["file_bytes"]
            ok = "" if label == "float" else ("met" if rp >= 10 and d >= -1 else "missed")
            lines.append(
                f"| {key} | {label} | {r['accuracy']:.4f} | {d:+.1f} | {r['param_bytes']:.0f} | "
                f"{rp:.1f} | {r['file_bytes']:.0f} | {rf:.1f} | {r['params']:.0f} | "
                f"{r['macs']:.0f} | {ok} |"
            )
    lines += [
        "",
        "### Distillation: recovery of what a damaged student lost (same epochs for CE and KD)",
        "",
        "| model | student | float | student | + CE fine-tune | + KD | recovered (CE) "
        "| recovered (KD) | goal (KD >= 0.5) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, rows in results.items():
        f = rows["float"]["accuracy"]
        for label in ("pruned-80%", "low-rank-50%"):
            if label not in rows:
                continue
            s = rows[label]["accuracy"]
            ce, kd = rows[f"{label}+ce"]["accuracy"], rows[f"{label}+kd"]["accuracy"]
            lost = f - s
            rec_ce = (ce - s) / lost if lost > 0 else float("nan")
            rec_kd = (kd - s) / lost if lost > 0 else float("nan")
            ok = "n/a (nothing lost)" if lost <= 0 else ("met" if rec_kd >= 0.5 else "missed")
            lines.append(
                f"| {key} | {label} | {f:.4f} | {s:.4f} | {ce:.4f} | {kd:.4f} | {rec_ce:.2f} | "
                f"{rec_kd:.2f} | {ok} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few epochs (a smoke run)")
    ap.add_argument("--models", default="digits-cnn,motions-gru")
    ap.add_argument("--storage-only", action="store_true", help="only the storage table")
    ap.add_argument("--out", type=Path, default=Path("bench/results/compress_goals"))
    ap.add_argument(
        "--tables-from",
        nargs="*",
        type=Path,
        default=[],
        help="only render the tables from JSON results of earlier runs (e.g. one per model)",
    )
    args = ap.parse_args()
    results: dict[str, Any] = {}
    for path in args.tables_from:
        for key, rows in json.loads(path.read_text(encoding="utf-8")).items():
            results.setdefault(key, {}).update(rows)
    with tempfile.TemporaryDirectory(prefix="edgeslim-bench-") as tmp:
        store = api.open_store(Path(tmp) / "bench.db")
        for key in [] if args.tables_from else args.models.split(","):
            results[key] = run_model(
                key, MODELS[key], store, Path(tmp) / "out", args.quick, args.storage_only
            )
            for r in results[key].values():
                r.pop("checkpoint", None)
    text = tables(results)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(
        "# Issue 9 goals (`python bench/compress_goals.py`)\n\n" + text, encoding="utf-8"
    )
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
