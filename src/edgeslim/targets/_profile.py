"""Target profiles: frozen records read from YAML files, validated in one place."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgeslim._core.errors import EdgeslimError

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
MCU_DIR = Path(__file__).resolve().parent / "mcu"

_FPU = ("none", "sp", "dp")
_KIND = ("host", "mcu")


@dataclass(frozen=True, slots=True)
class QemuSpec:
    """How to emulate the target: QEMU machine and CPU, memory origins, SysTick clock."""

    machine: str
    cpu: str
    flash_origin: int
    ram_origin: int
    systick_hz: int
    fpu_enable: bool

    @property
    def instructions_per_tick(self) -> float:
        """With ``-icount shift=0`` QEMU runs one instruction per virtual nanosecond."""
        return 1e9 / self.systick_hz


@dataclass(frozen=True, slots=True)
class Energy:
    joules_per_cycle: float | None
    source: str


@dataclass(frozen=True, slots=True)
class TargetProfile:
    name: str
    description: str
    kind: str
    arch: str
    flash_bytes: int | None
    ram_bytes: int | None
    clock_hz: int | None
    fpu: str  # "none" | "sp" | "dp"
    dsp: bool
    cc: str
    cflags: tuple[str, ...]
    qemu: QemuSpec | None
    energy: Energy

    @property
    def is_mcu(self) -> bool:
        return self.kind == "mcu"

    @property
    def has_double_fpu(self) -> bool:
        return self.fpu == "dp"

    @property
    def has_fpu(self) -> bool:
        return self.fpu != "none"

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "arch": self.arch,
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "clock_hz": self.clock_hz,
            "fpu": self.fpu,
            "dsp": self.dsp,
            "cflags": list(self.cflags),
            "qemu_machine": self.qemu.machine if self.qemu else None,
            "joules_per_cycle": self.energy.joules_per_cycle,
            "energy_source": self.energy.source,
        }


def target_names() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def _need(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise EdgeslimError(f"target profile {where}: missing key {key!r}")
    return d[key]


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


def _parse(d: dict[str, Any], where: str) -> TargetProfile:
    fpu = str(_need(d, "fpu", where))
    kind = str(_need(d, "kind", where))
    if fpu not in _FPU or kind not in _KIND:
        raise EdgeslimError(
            f"target profile {where}: fpu must be one of {_FPU} and kind one of "
            f"{_KIND}; got {fpu!r}, {kind!r}"
        )
    q = d.get("qemu")
    qemu = None
    if q:
        qemu = QemuSpec(
            machine=str(_need(q, "machine", where)),
            cpu=str(_need(q, "cpu", where)),
            flash_origin=int(q.get("flash_origin", 0)),
            ram_origin=int(q.get("ram_origin", 0x20000000)),
            systick_hz=int(_need(q, "systick_hz", where)),
            fpu_enable=bool(q.get("fpu_enable", False)),
        )
    e = _need(d, "energy", where)
    return TargetProfile(
        name=str(_need(d, "name", where)),
        description=str(d.get("description", "")),
        kind=kind,
        arch=str(d.get("arch", "")),
        flash_bytes=_opt_int(d.get("flash_bytes")),
        ram_bytes=_opt_int(d.get("ram_bytes")),
        clock_hz=_opt_int(d.get("clock_hz")),
        fpu=fpu,
        dsp=bool(d.get("dsp", False)),
        cc=str(_need(d, "cc", where)),
        cflags=tuple(str(f) for f in d.get("cflags", ())),
        qemu=qemu,
        energy=Energy(
            joules_per_cycle=None
            if e.get("joules_per_cycle") is None
            else float(e["joules_per_cycle"]),
            source=str(e.get("source", "")),
        ),
    )


@functools.cache
def load_target(name: str) -> TargetProfile:
    """The bundled profile ``name`` (see :func:`target_names`)."""
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise EdgeslimError(f"unknown target {name!r}; known: {', '.join(target_names())}")
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise EdgeslimError(f"target profile {path}: not a mapping")
    prof = _parse(data, str(path))
    if prof.name != name:
        raise EdgeslimError(f"target profile {path}: name {prof.name!r} differs from file name")
    return prof
