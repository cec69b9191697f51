"""How each module type is cut, and which of its weight elements belong to which unit.

A :class:`CutRule` is registered per module type (:data:`CUT_RULES`, looked up along the MRO).
It answers two questions for the dependency graph:

* *unit maps*: for a module's output units (``out_maps``), input positions (``in_maps``) or
  per-channel parameters (``pass_maps``), int tensors shaped like a parameter that hold, per
  element, the unit it belongs to (or ``NONE``). Importances sum element scores through these
  maps; regularizers broadcast per-unit values back through them. An element may belong to two
  units (a conv weight belongs to its output channel and its input channel), so maps come in a
  list, one per role.
* *cutting*: :meth:`CutRule.apply` replaces the module's parameters by the kept slices and fixes
  its attributes (``out_channels``, ``hidden_size``, ...), so the exported graph really shrinks.

Recurrent modules keep their gates coupled: hidden unit ``i`` of layer ``l``, direction ``d`` owns
rows ``g*H + i`` of every gate ``g`` in ``weight_ih``/``weight_hh``/biases, column ``i`` of its own
``weight_hh``, and column ``d*H + i`` of the next layer's ``weight_ih`` in both directions.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeslim.passes.prune._trace import NONE

UnitMap = tuple[str, torch.Tensor]  # (parameter attribute, unit id per element or NONE)


@dataclass(frozen=True)
class ModuleCut:
    """Kept indices of one module: outputs, hidden units per (layer, direction), inputs,
    per-channel parameters. ``None`` keeps everything on that axis."""

    out: torch.Tensor | None = None
    slots: Mapping[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    inp: torch.Tensor | None = None
    channels: torch.Tensor | None = None


def _replace(m: nn.Module, attr: str, value: torch.Tensor) -> None:
    old = getattr(m, attr)
    if isinstance(old, nn.Parameter):
        setattr(m, attr, nn.Parameter(value.detach().clone(), requires_grad=old.requires_grad))
    else:
        setattr(m, attr, value.detach().clone())


def _along(ids: torch.Tensor, shape: torch.Size, axis: int) -> torch.Tensor:
    view = [1] * len(shape)
    view[axis] = len(ids)
    return ids.reshape(view).expand(shape)


class CutRule(abc.ABC):
    """Unit maps and cuts of one module type. Rules are stateless."""

    def out_maps(self, m: Any, slot: tuple[int, int] | None, ids: torch.Tensor) -> list[UnitMap]:
        return []

    def in_maps(self, m: Any, positions: torch.Tensor) -> list[UnitMap]:
        return []

    def pass_maps(self, m: Any, channels: torch.Tensor) -> list[UnitMap]:
        return []

    @abc.abstractmethod
    def apply(self, m: Any, cut: ModuleCut) -> None:
        """Cut ``m`` in place to the kept indices of ``cut``."""


class _DenseRule(CutRule):
    """Conv (out, in/groups, *k) and Linear (out, in): outputs on dim 0, inputs on dim 1."""

    out_attr = "out_channels"
    in_attr = "in_channels"

    def out_maps(self, m: Any, slot: tuple[int, int] | None, ids: torch.Tensor) -> list[UnitMap]:
        maps = [("weight", _along(ids, m.weight.shape, 0))]
        if m.bias is not None:
            maps.append(("bias", ids))
        return maps

    def in_maps(self, m: Any, positions: torch.Tensor) -> list[UnitMap]:
        return [("weight", _along(positions, m.weight.shape, 1))]

    def pass_maps(self, m: Any, channels: torch.Tensor) -> list[UnitMap]:
        return self.out_maps(m, None, channels)

    def apply(self, m: Any, cut: ModuleCut) -> None:
        keep_out = cut.channels if cut.channels is not None else cut.out
        if keep_out is not None:
            _replace(m, "weight", m.weight[keep_out])
            if m.bias is not None:
                _replace(m, "bias", m.bias[keep_out])
            setattr(m, self.out_attr, len(keep_out))
        if cut.channels is not None:  # depthwise conv: inputs = outputs = groups
            m.in_channels = m.groups = len(cut.channels)
        elif cut.inp is not None:
            _replace(m, "weight", m.weight[:, cut.inp])
            setattr(m, self.in_attr, len(cut.inp))


class _LinearRule(_DenseRule):
    out_attr = "out_features"
    in_attr = "in_features"


class _BatchNormRule(CutRule):
    def pass_maps(self, m: Any, channels: torch.Tensor) -> list[UnitMap]:
        if not m.affine:
            return []
        return [("weight", channels), ("bias", channels)]

    def apply(self, m: Any, cut: ModuleCut) -> None:
        if cut.channels is None:
            return
        keep = cut.channels
        for attr in ("weight", "bias", "running_mean", "running_var"):
            if getattr(m, attr, None) is not None:
                _replace(m, attr, getattr(m, attr)[keep])
        m.num_features = len(keep)


_GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}


def _gates(m: Any) -> int:
    return next(g for t, g in _GATES.items() if isinstance(m, t))


def _sfx(d: int) -> str:
    return "_reverse" if d else ""


class _RecurrentRule(CutRule):
    """GRU / LSTM / RNN, stacked and bidirectional; one unit per (layer, direction, index)."""

    def out_maps(self, m: Any, slot: tuple[int, int] | None, ids: torch.Tensor) -> list[UnitMap]:
        assert slot is not None
        layer, d = slot
        rows = ids.repeat(_gates(m))
        own = f"l{layer}{_sfx(d)}"
        maps: list[UnitMap] = []
        for kind in ("ih", "hh"):
            w = getattr(m, f"weight_{kind}_{own}")
            maps.append((f"weight_{kind}_{own}", _along(rows, w.shape, 0)))
            if m.bias:
                maps.append((f"bias_{kind}_{own}", rows))
        w_hh = getattr(m, f"weight_hh_{own}")
        maps.append((f"weight_hh_{own}", _along(ids, w_hh.shape, 1)))
        if layer + 1 < m.num_layers:
            h = m.hidden_size
            for d2 in range(2 if m.bidirectional else 1):
                name = f"weight_ih_l{layer + 1}{_sfx(d2)}"
                cols = torch.full((getattr(m, name).shape[1],), NONE, dtype=torch.long)
                cols[d * h : (d + 1) * h] = ids
                maps.append((name, _along(cols, getattr(m, name).shape, 1)))
        return maps

    def in_maps(self, m: Any, positions: torch.Tensor) -> list[UnitMap]:
        dirs = 2 if m.bidirectional else 1
        return [
            (f"weight_ih_l0{_sfx(d)}", _along(positions, m.weight_ih_l0.shape, 1))
            for d in range(dirs)
        ]

    def apply(self, m: Any, cut: ModuleCut) -> None:
        h, dirs, g = m.hidden_size, 2 if m.bidirectional else 1, _gates(m)
        full = torch.arange(h)
        keep = {
            (li, d): cut.slots.get((li, d), full)
            for li in range(m.num_layers)
            for d in range(dirs)
        }
        sizes = {len(k) for k in keep.values()}
        if len(sizes) != 1:
            raise ValueError(f"hidden units kept per layer/direction differ: {sorted(sizes)}")
        inp = cut.inp if cut.inp is not None else torch.arange(m.input_size)
        for li in range(m.num_layers):
            for d in range(dirs):
                own = f"l{li}{_sfx(d)}"
                rows = torch.cat([gi * h + keep[(li, d)] for gi in range(g)])
                cols = (
                    inp
                    if li == 0
                    else torch.cat([d2 * h + keep[(li - 1, d2)] for d2 in range(dirs)])
                )
                _replace(m, f"weight_ih_{own}", getattr(m, f"weight_ih_{own}")[rows][:, cols])
                w_hh = getattr(m, f"weight_hh_{own}")
                _replace(m, f"weight_hh_{own}", w_hh[rows][:, keep[(li, d)]])
                if m.bias:
                    for kind in ("ih", "hh"):
                        name = f"bias_{kind}_{own}"
                        _replace(m, name, getattr(m, name)[rows])
        m.hidden_size = sizes.pop()
        m.input_size = len(inp)
        m._init_flat_weights()


CUT_RULES: Mapping[type, CutRule] = {
    nn.Conv1d: _DenseRule(),
    nn.Conv2d: _DenseRule(),
    nn.Conv3d: _DenseRule(),
    nn.Linear: _LinearRule(),
    nn.BatchNorm1d: _BatchNormRule(),
    nn.BatchNorm2d: _BatchNormRule(),
    nn.BatchNorm3d: _BatchNormRule(),
    nn.GRU: _RecurrentRule(),
    nn.LSTM: _RecurrentRule(),
    nn.RNN: _RecurrentRule(),
}


def rule_for(m: nn.Module) -> CutRule:
    for cls in type(m).__mro__:
        if cls in CUT_RULES:
            return CUT_RULES[cls]
    raise KeyError(f"no cut rule for module type {type(m).__name__}")
