"""onnxruntime backend: runs an ONNX file on the CPU execution provider."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgeslim._core.errors import ModelError
from edgeslim.backends._base import (
    BACKENDS,
    ArtifactKind,
    Backend,
    Capability,
    RunnerBase,
)

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}


class OnnxRuntimeRunner(RunnerBase):
    """One ``InferenceSession``; ``run`` feeds the first graph input, returns the first output."""

    def __init__(self, session: Any) -> None:
        self._session: Any | None = session
        first = session.get_inputs()[0]
        self._input = first.name
        self._dtype = _ORT_TYPES.get(first.type, np.float32)
        self._output = session.get_outputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        if self._session is None:
            raise ModelError("OnnxRuntimeRunner.run called after close()")
        feed = {self._input: np.ascontiguousarray(x, dtype=self._dtype)}
        out: np.ndarray = self._session.run([self._output], feed)[0]
        return out

    def close(self) -> None:
        self._session = None


class OnnxRuntimeBackend(Backend):
    """onnxruntime, CPU execution provider, all graph optimizations, sequential execution.

    Artifact: a path to an ONNX file (or the serialized model as ``bytes``). Option ``threads``
    sets ``intra_op_num_threads`` (None or 0: onnxruntime's default, one per physical core);
    ``inter_op_num_threads`` is 1.
    """

    name: ClassVar[str] = "onnxruntime"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.FLOAT32, Capability.INT8, Capability.THREADS, Capability.BATCH}
    )
    artifact_kind: ClassVar[ArtifactKind] = ArtifactKind.ONNX

    def session_options(self) -> Any:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.resolved_threads or 0
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        return so

    def load(self, artifact: Any) -> OnnxRuntimeRunner:
        import onnxruntime as ort

        self.check_options()
        if isinstance(artifact, (str, os.PathLike)):
            path = Path(artifact)
            if not path.is_file():
                raise ModelError(f"ONNX file {path} does not exist")
            source: str | bytes = str(path)
            where = str(path)
        elif isinstance(artifact, bytes):
            source, where = artifact, "<bytes>"
        else:
            raise ModelError(
                "OnnxRuntimeBackend.load needs an ONNX file path or bytes; "
                f"got {type(artifact).__name__}"
            )
        try:
            session = ort.InferenceSession(
                source, sess_options=self.session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"onnxruntime cannot load {where}: {exc}") from None
        return OnnxRuntimeRunner(session)


BACKENDS.add(OnnxRuntimeBackend.name, OnnxRuntimeBackend)
