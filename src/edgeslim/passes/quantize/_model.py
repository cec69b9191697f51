"""What a quantization pass hands the pipeline: the float module plus the quantized artifact.

``QuantizedModel`` (built by :func:`quantized_model`) is a ``torch.nn.Module`` whose
``forward`` is the float model, so the pipeline's torch backend and agreement metrics compare
the deployed quantized artifact with the float model it came from, and whose
``edgeslim_export`` writes the quantized ONNX that the pass built. The pipeline's export step
calls ``edgeslim_export`` when a model has it.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgeslim._core.errors import ModelError


def _torch() -> Any:
    import torch

    return torch


def float_onnx(module: Any, dataset: Any) -> onnx.ModelProto:
    """The float model as the pipeline exports it: normalization inside, BN folded."""
    from edgeslim import ir
    from edgeslim.models import with_normalization

    wrapped = with_normalization(module, dataset.normalization, dataset.spec.input_shape)
    with tempfile.TemporaryDirectory(prefix="edgeslim-q-") as tmp:
        path = Path(tmp) / "float.onnx"
        ir.export_torch(wrapped, dataset.spec.input_shape, path)
        return onnx.load(str(path))


def calibration_inputs(dataset: Any, samples: int, seed: int) -> np.ndarray:
    """``samples`` raw training inputs (the artifact takes raw inputs), chosen by ``seed``."""
    x = np.asarray(dataset.x_train, np.float32)
    if samples >= len(x):
        return x
    rng = np.random.default_rng(seed)
    return x[np.sort(rng.choice(len(x), samples, replace=False))]


def batches(x: np.ndarray, size: int = 256) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


@functools.cache
def _quantized_model_class() -> type:
    torch = _torch()

    class QuantizedModel(torch.nn.Module):  # type: ignore[misc,name-defined]
        """A float module with the quantized ONNX artifact built from it.

        ``proto`` is the quantized model (raw inputs, normalization inside); ``kind`` names the
        scheme (``"static_int8"``, ``"dynamic_int8"``, ``"float16"``, ``"weight_only_int4"``).
        """

        def __init__(self, module: Any, proto: onnx.ModelProto, kind: str) -> None:
            super().__init__()
            self.float_module = module
            self.proto = proto
            self.kind = kind

        def forward(self, x: Any) -> Any:
            return self.float_module(x)

        def edgeslim_export(
            self,
            path: str | os.PathLike[str],
            input_shape: tuple[int, ...],
            normalization: Any = None,
            *,
            force: bool = False,
        ) -> Path:
            """Write the quantized ONNX to ``path`` (atomically; kept unless ``force``)."""
            return _write(self.proto, path, input_shape, force)

    return QuantizedModel


def quantized_model(module: Any, proto: onnx.ModelProto, kind: str) -> Any:
    """A :class:`QuantizedModel` (torch imported on first use)."""
    return _quantized_model_class()(module, proto, kind)


def float_module(model: Any) -> Any:
    """The float module under ``model`` (itself unless it is a quantized model)."""
    return getattr(model, "float_module", model)


def _write(
    proto: onnx.ModelProto, path: str | os.PathLike[str], input_shape: tuple[int, ...], force: bool
) -> Path:
    from edgeslim._core.io import atomic_write, ensure_writable

    dims = proto.graph.input[0].type.tensor_type.shape.dim[1:]
    have = tuple(d.dim_value for d in dims)
    if have != tuple(input_shape):
        raise ModelError(
            f"quantized model takes samples of shape {have}; export asked for {input_shape}"
        )
    target = ensure_writable(path, force)
    with atomic_write(target) as tmp:
        onnx.save(proto, str(tmp))
    return target
