"""Shared pieces of the Verilog generators: the artifact record, literals and bit packing.

Every generated core has the same ports, so one testbench, one synthesis wrapper and one
simulator runner serve all of them::

    clk, rst, in_valid, in_ready, x[IN_WIDTH], out_valid, y[OUT_WIDTH], cls[CLS_WIDTH]

``x`` holds ``n_in`` signed fields of ``in_bits`` each (field 0 in the low bits); ``y`` holds
``n_out`` signed fields of ``out_bits`` each; ``cls`` is the argmax of ``y`` (first maximum).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.codegen._c import CWriter, RenderedFile, sanitize_identifier

CYCLE_LIMIT_DEFAULT = 64


@dataclass(frozen=True, slots=True)
class VerilogArtifact:
    """A generated core: its files, port layout and what it computes."""

    name: str
    kind: str  # "trees" or "mlp-int8"
    files: tuple[RenderedFile, ...]
    n_in: int
    in_bits: int
    n_out: int
    out_bits: int
    cls_width: int
    has_cls: bool
    pipelined: bool  # a new sample every cycle (trees) or one at a time (sequential MLP)
    info: Mapping[str, object] = field(default_factory=dict)

    @property
    def in_width(self) -> int:
        return self.n_in * self.in_bits

    @property
    def out_width(self) -> int:
        return self.n_out * self.out_bits

    @property
    def core(self) -> str:
        return f"{self.name}.v"

    @property
    def wrapper(self) -> str:
        return f"{self.name}_io.v"

    @property
    def testbench(self) -> str:
        return f"{self.name}_tb.cpp"

    def write(self, out_dir: str | Path, force: bool = False) -> list[Path]:
        out = Path(out_dir)
        existing = [f.name for f in self.files if (out / f.name).exists()]
        if existing and not force:
            raise ExportError(f"{out / existing[0]} exists; pass --force to overwrite")
        return CWriter().write(list(self.files), out)

    def pack_inputs(self, codes: np.ndarray) -> np.ndarray:
        """Integer input fields (n, n_in) as the testbench's uint32 words (n, in_words)."""
        return pack_fields(np.asarray(codes, dtype=np.int64), self.in_bits)

    def unpack_outputs(self, words: np.ndarray) -> np.ndarray:
        """The testbench's output words back into signed fields (n, n_out)."""
        return unpack_fields(words, self.out_bits, self.n_out)


def words_for(bits: int) -> int:
    return (bits + 31) // 32


def vlit(value: int, bits: int) -> str:
    """A signed Verilog literal of ``bits`` bits (``-17'sd5``); checks the range."""
    v = int(value)
    if not -(2 ** (bits - 1)) <= v < 2 ** (bits - 1):
        raise ExportError(f"value {v} does not fit a signed {bits}-bit field")
    return f"-{bits}'sd{-v}" if v < 0 else f"{bits}'sd{v}"


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the smallest signed field holding every integer in ``[lo, hi]``."""
    b = 2
    while not (-(2 ** (b - 1)) <= lo and hi < 2 ** (b - 1)):
        b += 1
    return b


def pack_fields(values: np.ndarray, bits: int) -> np.ndarray:
    """Signed fields (n, k) -> little-endian uint32 words (n, ceil(k * bits / 32))."""
    n, k = values.shape
    mask = (1 << bits) - 1
    words = np.zeros((n, words_for(k * bits)), dtype=np.uint32)
    for r in range(n):
        acc = 0
        for j in range(k):
            acc |= (int(values[r, j]) & mask) << (j * bits)
        for w in range(words.shape[1]):
            words[r, w] = (acc >> (32 * w)) & 0xFFFFFFFF
    return words


def unpack_fields(words: np.ndarray, bits: int, k: int) -> np.ndarray:
    """Inverse of :func:`pack_fields` (sign-extends each field)."""
    n = len(words)
    out = np.zeros((n, k), dtype=np.int64)
    mask = (1 << bits) - 1
    for r in range(n):
        acc = 0
        for w in range(words.shape[1]):
            acc |= int(words[r, w]) << (32 * w)
        for j in range(k):
            v = (acc >> (j * bits)) & mask
            out[r, j] = v - (1 << bits) if v >> (bits - 1) else v
    return out


def common_files(
    name: str, n_in: int, in_bits: int, n_out: int, out_bits: int, cls_width: int, cycles: int
) -> list[RenderedFile]:
    """The synthesis wrapper and the Verilator testbench of a core with the standard ports."""
    w = CWriter()
    ctx = {
        "name": name,
        "in_width": n_in * in_bits,
        "out_width": n_out * out_bits,
        "cls_width": cls_width,
        "in_words": words_for(n_in * in_bits),
        "out_words": words_for(n_out * out_bits),
        "cycle_limit": max(cycles, CYCLE_LIMIT_DEFAULT),
    }
    return [
        RenderedFile(f"{name}_io.v", w.render("verilog/io_wrapper.v.j2", ctx)),
        RenderedFile(f"{name}_tb.cpp", w.render("verilog/tb.cpp.j2", ctx)),
    ]


def module_name(name: str) -> str:
    """A Verilog/C++-safe module name (Verilator builds ``V<name>`` classes)."""
    return sanitize_identifier(name, "m").lower()


def argmax_first(values: np.ndarray) -> np.ndarray:
    """Index of the first maximum per row (what the generated argmax computes)."""
    return np.argmax(values, axis=1).astype(np.int64)
