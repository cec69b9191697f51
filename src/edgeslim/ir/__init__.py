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
    import_model("m.onnx")                               # checked ONNX -> verified Graph
    import_model("kws.tflite")                           # TFLite flatbuffer (float or int8)
    Stream(graph)(x)                                     # one call of a streaming model
    import_model("m.pt", input_shape=(1, 8, 8))          # TorchScript (or a Module) -> Graph
    import_model(module, input_shape=(13,), onnx_path="m.onnx")  # also keeps the ONNX file
"""

from __future__ import annotations

import os

from edgeslim.ir._dtypes import UNKNOWN_DTYPE
from edgeslim.ir._onnx import from_onnx, load_onnx_model, to_onnx, untyped_tensors
from edgeslim.ir._stream import Stream, state_vars
from edgeslim.ir._tflite import from_tflite, is_tflite, load_tflite
from edgeslim.ir._torch import export_torch, import_model
from edgeslim.ir._verify import verify
from edgeslim.ir.graph import Graph, Node, QuantParams, TensorInfo
from edgeslim.ir.interp import check_supported


def load_graph(path: str | os.PathLike[str]) -> Graph:
    """Read an ONNX file (or a ``.tflite`` flatbuffer) into a verified :class:`Graph`."""
    if os.path.isfile(path) and is_tflite(path):
        return load_tflite(path)
    graph = from_onnx(path)
    verify(graph)
    return graph


__all__ = [
    "UNKNOWN_DTYPE",
    "Graph",
    "Node",
    "QuantParams",
    "Stream",
    "TensorInfo",
    "check_supported",
    "export_torch",
    "from_onnx",
    "from_tflite",
    "import_model",
    "load_graph",
    "load_onnx_model",
    "load_tflite",
    "state_vars",
    "to_onnx",
    "untyped_tensors",
    "verify",
]
