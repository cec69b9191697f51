"""Layer 2: the deploy graph (``Graph``), its ONNX reader/writer, verifier and numpy interpreter.

Reading and writing::

    graph = from_onnx("model.onnx")      # or a ModelProto; shapes inferred, Constants folded
    verify(graph)                        # ModelError naming node and tensor
    graph = load_graph("model.onnx")     # from_onnx + verify
    proto = to_onnx(graph)               # back to ONNX (round trip)

Running (numpy reference, see :mod:`edgeslim.ir.interp`)::

    from edgeslim.ir import interp
    outputs = interp.run(graph, {"input": x})
    interp.check_supported(graph)        # UnsupportedOpError listing every missing op once

Bringing models in (torch imported lazily, see :mod:`edgeslim.ir._torch`)::

    export_torch(module, (1, 8, 8), "m.onnx")           # torch.nn.Module -> ONNX file
    import_model("m.onnx")                               # checked ONNX -> Graph
    import_model("m.pt", input_shape=(1, 8, 8), onnx_path="m.onnx")  # TorchScript -> Graph
"""

from __future__ import annotations

import os

from edgeslim.ir._dtypes import UNKNOWN_DTYPE
from edgeslim.ir._onnx import from_onnx, load_onnx_model, to_onnx, unknown_rank
from edgeslim.ir._verify import verify
from edgeslim.ir.graph import Graph, Node, QuantParams, TensorInfo


def load_graph(path: str | os.PathLike[str]) -> Graph:
    """Read an ONNX file into a verified :class:`Graph` (``from_onnx`` then ``verify``)."""
    graph = from_onnx(path)
    verify(graph)
    return graph


__all__ = [
    "UNKNOWN_DTYPE",
    "Graph",
    "Node",
    "QuantParams",
    "TensorInfo",
    "from_onnx",
    "load_graph",
    "load_onnx_model",
    "to_onnx",
    "unknown_rank",
    "verify",
]
