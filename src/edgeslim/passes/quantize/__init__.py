"""Quantization passes: static int8 PTQ (QDQ ONNX), dynamic, float16, weight-only, QAT, binary.

Each pass returns a model whose ``forward`` is the float (or fake-quantized) torch model and
whose ``edgeslim_export(path, input_shape, normalization, force=...)`` writes the quantized ONNX
artifact; the pipeline's export step calls that hook, so measurements are of the quantized file.
"""

from __future__ import annotations

from edgeslim.passes import PASSES
from edgeslim.passes.quantize._binary import Binarize, xnor_forward
from edgeslim.passes.quantize._common import QuantPass
from edgeslim.passes.quantize._integer import run_integer
from edgeslim.passes.quantize._intrnn import IntegerRecurrent
from edgeslim.passes.quantize._mixed import MixedPrecision, choose_bits
from edgeslim.passes.quantize._model import float_module, quantized_model
from edgeslim.passes.quantize._observers import (
    OBSERVERS,
    EntropyObserver,
    MinMaxObserver,
    MSEObserver,
    Observer,
    PercentileObserver,
    QParams,
    make_observer,
    qparams,
)
from edgeslim.passes.quantize._qat import QAT
from edgeslim.passes.quantize._qdq import StaticConfig
from edgeslim.passes.quantize._simple import DynamicQuantize, Float16, WeightOnly
from edgeslim.passes.quantize._static import StaticQuantize, static_quantize

_PASSES: tuple[type[QuantPass], ...] = (StaticQuantize, DynamicQuantize, Float16, WeightOnly, QAT)
_PASSES += (Binarize, MixedPrecision, IntegerRecurrent)
for _cls in _PASSES:
    PASSES.add(_cls.name, _cls)

__all__ = [
    "OBSERVERS",
    "QAT",
    "Binarize",
    "DynamicQuantize",
    "EntropyObserver",
    "Float16",
    "IntegerRecurrent",
    "MSEObserver",
    "MinMaxObserver",
    "MixedPrecision",
    "Observer",
    "PercentileObserver",
    "QParams",
    "StaticConfig",
    "StaticQuantize",
    "WeightOnly",
    "choose_bits",
    "float_module",
    "make_observer",
    "qparams",
    "quantized_model",
    "run_integer",
    "static_quantize",
    "xnor_forward",
]
