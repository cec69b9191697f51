"""Bring models into the IR: torch modules and TorchScript archives via ONNX, ONNX files checked.

torch is imported lazily, only by the functions that need it.

``export_torch(model, input_shape, path, *, opset=17, force=False) -> Path``
    Export a ``torch.nn.Module`` (or ``torch.jit.ScriptModule``) to an ONNX file with the
    TorchScript-based exporter: one input ``"input"``, one output ``"output"``, a dynamic batch
    dimension. ``input_shape`` is one sample's shape, batch excluded (``DataSpec.input_shape``).
    The file is written atomically; an existing file is kept unless ``force``.

``import_model(source, *, input_shape=None, onnx_path=None, opset=17, force=False) -> Graph``
    ``source`` is a path to an ``.onnx`` file (checked with ``onnx.checker``), a path to a
    TorchScript archive (``torch.jit.save``; needs ``input_shape``), or a ``torch.nn.Module``
    (needs ``input_shape``). Torch models are exported to ONNX, to ``onnx_path`` if given (and
    ``force`` allows it) or in memory. The result is a verified :class:`Graph` whose every op the
    interpreter runs.

Errors: :class:`ModelError` naming the file for a missing, corrupt or unrecognized file or a
missing ``input_shape``; :class:`UnsupportedOpError` naming the file, the op and the node for an
op the interpreter lacks; :class:`ExportError` naming the file when torch cannot export.
"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import onnx

from edgeslim._core.errors import ExportError, ModelError, UnsupportedOpError
from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim.ir._onnx import from_onnx, load_onnx_model
from edgeslim.ir._tflite import is_tflite, load_tflite
from edgeslim.ir._verify import verify
from edgeslim.ir.graph import Graph

__all__ = ["export_torch", "import_model"]

_DYNAMIC_AXES = {"input": {0: "batch"}, "output": {0: "batch"}}


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is installed in development
        raise ModelError(
            "torch is needed to export or import torch models; install edgeslim[torch]"
        ) from None
    return torch


def _export_to(model: Any, input_shape: Sequence[int], target: Path, opset: int) -> None:
    torch = _torch()
    example = torch.zeros((1, *(int(d) for d in input_shape)), dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model,
                (example,),
                str(target),
                dynamo=False,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes=_DYNAMIC_AXES,
                opset_version=opset,
            )
        except (RuntimeError, ValueError, TypeError, torch.onnx.errors.OnnxExporterError) as exc:
            raise ExportError(f"could not export the model to {target}: {exc}") from None


def export_torch(
    model: Any,
    input_shape: Sequence[int],
    path: str | os.PathLike[str],
    *,
    opset: int = 17,
    force: bool = False,
) -> Path:
    """Export ``model`` to an ONNX file at ``path`` and return the path (see module docstring)."""
    target = ensure_writable(path, force)
    with atomic_write(target) as tmp:
        _export_to(model, input_shape, tmp, opset)
    return target


def _check_and_build(model: onnx.ModelProto, where: str) -> Graph:
    from edgeslim.ir import interp

    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise ModelError(f"{where} is not a valid ONNX model: {first}") from None
    graph = from_onnx(model)
    try:
        interp.check_supported(graph)
    except UnsupportedOpError as exc:
        exc.args = (f"{where}: {exc}",)
        raise
    verify(graph)
    return graph


def _load_torchscript(path: Path) -> Any:
    torch = _torch()
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        reason = str(exc).strip().split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{path} is not a TorchScript archive (a state_dict needs its model config): {reason}"
        ) from None


def _from_torch(
    model: Any,
    where: str,
    input_shape: Sequence[int] | None,
    onnx_path: str | os.PathLike[str] | None,
    opset: int,
    force: bool,
) -> Graph:
    if input_shape is None:
        raise ModelError(
            f"{where} is a torch model; pass input_shape (one sample's shape, batch excluded) "
            "to export it to ONNX"
        )
    if onnx_path is not None:
        written = export_torch(model, input_shape, onnx_path, opset=opset, force=force)
        return _check_and_build(load_onnx_model(written), str(written))
    with tempfile.TemporaryDirectory(prefix="edgeslim-") as tmp:
        target = Path(tmp) / "model.onnx"
        _export_to(model, input_shape, target, opset)
        proto = load_onnx_model(target)
    return _check_and_build(proto, where)


def import_model(
    source: str | os.PathLike[str] | Any,
    *,
    input_shape: Sequence[int] | None = None,
    onnx_path: str | os.PathLike[str] | None = None,
    opset: int = 17,
    force: bool = False,
) -> Graph:
    """Import an ONNX file, a TFLite flatbuffer, a TorchScript archive or a torch module as a
    verified Graph."""
    if not isinstance(source, str | os.PathLike):
        return _from_torch(source, "the torch model", input_shape, onnx_path, opset, force)
    path = Path(source)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    if is_tflite(path):  # a TFLite flatbuffer, read directly (edgeslim.ir._tflite)
        return load_tflite(path)
    if zipfile.is_zipfile(path):  # TorchScript (and torch.save) archives are zip files
        module = _load_torchscript(path)
        return _from_torch(module, str(path), input_shape, onnx_path, opset, force)
    return _check_and_build(load_onnx_model(path), str(path))
