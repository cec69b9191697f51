"""Generated C vs anchors: Cortex-M4 instructions, flash, arena vs TFLM's planner, host latency.

Run: ``python bench/mcu_vs_anchors.py [--out table.md]``. Float32 models of the zoo on the
digits shape (CNN, DS-CNN) and a series shape (GRU, TCN). Goals (issue): arena <= TFLM's;
host batch-1 latency of the generated C <= onnxruntime under 1M MACs; GRU/TCN run on M4.
The TFLM column is TFLM's greedy-by-size algorithm reimplemented here (no in-place sharing,
as in TFLM's GreedyMemoryPlanner); tflite-micro's PyPI interpreter is not installed.
"""

from __future__ import annotations

import argparse
import ctypes
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeslim.api.deploy import export_c, measure_mcu, reference
from edgeslim.backends.host_c import SharedLibrary, compile_shared
from edgeslim.codegen.nn._lower import _fold, _lifetimes  # noqa: F401  (bench-only internals)
from edgeslim.codegen.planner import Buffer, plan_memory
from edgeslim.data.spec import DataSpec, Layout, Normalization, Task
from edgeslim.targets import load_target

MODELS = [
    ("cnn", Layout.IMAGE, (1, 8, 8)),
    ("dscnn", Layout.IMAGE, (1, 8, 8)),
    ("gru", Layout.SERIES, (6, 32)),
    ("tcn", Layout.SERIES, (6, 32)),
]


def _graph(kind: str, layout: Layout, shape: tuple[int, ...], folder: Path):
    import torch

    from edgeslim.ir import export_torch, load_graph
    from edgeslim.models import build_model, default_config, with_normalization

    torch.manual_seed(0)
    spec = DataSpec("b", Task.CLASSIFICATION, layout, shape, num_classes=10, output_dim=10)
    model = build_model(default_config(kind), spec)
    norm = Normalization((0.0,) * shape[0], (1.0,) * shape[0], 0)
    path = folder / f"{kind}.onnx"
    export_torch(with_normalization(model, norm, shape), shape, path)
    return load_graph(path), path


def tflm_greedy_arena(program) -> int:
    """TFLM's GreedyMemoryPlanner strategy on the same lifetimes, without in-place sharing."""
    buffers = _lifetimes(
        list(program.steps), dict(program.values), list(program.inputs), list(program.outputs)
    )
    plain = [Buffer(b.name, b.size, b.first, b.last, b.alignment) for b in buffers]
    return plan_memory(plain, "greedy").arena_bytes


def _time(fn, reps: int = 300) -> float:
    fn()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def host_latency(art, onnx_path: Path, x: np.ndarray, work: Path) -> tuple[float, float]:
    import onnxruntime as ort

    so = compile_shared([art.source], work / "m.so", include_dirs=[art.out_dir])
    arena = (ctypes.c_float * (art.program.arena_bytes // 4 + 4))()
    ctx = ctypes.create_string_buffer(32)
    out = np.zeros(10, np.float32)
    xi = np.ascontiguousarray(x[0].reshape(-1))
    with SharedLibrary(so) as lib:
        init = lib.function("model_init", ctypes.c_int, [ctypes.c_void_p] * 2 + [ctypes.c_size_t])
        run = lib.function("model_run", ctypes.c_int, [ctypes.c_void_p] * 3)
        init(ctx, arena, ctypes.sizeof(arena))
        pi, po = xi.ctypes.data, out.ctypes.data
        c_s = _time(lambda: run(ctx, pi, po))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    name, feed = sess.get_inputs()[0].name, x[:1]
    ort_s = _time(lambda: sess.run(None, {name: feed}))
    return c_s, ort_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    m4 = load_target("cortex-m4")
    head = (
        "| model | MACs | M4 instr/inference | instr/MAC | flash B | arena B | TFLM-greedy "
        "arena B | stack B | host C us | ORT us | C/ORT |"
    )
    rows = [head, "|" + "---|" * 11]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, layout, shape in MODELS:
            work = Path(tmp) / kind
            work.mkdir()
            graph, path = _graph(kind, layout, shape, work)
            x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
            art = export_c(graph, work / "c", "cortex-m4")
            rep = measure_mcu(art, x, work / "mcu", m4, reference(graph, x))
            m = {k.name: k.value for k in rep.metrics}
            c_s, ort_s = host_latency(art, path, x, work)
            rows.append(
                f"| {kind} | {art.program.macs} | {m['instructions']:.0f} | "
                f"{m['instructions_per_mac']:.2f} | {m['flash_bytes']:.0f} | "
                f"{art.program.arena_bytes} | {tflm_greedy_arena(art.program)} | "
                f"{m['stack_bytes']:.0f} | {c_s * 1e6:.1f} | {ort_s * 1e6:.1f} | "
                f"{c_s / ort_s:.2f} |" + ("" if rep.exact else " MISMATCH")
            )
    table = "\n".join(rows)
    print(table)
    if args.out:
        args.out.write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
