"""A small MLP as an int8 integer network and its sequential Verilog core.

:func:`quantize_mlp` turns a float ``Linear``/``ReLU`` stack into integers: int8 inputs and
weights (symmetric, per tensor, scales from calibration data), int32 biases and accumulation,
and per hidden layer ``a = clip((acc * M + 2^(N-1)) >> N, 0, 127)`` with a 16-bit ``M`` (the
fixed-point multiplier of :func:`edgeslim.passes.quantize._integer.quantize_multiplier`,
rounded to 16 bits so that the hardware multiplier stays small). :meth:`Int8Mlp.reference` is
the bit-exact Python twin of the core; :func:`mlp_verilog` writes the core (one MAC per cycle,
weights in block RAM), its testbench and its synthesis wrapper.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeslim._core.errors import ExportError, ModelError
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.verilog._common import (
    VerilogArtifact,
    argmax_first,
    common_files,
    module_name,
)
from edgeslim.data.spec import Normalization
from edgeslim.passes.quantize._integer import quantize_multiplier


@dataclass(frozen=True, slots=True)
class Int8Mlp:
    """Integer MLP: ``weights[l]`` int8 (out, in), ``biases[l]`` int32, per hidden layer a
    16-bit multiplier and a right shift."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    mults: tuple[int, ...]
    shifts: tuple[int, ...]
    in_scale: float
    normalization: Normalization | None = None

    @property
    def dims(self) -> list[int]:
        return [self.weights[0].shape[1], *(w.shape[0] for w in self.weights)]

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Raw inputs -> int8 codes (n, inputs): normalize, flatten, scale, round, clip."""
        x = np.asarray(x, dtype=np.float32)
        if self.normalization is not None:
            x = self.normalization.apply(x)
        flat = x.reshape(len(x), -1).astype(np.float64)
        if flat.shape[1] != self.dims[0]:
            raise ExportError(f"inputs have {flat.shape[1]} values; the MLP takes {self.dims[0]}")
        return np.clip(np.rint(flat / self.in_scale), -127, 127).astype(np.int64)

    def reference(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int32 outputs of the last layer (n, out), argmax) exactly as the core computes."""
        a = np.asarray(codes, dtype=np.int64)
        acc = a
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            acc = a @ w.astype(np.int64).T + b.astype(np.int64)
            if layer < len(self.weights) - 1:
                n = self.shifts[layer]
                a = np.clip((acc * self.mults[layer] + (1 << (n - 1))) >> n, 0, 127)
        return acc, argmax_first(acc)

    @property
    def cycles(self) -> int:
        """Cycles from input capture to the output register (see the template)."""
        d = self.dims
        hidden = sum(o * (i + 22) for i, o in itertools.pairwise(d[:-1]))
        return 2 + hidden + d[-1] * (d[-2] + 4)


def linear_layers(module: Any) -> list[Any]:
    """The ``Linear`` layers of a ``Linear``/``ReLU`` stack (``Flatten``, ``Dropout`` and
    ``Identity`` are allowed); anything else raises :class:`ModelError` naming it."""
    import torch

    ok = (torch.nn.Flatten, torch.nn.Dropout, torch.nn.Identity, torch.nn.ReLU)
    linears, relu_after, bad = [], [], []
    for name, m in module.named_modules():
        if isinstance(m, torch.nn.Linear):
            linears.append(m)
            relu_after.append(False)
        elif isinstance(m, torch.nn.ReLU):
            if linears:
                relu_after[-1] = True
        elif len(list(m.children())) == 0 and not isinstance(m, ok):
            bad.append(f"{name} ({type(m).__name__})")
    if bad:
        raise ModelError(
            f"layers {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''} are not supported by "
            "the int8 MLP core; it takes Linear/ReLU stacks"
        )
    if not linears:
        raise ModelError(
            "the model has no Linear layer; the int8 MLP core takes Linear/ReLU stacks"
        )
    if not all(relu_after[:-1]) or relu_after[-1]:
        raise ModelError(
            "the int8 MLP core needs ReLU after every hidden Linear and none at the end"
        )
    return linears


