"""The lowered program: static-shape tensors and kernel steps that the C renderer walks.

A :class:`Program` is what remains of an :class:`~edgeslim.ir.Graph` at batch 1 after shape
arithmetic is folded to constants and views (Reshape, Flatten, ...) become aliases: a list of
:class:`Step` (one C kernel call each) over :class:`Value` tensors, and the arena plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from edgeslim.codegen.nn._io import IOQuant
from edgeslim.codegen.planner import Plan

CTYPES = {
    "float32": "float",
    "int8": "int8_t",
    "int32": "int32_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int64": "int64_t",
}


@dataclass(frozen=True, slots=True)
class Value:
    """A tensor of the program. ``buffer`` is the buffer it lives in (views share one): an
    arena buffer, or one of :attr:`Program.external` (the caller's input or output)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    buffer: str
    offset: int = 0  # elements into ``buffer`` (views of a slice start later)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ctype(self) -> str:
        return CTYPES[self.dtype]


@dataclass(frozen=True, slots=True)
class Step:
    """One kernel call: ``kernel`` names a template macro; ``params`` are its scalar arguments.

    ``inputs``/``outputs`` are value names; a constant input is a ``static const`` array.
    ``inplace`` means output 0 may share the buffer of input 0 (elementwise).
    """

    node: str
    op: str
    kernel: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    inplace: bool = False
    macs: int = 0


@dataclass(frozen=True)
class Program:
    """Steps in execution order, values, constants, graph inputs/outputs and the arena plan.

    ``external`` maps the buffers that are not in the arena to ``"input"`` or ``"output"``:
    the kernels read the graph input from the caller's ``input`` (no step writes it, it is no
    graph output) and the last step writes the graph output into the caller's ``output`` (no
    step reads it); ``buffer_bytes`` still lists them, ``plan`` does not.
    """

    name: str
    steps: tuple[Step, ...]
    values: Mapping[str, Value]
    constants: Mapping[str, np.ndarray]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    plan: Plan
    buffer_bytes: Mapping[str, int]
    qopts: Any = None  # QOptions of the int8 kernels; None when the program has none
    # io="int8": the graph's edge Q/DQ removed (codes in and out), their parameters
    io_inputs: tuple[IOQuant, ...] = ()
    io_outputs: tuple[IOQuant, ...] = ()
    external: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def io(self) -> str:
        """``"int8"`` when the caller passes and gets int8 codes, else ``"float"``."""
        return "int8" if self.io_inputs else "float"

    @property
    def int8(self) -> bool:
        """Whether any step runs an int8 kernel."""
        return self.qopts is not None

    @property
    def exact(self) -> bool:
        """int8 programs whose float steps are all exact IEEE operations (elementwise, copies)
        must match the reference bit for bit; float reductions and transcendental functions
        (float conv, dense, RNN cells, softmax) only within a tolerance."""
        inexact = {"conv2d", "dense", "gru", "lstm", "softmax", "sigmoid", "tanh", "gpool"}
        return self.int8 and not any(
            s.kernel in inexact or (s.kernel == "pool2d" and not s.params["is_max"])
            for s in self.steps
        )

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes

    def external_bytes(self, kind: str) -> int:
        """Bytes of the caller's ``kind`` (``"input"``/``"output"``) buffer that the kernels
        use in place, outside the arena; 0 when it is copied into the arena."""
        return sum(self.buffer_bytes[b] for b, k in self.external.items() if k == kind)

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.steps)

    def value(self, name: str) -> Value:
        return self.values[name]
