"""GPU backend (CUDA through torch): eager and ``torch.compile``, fp32/fp16/bf16, 2:4
semi-structured sparse ``Linear`` layers, and NVML power/energy when ``pynvml`` is importable.

Everything here needs a CUDA device; :func:`gpu_unavailable_reason` says why it cannot run
(``None`` when it can), so callers list the GPU as "n/a" with that reason instead of failing.
Timing uses CUDA events around each call after warm-up (device time of the whole call,
host-to-device copy of the input included). Power is sampled from NVML while a timed loop
runs; energy per inference = mean power x time / samples (provenance ``measured``, NVML's
board power, which includes idle power).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.records import Metric, Provenance

DTYPES = ("float32", "float16", "bfloat16")


def gpu_unavailable_reason() -> str | None:
    """Why the GPU path cannot run here, or ``None`` if a CUDA device is usable."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else "no CUDA device"
        return f"no GPU: torch.cuda.is_available() is False ({build})"
    return None


def gpu_name() -> str:
    import torch

    return str(torch.cuda.get_device_name(0))


@dataclass(frozen=True, slots=True)
class GpuVariant:
    """One way of running a module on the GPU."""

    dtype: str = "float32"
    compiled: bool = False
    sparse24: bool = False

    @property
    def label(self) -> str:
        parts = [self.dtype, "compiled" if self.compiled else "eager"]
        if self.sparse24:
            parts.append("2:4-sparse")
        return " ".join(parts)


def _torch_dtype(name: str) -> Any:
    import torch

    if name not in DTYPES:
        raise EdgeslimError(f"GPU dtype must be one of {', '.join(DTYPES)}; got {name!r}")
    return getattr(torch, name)


def prune_24(module: Any) -> int:
    """Zero the 2 smallest of every 4 consecutive weights of each ``Linear`` (in place);
    returns the number of layers changed (magnitude 2:4, what the pruning pass produces)."""
    import torch

    n = 0
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.Linear) and m.in_features % 4 == 0:
                w = m.weight.view(-1, 4)
                idx = w.abs().argsort(dim=1)[:, :2]
                w.scatter_(1, idx, 0.0)
                n += 1
    return n


def to_semi_structured(module: Any) -> int:
    """Swap the weights of 2:4-sparse ``Linear`` layers for torch's semi-structured sparse
    tensors (``torch.sparse.to_sparse_semi_structured``); returns how many were swapped."""
    import torch
    from torch.sparse import to_sparse_semi_structured

    n = 0
    for m in module.modules():
        if not isinstance(m, torch.nn.Linear):
            continue
        w = m.weight.detach()
        if w.shape[0] % 32 or w.shape[1] % 64:  # the kernels' minimum tile
            continue
        groups = (w.view(-1, 4) != 0).sum(dim=1)
        if bool((groups <= 2).all()):
            m.weight = torch.nn.Parameter(to_sparse_semi_structured(w), requires_grad=False)
            n += 1
    return n


def prepare(module: Any, variant: GpuVariant) -> Any:
    """A copy of ``module`` on the GPU in the variant's dtype, sparse layout and compilation."""
    import copy

    reason = gpu_unavailable_reason()
    if reason:
        raise EdgeslimError(reason)
    m = copy.deepcopy(module).eval().to("cuda", dtype=_torch_dtype(variant.dtype))
    if variant.sparse24:
        if variant.dtype == "float32":
            raise EdgeslimError("2:4 semi-structured sparse kernels need float16 or bfloat16")
        if to_semi_structured(m) == 0:
            raise EdgeslimError(
                "no Linear layer is 2:4 sparse with a shape the sparse kernels take "
                "(rows % 32, columns % 64); prune it 2:4 first"
            )
    if variant.compiled:
        import torch

        m = torch.compile(m)
    return m


class _PowerSampler:
    """Samples NVML board power (W) in a thread while a block runs."""

    def __init__(self, period_s: float = 0.005) -> None:
        self.period = period_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._handle: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml: Any = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:
            self._nvml = None
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def available(self) -> bool:
        return self._handle is not None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0)
            self._stop.wait(self.period)

    def __enter__(self) -> _PowerSampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.available:
            self._stop.set()
            self._thread.join()


def time_gpu(
    module: Any,
    x: np.ndarray,
    variant: GpuVariant,
    *,
    warmup: int = 10,
    repeats: int = 50,
    context: str = "",
) -> tuple[tuple[Metric, ...], np.ndarray]:
    """``latency`` (median s per call), ``throughput``, ``gpu_memory`` and, with NVML,
    ``power`` and ``energy`` per inference; returns the metrics and the outputs (float32)."""
    import torch

    dev_x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    dtype = _torch_dtype(variant.dtype)
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        for _ in range(warmup):
            out = module(dev_x.to("cuda", dtype=dtype))
        torch.cuda.synchronize()
        times = []
        t_wall = time.perf_counter()
        with _PowerSampler() as power:
            for _ in range(repeats):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                out = module(dev_x.to("cuda", dtype=dtype))
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) * 1e-3)
        wall = time.perf_counter() - t_wall
    if isinstance(out, (tuple, list)):
        out = out[0]
    lat = float(np.median(times))
    m = Provenance.MEASURED
    ms = [
        Metric("latency", lat, "s", m, context),
        Metric("throughput", len(x) / lat, "samples/s", m, context),
        Metric("memory", float(torch.cuda.max_memory_allocated()), "B", m, context),
    ]
    if power.samples:
        watts = float(np.mean(power.samples))
        ms.append(Metric("power", watts, "W", m, context))
        ms.append(Metric("energy", watts * wall / (repeats * len(x)), "J", m, context))
    return tuple(ms), out.float().cpu().numpy()


def gemm_stack(width: int = 4096, depth: int = 4) -> Any:
    """A large ``Linear``/``ReLU`` stack (GEMM-bound) for dense vs 2:4 vs fp16 comparisons."""
    import torch

    layers: list[Any] = []
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def variants(sparse: bool = True, compiled: bool = True) -> Sequence[GpuVariant]:
    out = [GpuVariant("float32"), GpuVariant("float16"), GpuVariant("bfloat16")]
    if compiled:
        out.append(GpuVariant("float16", compiled=True))
    if sparse:
        out.append(GpuVariant("float16", sparse24=True))
    return out