def _mult16(m: float) -> tuple[int, int]:
    m0, sh = quantize_multiplier(np.asarray([m]))
    mult = (int(m0[0]) + (1 << 15)) >> 16
    n = 15 - int(sh[0])
    if mult >= 1 << 15:
        mult, n = mult >> 1, n - 1
    if not 1 <= n <= 100:
        raise ExportError(f"requantization multiplier {m:g} is out of range for the core")
    return mult, n


def quantize_mlp(
    module: Any, x_calib: np.ndarray, normalization: Normalization | None = None
) -> Int8Mlp:
    """Integer MLP of ``module`` with scales from ``x_calib`` (raw inputs, a few hundred)."""
    layers = linear_layers(module)
    x = np.asarray(x_calib, dtype=np.float32)
    if normalization is not None:
        x = normalization.apply(x)
    a = x.reshape(len(x), -1).astype(np.float64)
    s_a = max(float(np.abs(a).max()), 1e-12) / 127.0
    in_scale = s_a
    ws, bs, mults, shifts = [], [], [], []
    for k, lin in enumerate(layers):
        w = lin.weight.detach().double().numpy()
        b = lin.bias.detach().double().numpy() if lin.bias is not None else np.zeros(w.shape[0])
        s_w = max(float(np.abs(w).max()), 1e-12) / 127.0
        ws.append(np.clip(np.rint(w / s_w), -127, 127).astype(np.int8))
        bs.append(np.rint(b / (s_a * s_w)).astype(np.int32))
        a = a @ w.T + b
        if k < len(layers) - 1:
            a = np.maximum(a, 0.0)
            s_next = max(float(a.max()), 1e-12) / 127.0
            mult, n = _mult16(s_a * s_w / s_next)
            mults.append(mult)
            shifts.append(n)
            s_a = s_next
    return Int8Mlp(tuple(ws), tuple(bs), tuple(mults), tuple(shifts), in_scale, normalization)


def _bits(n: int) -> int:
    return max(1, math.ceil(math.log2(max(n, 2))))


def mlp_verilog(mlp: Int8Mlp, name: str = "mlp") -> VerilogArtifact:
    """The sequential int8 core (one MAC per cycle) with its testbench and wrapper."""
    mod = module_name(name)
    dims = mlp.dims
    weights = np.concatenate([w.reshape(-1) for w in mlp.weights]).astype(np.int64)
    biases = np.concatenate(list(mlp.biases)).astype(np.int64)
    rom = [f"wrom[{i}] = 8'h{int(v) & 0xFF:02x};" for i, v in enumerate(weights)]
    rom += [f"brom[{i}] = 32'h{int(v) & 0xFFFFFFFF:08x};" for i, v in enumerate(biases)]
    layers = [
        {
            "n_in": i,
            "n_out": o,
            "mult": mlp.mults[k] if k < len(mlp.mults) else 0,
            "nshift": mlp.shifts[k] if k < len(mlp.shifts) else 1,
        }
        for k, (i, o) in enumerate(itertools.pairwise(dims))
    ]
    n_out = dims[-1]
    cls_width = _bits(n_out)
    ctx = {
        "name": mod,
        "dims": dims,
        "cycles": mlp.cycles,
        "in_width": dims[0] * 8,
        "out_width": n_out * 32,
        "cls_width": cls_width,
        "n_out": n_out,
        "n_layers": len(layers),
        "layer_bits": _bits(len(layers)),
        "idx_bits": _bits(max(dims) + 1),
        "waddr_bits": _bits(len(weights) + 1),
        "baddr_bits": _bits(len(biases) + 1),
        "n_weights": len(weights),
        "n_biases": len(biases),
        "max_width": max(dims[1:]),
        "rom_lines": rom,
        "layers": layers,
    }
    core = RenderedFile(f"{mod}.v", CWriter().render("verilog/mlp_int8.v.j2", ctx))
    files = [core, *common_files(mod, dims[0], 8, n_out, 32, cls_width, mlp.cycles + 8)]
    info = {
        "kind": "mlp-int8",
        "layers": dims,
        "weights": len(weights),
        "macs": int(sum(i * o for i, o in itertools.pairwise(dims))),
        "latency_cycles": mlp.cycles,
        "initiation_interval": mlp.cycles,
        "in_scale": mlp.in_scale,
    }
    return VerilogArtifact(
        mod, "mlp-int8", tuple(files), dims[0], 8, n_out, 32, cls_width, True, False, info
    )
