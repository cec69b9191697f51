"""Layer 3: metrics of the exported artifact, each a :class:`~edgeslim.Metric` with a unit and
provenance (``measured`` for runs, ``computed`` for exact structural counts).

::

    report = measure_artifact("model.onnx", graph, x_test=x, y_test=y, task="classification",
                              module=torch_module, threads=(1, None), batch=64)
    report.metrics            # tuple[Metric, ...]
    report.layers             # per-node LayerCost (MACs, params, output bytes)
    report.activation.curve   # live activation bytes per step

Building blocks: :func:`task_metrics`, :func:`structure_metrics`, :func:`layer_costs`,
:func:`storage_metrics`, :func:`latency_metrics`, :func:`throughput_metrics`,
:func:`peak_activation_memory`.
"""

from __future__ import annotations

from edgeslim.measure._artifact import MeasureReport, measure_artifact
from edgeslim.measure._bounds import DeviationBound, quantization_error_bound
from edgeslim.measure._costs import MAC_OPS, LayerCost, layer_costs, node_macs
from edgeslim.measure._memory import ActivationProfile, peak_activation_memory, tensor_lifetimes
from edgeslim.measure._storage import storage_metrics
from edgeslim.measure._structure import structure_metrics
from edgeslim.measure._task import agreement_metrics, macro_f1, task_metrics
from edgeslim.measure._tensors import initializer_roles, weight_initializers
from edgeslim.measure._timing import (
    latency_metrics,
    throughput_metrics,
    time_calls,
    timing_context,
)

__all__ = [
    "MAC_OPS",
    "ActivationProfile",
    "DeviationBound",
    "LayerCost",
    "MeasureReport",
    "agreement_metrics",
    "initializer_roles",
    "latency_metrics",
    "layer_costs",
    "macro_f1",
    "measure_artifact",
    "node_macs",
    "peak_activation_memory",
    "quantization_error_bound",
    "storage_metrics",
    "structure_metrics",
    "task_metrics",
    "tensor_lifetimes",
    "throughput_metrics",
    "time_calls",
    "timing_context",
    "weight_initializers",
]
