"""GPU path: runs only with CUDA; the CPU-side helpers (2:4 pruning, reasons) run everywhere."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeslim.backends import gpu  # noqa: E402

no_cuda = not torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(no_cuda, reason="no CUDA GPU (torch.cuda.is_available() is False)")


def test_prune_24_leaves_two_of_every_four() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    assert gpu.prune_24(net) == 2
    w = net[0].weight.detach().view(-1, 4)
    assert bool(((w != 0).sum(dim=1) <= 2).all())


def test_reason_is_given_without_a_gpu() -> None:
    reason = gpu.gpu_unavailable_reason()
    assert (reason is None) == (not no_cuda)
    if reason is not None:
        assert "GPU" in reason or "torch" in reason
        with pytest.raises(Exception, match=r"GPU|torch"):
            gpu.prepare(torch.nn.Linear(2, 2), gpu.GpuVariant())


@pytest.mark.gpu
@needs_gpu
def test_gpu_timing_fp32_fp16_agree() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    x = np.random.default_rng(0).normal(size=(32, 64)).astype(np.float32)
    outs = {}
    for v in (gpu.GpuVariant("float32"), gpu.GpuVariant("float16")):
        ms, out = gpu.time_gpu(gpu.prepare(net, v), x, v, warmup=2, repeats=3, context="t")
        names = {m.name for m in ms}
        assert {"latency", "throughput", "memory"} <= names
        outs[v.dtype] = out
    assert np.allclose(outs["float32"], outs["float16"], atol=5e-2)


@pytest.mark.gpu
@needs_gpu
def test_gpu_semi_structured_sparse_matches_dense() -> None:
    net = gpu.gemm_stack(width=128, depth=2)
    gpu.prune_24(net)
    x = np.random.default_rng(0).normal(size=(64, 128)).astype(np.float32)
    dense_v, sparse_v = gpu.GpuVariant("float16"), gpu.GpuVariant("float16", sparse24=True)
    _, dense = gpu.time_gpu(gpu.prepare(net, dense_v), x, dense_v, warmup=1, repeats=2)
    _, sparse = gpu.time_gpu(gpu.prepare(net, sparse_v), x, sparse_v, warmup=1, repeats=2)
    assert np.allclose(dense, sparse, atol=5e-2, rtol=5e-2)
