"""Graph -> Program: fold shape arithmetic, alias views, lower ops to kernels, plan the arena.

Shapes are fixed at batch 1. A node is folded to a constant when every input is a constant or
when it only reads a shape (``Shape``); the numpy interpreter computes the folded values, so the
folded graph means exactly what the reference means. The remaining nodes become kernel steps
(:mod:`edgeslim.codegen.nn._ops`); every activation gets a buffer, laid out in the arena by the
memory planner (:func:`edgeslim.codegen.planner.plan_memory`), except the graph input and output
where the kernels can use the caller's memory in place (:func:`_external`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeslim._core.errors import ExportError, UnsupportedOpError
from edgeslim.codegen.nn._io import check_io, int8_io
from edgeslim.codegen.nn._ops import LOWER, Ctx
from edgeslim.codegen.nn._program import CTYPES, Program, Step, Value
from edgeslim.codegen.nn._qlower import ROUNDINGS, QOptions, QState
from edgeslim.codegen.planner import Buffer, plan_memory
from edgeslim.ir.graph import Graph, Node
from edgeslim.ir.interp import OPS

WHERE = "the C code generator"
VIEW_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})


@dataclass
class _State:
    env: dict[str, np.ndarray]
    const: set[str]
    values: dict[str, Value] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)


def _sample_feed(graph: Graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for t in graph.inputs:
        if t.name in graph.initializers:
            continue
        shape = tuple(1 if d is None else d for d in t.shape)
        feeds[t.name] = rng.standard_normal(shape).astype(t.dtype)
    return feeds


def _evaluate(node: Node, env: dict[str, np.ndarray], opset: int) -> tuple[np.ndarray, ...]:
    if node.op not in OPS:
        raise UnsupportedOpError(node.op, node.name, WHERE)
    args = [env[t] if t else None for t in node.inputs]
    while args and args[-1] is None:
        args = args[:-1]
    return OPS.get(node.op)(node, args, opset)


def _fold(graph: Graph) -> _State:
    """Run the graph once at batch 1, marking constant tensors (initializers, shape math)."""
    env: dict[str, np.ndarray] = dict(graph.initializers)
    env.update(_sample_feed(graph))
    const = set(graph.initializers)
    for node in graph.nodes:
        outs = _evaluate(node, env, graph.opset)
        folds = node.op == "Shape" or all(not t or t in const for t in node.inputs)
        for name, v in zip(node.outputs, outs, strict=False):
            if name:
                env[name] = np.asarray(v)
                if folds:
                    const.add(name)
    return _State(env, const)


def _activation(state: _State, name: str, buffer: str | None = None) -> Value:
    arr = state.env[name]
    if arr.dtype.name not in CTYPES:
        raise ExportError(f"tensor {name!r}: dtype {arr.dtype.name} has no C kernel")
    v = Value(name, arr.dtype.name, tuple(int(d) for d in arr.shape), buffer or name)
    state.values[name] = v
    return v


def _lower_nodes(graph: Graph, state: _State, qopts: QOptions) -> QState:
    ctx = Ctx(graph, state.env, state.const, state.values, state.steps)
    consumers: dict[str, int] = {}
    for node in graph.nodes:
        for t in node.inputs:
            consumers[t] = consumers.get(t, 0) + 1
    for info in graph.outputs:
        consumers[info.name] = consumers.get(info.name, 0) + 1
    ctx.consumers = consumers
    q = QState(ctx, graph, qopts, lambda name: _activation(state, name))
    for node in graph.nodes:
        if node.name in q.done or all(not t or t in state.const for t in node.outputs):
            continue
        if q.handle(node):
            continue
        q.materialize([t for t in node.inputs if t])
        if node.op in VIEW_OPS:
            src = state.values[node.inputs[0]]
            shape = tuple(int(d) for d in state.env[node.outputs[0]].shape)
            state.values[node.outputs[0]] = Value(
                node.outputs[0], src.dtype, shape, src.buffer, src.offset
            )
            continue
        if node.op not in LOWER:
            raise UnsupportedOpError(node.op, node.name, WHERE)
        for out in node.outputs:
            if out:
                _activation(state, out)
        LOWER[node.op](ctx, node)
    q.materialize([t.name for t in graph.outputs])
    ctx.finish()
    return q


def _lifetimes(
    program_steps: list[Step], values: dict[str, Value], inputs: list[str], outputs: list[str]
) -> list[Buffer]:
    """Buffers with first/last step; step 0 copies the inputs in, the last copies outputs out."""
    life: dict[str, list[int]] = {}
    inplace: dict[str, str] = {}
    for name in inputs:
        life[values[name].buffer] = [0, 0]
    for i, step in enumerate(program_steps, start=1):
        for t in step.inputs:
            if t in values:
                b = values[t].buffer
                life[b][1] = max(life[b][1], i)
        for t in step.outputs:
            b = values[t].buffer
            span = life.setdefault(b, [i, i])
            span[1] = max(span[1], i)
        if step.inplace and step.inputs and step.inputs[0] in values:
            inplace[values[step.outputs[0]].buffer] = values[step.inputs[0]].buffer
    end = len(program_steps) + 1
    for name in outputs:
        life[values[name].buffer][1] = end
    sizes: dict[str, int] = {}
    for v in values.values():
        nbytes = (v.offset + v.size) * np.dtype(v.dtype).itemsize
        sizes[v.buffer] = max(sizes.get(v.buffer, 0), nbytes)
    return [Buffer(b, sizes[b], f, last, 16, inplace.get(b)) for b, (f, last) in life.items()]


def _external(
    program_steps: list[Step], values: dict[str, Value], inputs: list[str], outputs: list[str]
) -> dict[str, str]:
    """The buffers the kernels use in the caller's memory, ``{buffer: "input" | "output"}``.

    The input's buffer when some step reads it, no step writes it (step outputs, views of them
    included) and it is no graph output: ``model_run`` then reads ``input`` in place instead
    of copying it into the arena. The output's buffer when exactly one step writes it, no step
    reads it and the output value covers it (offset 0, same dtype and size): that step writes
    ``output`` directly. In-place sharing with an external buffer is dropped (the elementwise
    kernels also run with distinct input and output).
    """
    read = [values[t].buffer for s in program_steps for t in s.inputs if t in values]
    written = [values[t].buffer for s in program_steps for t in s.outputs]
    out_bufs = {values[t].buffer for t in outputs}
    ext: dict[str, str] = {}
    if len(inputs) == 1:
        b = values[inputs[0]].buffer
        if b in read and b not in written and b not in out_bufs:
            ext[b] = "input"
    if len(outputs) == 1:
        v = values[outputs[0]]
        b = v.buffer
        same = [w for w in values.values() if w.buffer == b]
        nbytes = v.size * np.dtype(v.dtype).itemsize
        covers = v.offset == 0 and all(
            w.dtype == v.dtype and w.offset + w.size <= v.size for w in same
        )
        if b not in ext and written.count(b) == 1 and b not in read and covers and nbytes > 0:
            ext[b] = "output"
    return ext


def lower(
    graph: Graph, plan_method: str = "auto", qopts: QOptions | None = None, io: str = "float"
) -> Program:
    """Lower ``graph`` (batch 1) to kernel steps over an arena planned by ``plan_method``.

    QDQ graphs get int8 kernels where :mod:`edgeslim.codegen.nn._qlower` recognizes a pattern;
    ``qopts`` picks their requantization rounding, the SIMD variant and per-layer algorithms.
    ``io="int8"`` lowers :func:`edgeslim.codegen.nn._io.int8_io` of ``graph``: int8 codes in
    and out, without the QuantizeLinear of the input and the DequantizeLinear of the output.
    """
    qopts = qopts or QOptions()
    if qopts.rounding not in ROUNDINGS:
        raise ExportError(
            f"rounding must be one of {', '.join(ROUNDINGS)}; got {qopts.rounding!r}"
        )
    iio = int8_io(graph) if check_io(io) == "int8" else None
    graph = iio.graph if iio is not None else graph
    state = _fold(graph)
    inputs = [t.name for t in graph.inputs if t.name not in graph.initializers]
    for name in inputs:
        _activation(state, name)
    q = _lower_nodes(graph, state, qopts)
    outputs = [t.name for t in graph.outputs]
    for name in outputs:
        if name in state.const or name not in state.values:
            raise ExportError(f"graph output {name!r} is a constant; nothing to generate")
    buffers = _lifetimes(state.steps, state.values, inputs, outputs)
    external = _external(state.steps, state.values, inputs, outputs)
    arena = [
        Buffer(b.name, b.size, b.first, b.last, b.alignment, None)
        if b.inplace_of in external
        else b
        for b in buffers
        if b.name not in external
    ]
    plan = plan_memory(arena, plan_method)
    used = {s for step in state.steps for s in step.inputs if s in state.const}
    constants = {name: np.ascontiguousarray(state.env[name]) for name in sorted(used)}
    return Program(
        name=graph.name,
        steps=tuple(state.steps),
        values=dict(state.values),
        constants=constants,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        plan=plan,
        buffer_bytes={b.name: b.size for b in buffers},
        qopts=qopts if q.int8_steps else None,
        io_inputs=iio.inputs if iio is not None else (),
        io_outputs=iio.outputs if iio is not None else (),
        external=external,
    )
