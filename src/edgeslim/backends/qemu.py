"""Cortex-M runner: cross-compile a C library plus a harness, run it under QEMU, read it back.

::

    runner = CortexMRunner(load_target("cortex-m4"), workdir)
    elf = runner.build([model_c, harness_c], include_dirs=[workdir])
    result = runner.run(elf)                  # stdout lines, instructions from SysTick
    sizes = runner.object_size(model_c)       # flash = text + data, RAM = data + bss

The harness includes ``es_timer.h`` (in ``edgeslim/targets/mcu``), calls ``es_timer_start()``
and ``es_timer_ticks()`` around the measured work and prints ``es_ticks <n>`` lines with
semihosting ``printf``; :meth:`McuResult.instructions` converts ticks to instructions
(QEMU ``-icount shift=0``: one instruction per virtual nanosecond). Generic: the tree and the
neural-net code generators both use it. Importable on its own.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgeslim.backends.host_c import STRICT_FLAGS, ToolchainError, run_tool
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.targets import MCU_DIR, TargetProfile

SIZE_TOOL = "arm-none-eabi-size"
QEMU = "qemu-system-arm"
_TICKS = re.compile(r"^es_ticks\s+(\S+)\s+(\d+)\s*$")


def mcu_toolchain_available(target: TargetProfile) -> bool:
    return all(shutil.which(t) for t in (target.cc, SIZE_TOOL, QEMU))


@dataclass(frozen=True, slots=True)
class SectionSizes:
    """Berkeley sizes of one object (``.rodata`` counts in ``text``)."""

    text: int
    data: int
    bss: int

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss


@dataclass(frozen=True, slots=True)
class McuResult:
    """Output of one emulator run: stdout lines and the tick counters it printed."""

    lines: tuple[str, ...]
    ticks: dict[str, int] = field(default_factory=dict)
    instructions_per_tick: float = 40.0

    def instructions(self, key: str) -> float:
        """Instructions of the region the harness printed as ``es_ticks <key> <n>``."""
        if key not in self.ticks:
            raise ToolchainError(f"harness printed no 'es_ticks {key}' line")
        return self.ticks[key] * self.instructions_per_tick

    def payload(self, prefix: str) -> list[str]:
        """The remainder of every stdout line starting with ``prefix + ' '``."""
        start = prefix + " "
        return [ln[len(start) :] for ln in self.lines if ln.startswith(start)]


class CortexMRunner:
    """Builds and runs programs for one MCU target profile (``target.qemu`` must be set).

    ``strict`` adds :data:`STRICT_FLAGS` (C99, warnings as errors) to every compile; turn it
    off only to build third-party code (benchmark anchors) with the target flags alone.
    """

    def __init__(self, target: TargetProfile, workdir: Path, strict: bool = True) -> None:
        if target.qemu is None:
            raise ToolchainError(f"target {target.name} has no QEMU machine")
        self.target = target
        self.qemu = target.qemu
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.strict = strict

    def _linker_script(self) -> Path:
        assert self.target.flash_bytes is not None and self.target.ram_bytes is not None
        ctx = {
            "machine": self.qemu.machine,
            "flash_origin": hex(self.qemu.flash_origin),
            "ram_origin": hex(self.qemu.ram_origin),
            "flash_bytes": self.target.flash_bytes,
            "ram_bytes": self.target.ram_bytes,
        }
        text = CWriter(MCU_DIR).render("mcu.ld.j2", ctx)
        path = self.workdir / f"{self.target.name}.ld"
        CWriter(MCU_DIR).write([RenderedFile(path.name, text)], self.workdir)
        return path

    def _cc(self, *args: str) -> list[str]:
        strict = STRICT_FLAGS if self.strict else ()
        return [self.target.cc, *strict, *self.target.cflags, *args]

    def build(
        self,
        sources: Sequence[Path],
        include_dirs: Sequence[Path] = (),
        defines: Sequence[str] = (),
        out_name: str = "app.elf",
    ) -> Path:
        """Compile and link ``sources`` with the start-up code into an ELF for QEMU."""
        elf = self.workdir / out_name
        cmd = self._cc(
            "-T",
            str(self._linker_script()),
            "--specs=rdimon.specs",
            str(MCU_DIR / "startup.c"),
            *[str(s) for s in sources],
            f"-I{MCU_DIR}",
            *[f"-I{d}" for d in include_dirs],
            *[f"-D{d}" for d in defines],
            "-o",
            str(elf),
            "-lc",
            "-lrdimon",
            "-lm",
        )
        run_tool(cmd, f"cross-compiling for {self.target.name}")
        return elf

    def run(self, elf: Path, timeout: float = 300.0) -> McuResult:
        """Run ``elf`` under ``qemu-system-arm -icount shift=0`` with semihosting."""
        cmd = [
            QEMU,
            "-machine",
            self.qemu.machine,
            "-cpu",
            self.qemu.cpu,
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-semihosting-config",
            "enable=on,target=native",
            "-icount",
            "shift=0",
            "-kernel",
            str(elf),
        ]
        out = run_tool(cmd, f"running {elf.name} on {self.qemu.machine}", timeout).stdout
        lines = tuple(out.decode(errors="replace").splitlines())
        ticks = {}
        for ln in lines:
            m = _TICKS.match(ln)
            if m:
                ticks[m.group(1)] = int(m.group(2))
        return McuResult(lines, ticks, self.qemu.instructions_per_tick)

    def object_size(
        self, source: Path, include_dirs: Sequence[Path] = (), defines: Sequence[str] = ()
    ) -> SectionSizes:
        """Flash/RAM of one C file compiled alone (``-ffunction-sections``, target flags)."""
        obj = self.workdir / (Path(source).stem + ".o")
        run_tool(
            self._cc(
                "-ffunction-sections",
                "-fdata-sections",
                "-c",
                str(source),
                *[f"-I{d}" for d in include_dirs],
                *[f"-D{d}" for d in defines],
                "-o",
                str(obj),
            ),
            f"compiling {Path(source).name} for size",
        )
        out = run_tool([SIZE_TOOL, "-B", str(obj)], "arm-none-eabi-size").stdout.decode()
        fields = out.splitlines()[1].split()
        return SectionSizes(text=int(fields[0]), data=int(fields[1]), bss=int(fields[2]))
