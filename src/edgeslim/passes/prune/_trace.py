"""Trace a torch model once and label every tensor element with the prunable unit it carries.

A *unit* is one output channel of a Conv, one output feature of a Linear, or one hidden unit of
one (layer, direction) of a GRU/LSTM/RNN. The model is traced with ``torch.fx`` (recurrent
modules return real Python tuples of proxies, so code such as ``isinstance(out, tuple)`` traces
as it runs), then interpreted on one example sample twice in lockstep: once on real tensors (for
shapes and non-tensor values) and once on *label tensors*: int64 tensors of the same shapes
holding, per element, the unit id it carries or :data:`NONE`.

Data-movement ops (reshape, flatten, transpose, permute, indexing, cat, pad) are applied to the
label tensors as they are to data, which is what makes flatten-to-linear, concatenation and the
``h_n[-directions:]`` read of recurrent heads exact. Element-wise ops couple the units meeting at
the same element (residual adds). Every op the rules do not know freezes the units reaching it.
The result is plain facts (:class:`TraceResult`); :mod:`._graph` turns them into groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from edgeslim._core.errors import ModelError

NONE = -1


@dataclass(frozen=True, slots=True)
class Source:
    """Units produced by one module call: ``width`` ids from ``offset`` on."""

    key: str  # "net.0", or "rnn[l1,d0]" for layer 1, direction 0 of module "rnn"
    module: str
    slot: tuple[int, int] | None  # (layer, direction) of a recurrent module
    offset: int
    width: int


@dataclass(frozen=True, slots=True)
class Consumer:
    """A module reading units on its input axis: ``positions[j]`` is the unit at input j."""

    module: str
    positions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PassThrough:
    """A per-channel module (batch norm, depthwise conv): ``channels[c]`` is the unit at c."""

    module: str
    channels: tuple[int, ...]


@dataclass(frozen=True)
class TraceResult:
    """What the labeled trace found. ``frozen`` maps a unit that must stay to the reason."""

    sources: tuple[Source, ...]
    consumers: tuple[Consumer, ...]
    passthroughs: tuple[PassThrough, ...]
    merges: tuple[tuple[int, int], ...]
    frozen: dict[int, str]
    n_units: int


class _Tracer(fx.Tracer):
    """fx tracer whose recurrent modules return tuples of proxies, like the real modules."""

    def call_module(
        self, m: nn.Module, forward: Callable[..., Any], args: Any, kwargs: Any
    ) -> Any:
        out: Any = super().call_module(m, forward, args, kwargs)
        if not isinstance(out, fx.Proxy):
            return out
        p: Any = out  # proxies index into getitem nodes
        if isinstance(m, nn.LSTM):
            return (p[0], (p[1][0], p[1][1]))
        if isinstance(m, nn.GRU | nn.RNN):
            return (p[0], p[1])
        return out


def trace_graph(model: nn.Module) -> fx.Graph:
    try:
        return _Tracer().trace(model)
    except Exception as exc:  # fx raises many types for untraceable code
        raise ModelError(
            f"cannot trace model {type(model).__name__} for structured pruning "
            f"(torch.fx): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


class Labeler:
    """State of one labeled interpretation; rules (see :mod:`._label_rules`) call its methods."""

    def __init__(self) -> None:
        self.sources: list[Source] = []
        self.consumers: list[Consumer] = []
        self.passthroughs: list[PassThrough] = []
        self.merges: set[tuple[int, int]] = set()
        self.frozen: dict[int, str] = {}
        self.n_units = 0

    def new_source(self, module: str, width: int, slot: tuple[int, int] | None = None) -> Any:
        key = module if slot is None else f"{module}[l{slot[0]},d{slot[1]}]"
        self.sources.append(Source(key, module, slot, self.n_units, width))
        ids = torch.arange(self.n_units, self.n_units + width)
        self.n_units += width
        return ids

    def freeze(self, labels: Any, reason: str) -> None:
        for t in _flat_tensors(labels):
            for u in torch.unique(t[t >= 0]).tolist():
                self.frozen.setdefault(int(u), reason)

    def merge(self, a: torch.Tensor, b: torch.Tensor) -> None:
        if a.numel():
            pairs = torch.unique(torch.stack([a, b], 1), dim=0)
            self.merges.update((int(x), int(y)) for x, y in pairs.tolist())

    def per_channel(self, labels: torch.Tensor, axis: int, where: str) -> torch.Tensor:
        """The single unit of each index along ``axis`` (NONE if none); mixed ones freeze."""
        n = labels.shape[axis]
        lab = labels.movedim(axis, 0).reshape(n, -1)
        if lab.shape[1] == 0:
            return torch.full((n,), NONE, dtype=torch.long)
        hi = lab.max(1).values
        big = torch.iinfo(torch.long).max
        lo = torch.where(lab >= 0, lab, torch.full_like(lab, big)).min(1).values
        mixed = (hi >= 0) & (lo != hi)
        if bool(mixed.any()):
            self.freeze(lab[mixed], f"channels of several units meet at {where}")
            hi = torch.where(mixed, torch.full_like(hi, NONE), hi)
        return hi

    def result(self) -> TraceResult:
        return TraceResult(
            tuple(self.sources),
            tuple(self.consumers),
            tuple(self.passthroughs),
            tuple(sorted(self.merges)),
            dict(self.frozen),
            self.n_units,
        )


def _flat_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in _flat_tensors(v)]
    return []


def none_like(real: Any) -> Any:
    """All-NONE labels shaped like ``real`` (tensors, nested tuples); None for non-tensors."""
    if isinstance(real, torch.Tensor):
        return torch.full(real.shape, NONE, dtype=torch.long)
    if isinstance(real, tuple | list) and not isinstance(real, torch.Size):
        return type(real)(none_like(v) for v in real)
    return None


def _fetch_attr(model: nn.Module, target: str) -> Any:
    obj: Any = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def label_model(model: nn.Module, example: torch.Tensor) -> TraceResult:
    """Trace ``model`` and label it on ``example`` (a batch of one sample)."""
    from edgeslim.passes.prune import _label_rules as rules

    graph = trace_graph(model)
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    lab = Labeler()
    real: dict[fx.Node, Any] = {}
    labels: dict[fx.Node, Any] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for node in graph.nodes:
                if node.op == "placeholder":
                    if node.target in ("x", "input") or not real:
                        real[node] = example
                    else:
                        real[node] = None
                    labels[node] = none_like(real[node])
                    continue
                if node.op == "output":
                    out_labels = fx.node.map_arg(node.args[0], lambda n: labels[n])
                    lab.freeze(out_labels, "reaches the model output")
                    continue
                args = fx.node.map_arg(node.args, lambda n: real[n])
                kwargs = fx.node.map_arg(node.kwargs, lambda n: real[n])
                largs = fx.node.map_arg(node.args, lambda n: labels[n])
                if node.op == "get_attr":
                    real[node] = _fetch_attr(model, str(node.target))
                    labels[node] = none_like(real[node])
                elif node.op == "call_module":
                    name = str(node.target)
                    module = modules[name]
                    calls[name] = calls.get(name, 0) + 1
                    real[node] = module(*args, **kwargs)
                    labels[node] = rules.module_labels(lab, name, module, args, largs, real[node])
                elif node.op == "call_function":
                    real[node] = node.target(*args, **kwargs)  # type: ignore[operator]
                    labels[node] = rules.function_labels(
                        lab, node.target, node.name, args, kwargs, largs, real[node]
                    )
                elif node.op == "call_method":
                    real[node] = getattr(args[0], str(node.target))(*args[1:], **kwargs)
                    labels[node] = rules.method_labels(
                        lab, str(node.target), node.name, args, kwargs, largs, real[node]
                    )
    finally:
        model.train(was_training)
    _check_shared(lab, calls, modules)
    return lab.result()


def _check_shared(lab: Labeler, calls: dict[str, int], modules: dict[str, nn.Module]) -> None:
    """A module with weights called twice cannot be cut for one call only: freeze its units."""
    for name, n in calls.items():
        if n < 2 or not any(True for _ in modules[name].parameters(recurse=False)):
            continue
        reason = f"module {name} is called more than once"
        units: list[int] = []
        for s in lab.sources:
            if s.module == name:
                units += range(s.offset, s.offset + s.width)
        for c in lab.consumers:
            if c.module == name:
                units += c.positions
        for p in lab.passthroughs:
            if p.module == name:
                units += p.channels
        for u in units:
            if u >= 0:
                lab.frozen.setdefault(u, reason)
