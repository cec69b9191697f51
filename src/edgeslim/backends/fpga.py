"""FPGA backend: Verilator simulation and Yosys + nextpnr-ice40 synthesis of a Verilog core.

Works on files only (the generators live in :mod:`edgeslim.codegen.verilog`); every core has
the standard ports described there, a C++ testbench ``<top>_tb.cpp`` and a synthesis wrapper
``<top>_io``.

* :func:`simulate` builds the testbench with ``verilator --cc --exe --build`` and runs the
  samples through the core: outputs, latency per sample and the cycle span (streaming).
* :func:`synthesize` runs ``yosys synth_ice40`` and ``nextpnr-ice40`` for a part (``up5k``,
  ``hx8k``, or ``auto``: the smallest that fits) and reads LUTs, flip-flops, block RAMs and the
  achieved fmax from their JSON reports. A design that does not fit is reported, not raised.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeslim.backends.host_c import ToolchainError, run_tool

ICE40_PARTS: dict[str, dict[str, int]] = {
    # logic cells (one LUT4 + one FF each), 4 kbit block RAMs, from the Lattice data sheets
    "up5k": {"lcs": 5280, "brams": 30},
    "hx8k": {"lcs": 7680, "brams": 32},
}
SIM_TOOLS = ("verilator",)
SYNTH_TOOLS = ("yosys", "nextpnr-ice40")


def tool_versions() -> dict[str, str | None]:
    """Version line of each FPGA tool, ``None`` where it is missing."""
    flags = {"verilator": "--version", "yosys": "-V", "nextpnr-ice40": "--version"}
    out: dict[str, str | None] = {}
    for tool, flag in flags.items():
        if shutil.which(tool) is None:
            out[tool] = None
            continue
        proc = subprocess.run([tool, flag], capture_output=True, timeout=30, check=False)
        text = (proc.stdout or proc.stderr).decode(errors="replace").strip().splitlines()
        out[tool] = text[0] if text else "unknown"
    return out


def simulator_available() -> bool:
    return all(shutil.which(t) for t in SIM_TOOLS) and shutil.which("c++") is not None


def synthesis_available() -> bool:
    return all(shutil.which(t) for t in SYNTH_TOOLS)


def missing(tools: Sequence[str]) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


@dataclass(frozen=True, slots=True)
class SimResult:
    """What the testbench saw: per sample class, output words and latency; total cycles."""

    cls: np.ndarray  # (n,)
    words: np.ndarray  # (n, out_words) uint32
    latency: np.ndarray  # (n,) cycles from input capture to output
    span: int  # cycles from the first input capture to the last output
    cycles: int  # all simulated cycles (with reset)

    @property
    def cycles_per_inference(self) -> float:
        """Initiation interval in streaming mode: span / samples."""
        return self.span / max(len(self.cls), 1)


def build_testbench(src_dir: Path, top: str, work: Path) -> Path:
    """Compile ``<top>.v`` with ``<top>_tb.cpp`` into an executable (verilator -O2)."""
    if missing(SIM_TOOLS):
        raise ToolchainError(
            "Verilator simulation needs verilator on PATH (apt install verilator)"
        )
    obj = work / "obj"
    cmd = [
        "verilator", "--cc", "--exe", "--build", "-O2", "--x-assign", "fast",
        "--x-initial", "fast", "-Wno-fatal", "-Wno-WIDTH",
        "--top-module", top, "-Mdir", str(obj), "-o", f"{top}_tb",
        "-MAKEFLAGS", "-j2",
        str(src_dir / f"{top}.v"), str(src_dir / f"{top}_tb.cpp"),
    ]  # fmt: skip
    run_tool(cmd, f"verilator build of {top}", timeout=900)
    return obj / f"{top}_tb"


def simulate(
    src_dir: str | Path,
    top: str,
    inputs: np.ndarray,
    out_words: int,
    workdir: str | Path,
    stream: bool = True,
    exe: Path | None = None,
) -> SimResult:
    """Run ``inputs`` (uint32 words, one row per sample) through the core under Verilator.

    ``stream``: a new sample whenever the core is ready (measures the initiation interval);
    otherwise one sample at a time (latency only). Pass ``exe`` to reuse a built testbench.
    """
    src, work = Path(src_dir), Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    exe = exe or build_testbench(src, top, work)
    words = np.ascontiguousarray(inputs, dtype=np.uint32)
    in_path, out_path = work / "inputs.bin", work / "outputs.txt"
    in_path.write_bytes(np.uint32(len(words)).tobytes() + words.tobytes())
    run_tool([str(exe), str(in_path), str(out_path), "1" if stream else "0"], f"simulating {top}")
    return _read_sim(out_path.read_text(), out_words)


def _read_sim(text: str, out_words: int) -> SimResult:
    cls, lat, rows = [], [], []
    span = cycles = 0
    for line in text.splitlines():
        if line.startswith("#"):
            m = re.search(r"cycles (\d+) span (\d+)", line)
            if m:
                cycles, span = int(m.group(1)), int(m.group(2))
            continue
        parts = line.split()
        cls.append(int(parts[0]))
        lat.append(int(parts[1]))
        rows.append([int(w, 16) for w in parts[2 : 2 + out_words]])
    return SimResult(
        np.asarray(cls, dtype=np.int64),
        np.asarray(rows, dtype=np.uint32).reshape(len(rows), out_words),
        np.asarray(lat, dtype=np.int64),
        span,
        cycles,
    )


@dataclass(frozen=True, slots=True)
class SynthResult:
    """Synthesis and place-and-route of one core for one iCE40 part."""

    part: str
    fits: bool
    luts: int  # SB_LUT4 cells after synthesis
    ffs: int  # flip-flops (SB_DFF*) after synthesis
    brams: int  # SB_RAM40_4K blocks
    logic_cells: int | None  # ICESTORM_LC used after place and route
    fmax_hz: float | None  # achieved fmax of clk (nextpnr), None if it did not place
    message: str = ""
    tried: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {
            "part": self.part,
            "fits": self.fits,
            "luts": self.luts,
            "ffs": self.ffs,
            "brams": self.brams,
            "logic_cells": self.logic_cells,
            "fmax_hz": self.fmax_hz,
            "message": self.message,
            "tried": list(self.tried),
        }


def _yosys(sources: Sequence[Path], top: str, work: Path) -> tuple[Path, dict[str, int]]:
    netlist, stat = work / f"{top}.json", work / f"{top}.stat.json"
    reads = "; ".join(f"read_verilog {s}" for s in sources)
    script = f"{reads}; synth_ice40 -top {top} -json {netlist}; tee -q -o {stat} stat -json"
    run_tool(["yosys", "-q", "-p", script], f"yosys synth_ice40 of {top}", timeout=900)
    cells: dict[str, int] = {}
    data = json.loads(stat.read_text())
    mod = data.get("modules", {}).get(f"\\{top}") or next(iter(data.get("modules", {}).values()))
    for cell, count in mod.get("num_cells_by_type", {}).items():
        cells[str(cell)] = int(count)
    return netlist, cells


def _nextpnr(netlist: Path, part: str, work: Path) -> tuple[int | None, float | None, str]:
    report = work / f"pnr-{part}.json"
    cmd = [
        "nextpnr-ice40", f"--{part}", "--json", str(netlist), "--report", str(report),
        "--pcf-allow-unconstrained", "--timing-allow-fail", "--freq", "12", "--seed", "1",
        "--quiet",
    ]  # fmt: skip
    try:
        run_tool(cmd, f"nextpnr-ice40 --{part}", timeout=900)
    except ToolchainError as err:
        msg = str(err)
        for pat in (r"Design uses [^\n]*", r"Unable to place [^\n]*", r"[^\n]*too many[^\n]*"):
            m = re.search(pat, msg)
            if m:
                return None, None, m.group(0).strip()
        return None, None, msg[-300:]
    data = json.loads(report.read_text())
    lc = data.get("utilization", {}).get("ICESTORM_LC", {}).get("used")
    fmax = data.get("fmax", {})
    achieved = [float(v["achieved"]) for v in fmax.values() if "achieved" in v]
    return (
        None if lc is None else int(lc),
        min(achieved) * 1e6 if achieved else None,
        "",
    )


def synthesize(
    src_dir: str | Path, top: str, workdir: str | Path, part: str = "auto"
) -> SynthResult:
    """Synthesize ``<top>_io`` (serial-in wrapper of the core) for an iCE40 part.

    ``part="auto"`` tries the parts by size and keeps the first that places; the result says
    which part, or that none fits (``fits=False`` with nextpnr's reason).
    """
    if missing(SYNTH_TOOLS):
        raise ToolchainError(
            f"synthesis needs {', '.join(missing(SYNTH_TOOLS))} on PATH "
            "(apt install yosys nextpnr-ice40 fpga-icestorm)"
        )
    parts = list(ICE40_PARTS) if part == "auto" else [part]
    for p in parts:
        if p not in ICE40_PARTS:
            raise ToolchainError(f"unknown iCE40 part {p!r}; known: {', '.join(ICE40_PARTS)}")
    src, work = Path(src_dir), Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    netlist, cells = _yosys([src / f"{top}.v", src / f"{top}_io.v"], f"{top}_io", work)
    luts = cells.get("SB_LUT4", 0)
    ffs = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
    brams = sum(v for k, v in cells.items() if k.startswith("SB_RAM40"))
    tried: list[str] = []
    message = ""
    for p in parts:
        tried.append(p)
        cap = ICE40_PARTS[p]
        if luts > cap["lcs"] * 1.05 or brams > cap["brams"]:  # clearly too big: skip P&R
            message = (
                f"{p}: needs {luts} LUTs / {brams} BRAMs; part has {cap['lcs']} / {cap['brams']}"
            )
            continue
        lcs, fmax, msg = _nextpnr(netlist, p, work)
        if lcs is not None:
            return SynthResult(p, True, luts, ffs, brams, lcs, fmax, "", tuple(tried))
        message = f"{p}: {msg}"
    return SynthResult(parts[-1], False, luts, ffs, brams, None, None, message, tuple(tried))
