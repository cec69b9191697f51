"""Layer 2: the deploy graph (``Graph``), its ONNX reader, verifier and numpy interpreter."""

from __future__ import annotations

from edgeslim.ir.graph import Graph, Node, QuantParams, TensorInfo

__all__ = ["Graph", "Node", "QuantParams", "TensorInfo"]
