"""Streaming state of a graph: persistent buffers kept between calls, as TFLite resource variables.

A stateful model is still a pure graph: each state variable ``v`` is one extra graph input
``state.v`` (the value before the call) and one extra graph output ``state.v.next`` (the value
after it), and the initializer ``state.v.init`` holds the value before the first call (what a
TFLite ``CALL_ONCE`` init subgraph assigns). Data inputs and outputs come first, state after.
Keeping the state functional lets the interpreter stay pure, lets the memory planner see the
persistent buffers apart from the arena, and lets generated code own them as static buffers.

``Stream(graph)`` runs such a graph call after call, carrying the state like TFLite Micro::

    s = Stream(graph)
    for frame in frames:
        y = s(frame)          # first data output
    s.reset()                 # back to the init values
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edgeslim._core.errors import ModelError
from edgeslim.ir.graph import Graph, TensorInfo

STATE_PREFIX = "state."
NEXT_SUFFIX = ".next"
INIT_SUFFIX = ".init"

__all__ = ["StateVar", "Stream", "data_inputs", "data_outputs", "state_vars"]


@dataclass(frozen=True, slots=True)
class StateVar:
    """One persistent buffer: graph input, graph output and init initializer names."""

    name: str
    input: TensorInfo
    output: str
    init: str

    @property
    def nbytes(self) -> int:
        return self.input.nbytes(1)


def state_name(var: str) -> str:
    return STATE_PREFIX + var


def state_vars(graph: Graph) -> tuple[StateVar, ...]:
    """The state variables of ``graph`` (empty for a stateless graph), checked for pairing."""
    outs = {o.name for o in graph.outputs}
    found = []
    for info in graph.inputs:
        if not info.name.startswith(STATE_PREFIX):
            continue
        nxt, init = info.name + NEXT_SUFFIX, info.name + INIT_SUFFIX
        if nxt not in outs or init not in graph.initializers:
            raise ModelError(
                f"graph {graph.name!r}: state input {info.name!r} needs output {nxt!r} and "
                f"initializer {init!r}"
            )
        found.append(StateVar(info.name[len(STATE_PREFIX) :], info, nxt, init))
    return tuple(found)


def data_inputs(graph: Graph) -> tuple[TensorInfo, ...]:
    return tuple(t for t in graph.inputs if not t.name.startswith(STATE_PREFIX))


def data_outputs(graph: Graph) -> tuple[TensorInfo, ...]:
    return tuple(
        t
        for t in graph.outputs
        if not (t.name.startswith(STATE_PREFIX) and t.name.endswith(NEXT_SUFFIX))
    )


class Stream:
    """Call a (possibly stateful) graph repeatedly with the interpreter, keeping its state."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.vars = state_vars(graph)
        self.state: dict[str, np.ndarray] = {}
        self.reset()

    def reset(self) -> None:
        """Set every state buffer back to its init value."""
        self.state = {v.input.name: np.array(self.graph.initializers[v.init]) for v in self.vars}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One call: data feeds in, data outputs by name out; the state advances."""
        from edgeslim.ir import interp

        out = interp.run(self.graph, {**feeds, **self.state})
        for v in self.vars:
            self.state[v.input.name] = out.pop(v.output)
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """One call of a single-input graph; returns its first data output."""
        ins = data_inputs(self.graph)
        if len(ins) != 1:
            raise ModelError(f"graph {self.graph.name!r} has {len(ins)} data inputs; use run()")
        out = self.run({ins[0].name: x})
        return out[data_outputs(self.graph)[0].name]
