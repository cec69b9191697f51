"""Shape and data-movement ops: Reshape, Transpose, Slice, Gather, Pad, Concat, Split, ..."""

from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from edgeslim.ir.graph import Node
from edgeslim.ir.interp._registry import (
    Inputs,
    Outputs,
    attr,
    axes_from,
    int_list,
    ints,
    need,
    opt,
    register,
    unsupported,
)


@register("Flatten")
def flatten(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    axis = int(attr(node, "axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    lead = int(np.prod(x.shape[:axis], dtype=np.int64))
    return (x.reshape(lead, int(np.prod(x.shape[axis:], dtype=np.int64))),)


@register("Reshape")
def reshape(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    shape = int_list(need(node, xs, 1)) or []
    if not attr(node, "allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return (x.reshape(shape),)


@register("Transpose")
def transpose(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    perm = ints(node, "perm") or list(reversed(range(x.ndim)))
    return (np.transpose(x, perm),)


@register("Squeeze")
def squeeze(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    axes = axes_from(node, xs, 1)
    if axes is None:
        return (np.squeeze(x),)
    return (np.squeeze(x, axis=tuple(a % x.ndim for a in axes)),)


@register("Unsqueeze")
def unsqueeze(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    axes = axes_from(node, xs, 1) or []
    rank = x.ndim + len(axes)
    return (np.expand_dims(x, tuple(a % rank for a in axes)),)


@register("Concat")
def concat(node: Node, xs: Inputs, opset: int) -> Outputs:
    arrays = [need(node, xs, i) for i in range(len(xs))]
    return (np.concatenate(arrays, axis=int(attr(node, "axis", 0))),)


def _slice_bounds(start: int, end: int, step: int, dim: int) -> slice:
    """ONNX Slice clamping rules turned into a Python slice."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        return slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
    start = min(max(start, 0), dim - 1)
    end = min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)


@register("Slice")
def slice_(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    if opset < 10:
        starts, ends = ints(node, "starts") or [], ints(node, "ends") or []
        axes, steps = ints(node, "axes"), None
    else:
        starts, ends = int_list(need(node, xs, 1)) or [], int_list(need(node, xs, 2)) or []
        axes, steps = int_list(opt(xs, 3)), int_list(opt(xs, 4))
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    idx = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        if st == 0:
            raise unsupported(node, "step 0")
        idx[a % x.ndim] = _slice_bounds(s, e, st, x.shape[a % x.ndim])
    return (np.array(x[tuple(idx)]),)


@register("Gather")
def gather(node: Node, xs: Inputs, opset: int) -> Outputs:
    x, idx = need(node, xs, 0), need(node, xs, 1).astype(np.int64)
    axis = int(attr(node, "axis", 0)) % x.ndim
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return (np.take(x, idx, axis=axis),)


@register("Shape")
def shape(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    dims = np.asarray(x.shape, dtype=np.int64)
    start, end = int(attr(node, "start", 0)), attr(node, "end", None)
    return (dims[start : None if end is None else int(end)].copy(),)


@register("Size")
def size(node: Node, xs: Inputs, opset: int) -> Outputs:
    return (np.asarray(need(node, xs, 0).size, dtype=np.int64),)


@register("Pad")
def pad(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    mode = str(attr(node, "mode", "constant"))
    if opset < 11:
        pads = ints(node, "pads") or []
        value: float = float(attr(node, "value", 0.0))
    else:
        pads = int_list(need(node, xs, 1)) or []
        cv = opt(xs, 2)
        value = cv.reshape(-1)[0].item() if cv is not None and cv.size else 0
    axes = int_list(opt(xs, 3)) or list(range(x.ndim))
    n = len(axes)
    full = [(0, 0)] * x.ndim
    for i, a in enumerate(axes):
        full[a % x.ndim] = (pads[i], pads[i + n])
    crop = tuple(slice(max(-b, 0), x.shape[k] - max(-e, 0)) for k, (b, e) in enumerate(full))
    x = x[crop]  # negative pads remove elements
    widths = [(max(b, 0), max(e, 0)) for b, e in full]
    if mode == "constant":
        return (np.pad(x, widths, mode="constant", constant_values=value),)
    if mode in ("reflect", "edge", "wrap"):
        return (np.pad(x, widths, mode=mode),)  # type: ignore[call-overload]
    raise unsupported(node, f"mode {mode!r}")


@register("ConstantOfShape")
def constant_of_shape(node: Node, xs: Inputs, opset: int) -> Outputs:
    dims = int_list(need(node, xs, 0)) or []
    value = attr(node, "value", None)
    fill = np.zeros(1, dtype=np.float32) if value is None else np.asarray(value).reshape(-1)
    return (np.full(dims, fill[0], dtype=fill.dtype),)


@register("Expand")
def expand(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    dims = int_list(need(node, xs, 1)) or []
    target = np.broadcast_shapes(x.shape, tuple(dims))
    return (np.array(np.broadcast_to(x, target)),)


@register("Tile")
def tile(node: Node, xs: Inputs, opset: int) -> Outputs:
    return (np.tile(need(node, xs, 0), int_list(need(node, xs, 1)) or []),)


@register("Range")
def range_(node: Node, xs: Inputs, opset: int) -> Outputs:
    start, limit, delta = (need(node, xs, i) for i in range(3))
    return (np.arange(start.item(), limit.item(), delta.item()).astype(start.dtype),)


@register("Split")
def split(node: Node, xs: Inputs, opset: int) -> Outputs:
    x = need(node, xs, 0)
    axis = int(attr(node, "axis", 0)) % x.ndim
    sizes = int_list(opt(xs, 1)) if opset >= 13 else ints(node, "split")
    parts = len(node.outputs)
    if sizes is None:
        parts = int(attr(node, "num_outputs", parts))
        chunk = -(-x.shape[axis] // parts)
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(parts)]
    cuts = np.cumsum(sizes)[:-1]
    return tuple(np.array(p) for p in np.split(x, cuts, axis=axis))


@register("Constant")
def constant(node: Node, xs: Inputs, opset: int) -> Outputs:
    """Only reached for graphs built by hand; ``from_onnx`` folds Constants into initializers."""
    if "value" in node.attrs:
        v = node.attrs["value"]
        return (np.array(v if isinstance(v, np.ndarray) else numpy_helper.to_array(v)),)
    for key, dtype in (("value_float", np.float32), ("value_floats", np.float32)):
        if key in node.attrs:
            return (np.asarray(node.attrs[key], dtype=dtype),)
    for key in ("value_int", "value_ints"):
        if key in node.attrs:
            return (np.asarray(node.attrs[key], dtype=np.int64),)
    raise unsupported(node, f"attributes {sorted(node.attrs)}")
