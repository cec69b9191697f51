"""edgeslim's own interpreter (``edgeslim.ir.interp``) as a backend: the reference that runs
what onnxruntime cannot, such as the integer recurrent cells (``edgeslim.IntGRU``/``IntLSTM``).
numpy, one thread, slow: its latency is the interpreter's, not a deployment's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgeslim._core.errors import ModelError
from edgeslim.backends._base import BACKENDS, ArtifactKind, Backend, Capability, RunnerBase


class InterpRunner(RunnerBase):
    def __init__(self, graph: Any) -> None:
        self._graph: Any | None = graph
        self._input = graph.inputs[0].name
        self._output = graph.outputs[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        from edgeslim.ir import interp

        if self._graph is None:
            raise ModelError("InterpRunner.run called after close()")
        feed = {self._input: np.ascontiguousarray(x, dtype=np.float32)}
        return np.asarray(interp.run(self._graph, feed)[self._output])

    def close(self) -> None:
        self._graph = None


class InterpBackend(Backend):
    """Artifact: a path to an ONNX file. ``threads`` is accepted and ignored (numpy)."""

    name: ClassVar[str] = "interp"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.FLOAT32, Capability.INT8, Capability.BATCH}
    )
    artifact_kind: ClassVar[ArtifactKind] = ArtifactKind.ONNX

    def load(self, artifact: Any) -> InterpRunner:
        from edgeslim import ir

        self.check_options()
        if not isinstance(artifact, (str, os.PathLike)) or not Path(artifact).is_file():
            raise ModelError(f"ONNX file {artifact} does not exist")
        return InterpRunner(ir.from_onnx(Path(artifact)))


BACKENDS.add(InterpBackend.name, InterpBackend)


def needs_interp(graph: Any) -> list[str]:
    """The ops of ``graph`` that only edgeslim's interpreter runs (its own domain)."""
    return sorted({n.op for n in graph.nodes if n.op.startswith("edgeslim.")})
