"""Layer 2: run an artifact. Each backend declares its capabilities and the artifact it takes.

::

    backend = get_backend("onnxruntime", threads=1)
    with backend.load("model.onnx") as runner:     # a Runner
        y = runner.run(x)

Registered: ``"torch"`` (:class:`TorchBackend`, a ``torch.nn.Module``), ``"onnxruntime"``
(:class:`OnnxRuntimeBackend`, an ONNX path) and ``"interp"`` (:class:`InterpBackend`, an ONNX
path run by ``edgeslim.ir.interp``: for ops only edgeslim runs). The registry is frozen after
import.
"""

from __future__ import annotations

from edgeslim.backends._base import (
    BACKENDS,
    ArtifactKind,
    Backend,
    Capability,
    Runner,
    RunnerBase,
    backend_names,
    get_backend,
    runner_metrics,
)
from edgeslim.backends._interp import InterpBackend, InterpRunner, needs_interp
from edgeslim.backends._onnxruntime import OnnxRuntimeBackend, OnnxRuntimeRunner
from edgeslim.backends._torch import TorchBackend, TorchRunner, torch_threads

BACKENDS.freeze()

__all__ = [
    "ArtifactKind",
    "Backend",
    "Capability",
    "InterpBackend",
    "InterpRunner",
    "OnnxRuntimeBackend",
    "OnnxRuntimeRunner",
    "Runner",
    "RunnerBase",
    "TorchBackend",
    "TorchRunner",
    "backend_names",
    "get_backend",
    "needs_interp",
    "runner_metrics",
    "torch_threads",
]
