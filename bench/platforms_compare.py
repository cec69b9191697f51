"""Issue 10: the same models on CPU, GPU, MCU and FPGA, measured the same way, in one run.

Run: ``python bench/platforms_compare.py [--store S.db] [--out bench/results/platforms_compare]``
(needs ``edgeslim demo`` outputs for the digits CNN/MLP and the basic-motions GRU; the random
forest is trained here). ``--render-only S.db`` rewrites the tables from stored compare runs.

The CPU anchors are onnxruntime and torch eager on the same ONNX/checkpoint, beside the
generated C; the MCU numbers come from QEMU instruction counts and the target profile
(estimated); the FPGA numbers from Verilator (cycles, simulated) and nextpnr (fmax, estimated).
On a machine with a CUDA GPU the script also times a GEMM-bound Linear stack dense fp32 vs
fp16 vs bf16 vs 2:4 semi-structured sparse fp16 and prints the speed-ups measured in this run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeslim import api
from edgeslim.api.compare import compare
from edgeslim.report.platforms import compare_steps, markdown_table

DEMO = Path("edgeslim-out/demo")
MODELS = {
    "digits-cnn": DEMO / "digits-cnn/model.onnx",
    "motions-gru": DEMO / "motions-gru/model.onnx",
    "digits-mlp": DEMO / "digits-mlp/model.onnx",
}


def _forest(folder: Path) -> Path:
    from edgeslim.trees._import import from_object
    from edgeslim.trees._io import save_bundle
    from edgeslim.trees._train import train

    est, arrays = train("rf", "breast-cancer", 0, n_estimators=16, max_depth=4)
    return save_bundle(folder / "rf-breast-cancer.npz", from_object(est), arrays)


def _gpu_gemm() -> str:
    from edgeslim.backends import gpu

    reason = gpu.gpu_unavailable_reason()
    if reason:
        return f"GPU GEMM stack: not run ({reason}).\n"
    net = gpu.gemm_stack(width=4096, depth=4)
    gpu.prune_24(net)
    x = np.random.default_rng(0).normal(size=(4096, 4096)).astype(np.float32)
    rows, base = [], None
    for v in gpu.variants(sparse=True, compiled=True):
        ms, _ = gpu.time_gpu(gpu.prepare(net, v), x, v, warmup=5, repeats=20, context=v.label)
        thr = next(m.value for m in ms if m.name == "throughput")
        base = base or thr
        power = next((f"{m.value:.0f} W" for m in ms if m.name == "power"), "—")
        rows.append(f"| {v.label} | {thr:,.0f} | {thr / base:.2f}x | {power} |")
    head = f"GPU GEMM stack (4 x Linear 4096, batch 4096) on {gpu.gpu_name()}, one run:\n\n"
    return (
        head
        + "| variant | samples/s | vs fp32 | power |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def _render(store: Any) -> tuple[str, list[dict[str, Any]]]:
    runs = [store.get_run(s.id) for s in store.list_runs()]
    parts, data = [], []
    for run, record in compare_steps(runs):
        parts.append(f"## {run.name}\n\n`{record['model']}` ({record['kind']})\n\n")
        parts.append(markdown_table(record["rows"]))
        data.append({"run": run.name, **record})
    return "\n".join(parts), data


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=None, help="store to write (default: a temporary one)")
    ap.add_argument("--out", default="bench/results/platforms_compare")
    ap.add_argument("--render-only", default=None, help="only render the stored compare runs")
    ap.add_argument("--workdir", default=None, help="keep generated code here (default: temp)")
    args = ap.parse_args()
    out = Path(args.out)
    if args.render_only:
        store = api.open_store(args.render_only)
    else:
        work = Path(args.workdir or tempfile.mkdtemp(prefix="edgeslim-platforms-"))
        work.mkdir(parents=True, exist_ok=True)
        store = api.open_store(args.store or str(work / "platforms.db"))
        subjects = {**MODELS, "rf-breast-cancer": _forest(work)}
        for name, path in subjects.items():
            if not Path(path).exists():
                print(f"skip {name}: {path} missing (run `edgeslim demo` first)")
                continue
            cmp = compare(path, store=store, name=f"compare-{name}", workdir=work / name)
            print(f"{name}: stored as {cmp.run}")
    text, data = _render(store)
    gpu_text = _gpu_gemm()
    doc = "# Platforms side by side (issue 10)\n\n" + text + "\n" + gpu_text
    out.with_suffix(".md").write_text(doc, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    print(doc)


if __name__ == "__main__":
    main()
