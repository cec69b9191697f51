"""Host C backend: compile a generated C library with the host compiler and call it.

* :func:`compile_shared` builds a shared object (``cc -O3 -march=native -fPIC -shared``, see
  :data:`HOST_OPT`) loadable with :class:`SharedLibrary` (ctypes).
* :func:`compile_executable` builds a program, optionally under
  ``-fsanitize=address,undefined`` (:data:`SANITIZE_FLAGS`), and :func:`run_program` runs it.

Every compile uses :data:`STRICT_FLAGS` (C99, all warnings as errors), so generated code that
warns fails here. Nothing reads environment variables; the compiler is an argument.
Importable on its own: it needs only the standard library and :mod:`edgeslim._core`.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeslim._core.errors import EdgeslimError

STRICT_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
SANITIZE_FLAGS = (
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-g",
)


class ToolchainError(EdgeslimError):
    """A compiler, linker or emulator is missing or failed (names the tool and file)."""


# The host target runs where it is compiled: -O3 and the build machine's instruction set.
# -ffp-contract=off keeps every float multiply and add separately rounded (no FMA), so the host
# build computes the same IEEE operations as the scalar MCU build (results within the 1e-5
# relative contract either way; with contraction they would differ in the last bits).
# No -ffast-math: it reorders float sums and breaks the contract. ``-march=native`` is dropped
# when the compiler rejects it (see :meth:`HostCompiler.flags`).
HOST_OPT = ("-O3", "-march=native", "-ffp-contract=off")
NATIVE_FLAGS = frozenset({"-march=native", "-mtune=native", "-mcpu=native"})


@functools.lru_cache(maxsize=16)
def _accepts(cc: str, flag: str) -> bool:
    """Whether ``cc`` compiles an empty translation unit with ``flag``."""
    try:
        proc = subprocess.run(
            [cc, flag, "-x", "c", "-c", "-o", os.devnull, "-"],
            input=b"int es_probe;\n",
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@dataclass(frozen=True, slots=True)
class HostCompiler:
    """The host C compiler and its optimization flags (:data:`HOST_OPT` by default)."""

    cc: str = "cc"
    opt: tuple[str, ...] = HOST_OPT

    def path(self) -> str:
        found = shutil.which(self.cc)
        if found is None:
            raise ToolchainError(f"C compiler {self.cc!r} not found on PATH")
        return found

    def flags(self) -> tuple[str, ...]:
        """``opt`` without the native-CPU flags the compiler rejects (e.g. ``-march=native``
        on compilers or architectures without it), so the build falls back cleanly."""
        cc = self.path()
        return tuple(f for f in self.opt if f not in NATIVE_FLAGS or _accepts(cc, f))


def toolchain_available(cc: str = "cc") -> bool:
    return shutil.which(cc) is not None


def run_tool(
    cmd: Sequence[str], what: str, timeout: float = 600.0, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a tool; raise :class:`ToolchainError` with the tail of its stderr on failure."""
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, timeout=timeout, input=stdin, check=False
        )
    except FileNotFoundError as err:
        raise ToolchainError(f"{what}: {cmd[0]} not found") from err
    except subprocess.TimeoutExpired as err:
        raise ToolchainError(f"{what}: {cmd[0]} timed out after {timeout:.0f} s") from err
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace")[-1500:]
        raise ToolchainError(f"{what} failed (exit {proc.returncode}): {tail}")
    return proc


def _compile(
    sources: Sequence[Path],
    out: Path,
    extra: Sequence[str],
    compiler: HostCompiler,
    include_dirs: Sequence[Path],
    defines: Sequence[str],
    libs: Sequence[str],
) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [compiler.path(), *STRICT_FLAGS, *compiler.flags(), *extra]
    cmd += [f"-I{d}" for d in include_dirs] + [f"-D{d}" for d in defines]
    cmd += [str(s) for s in sources] + ["-o", str(out), *libs]
    run_tool(cmd, f"compiling {', '.join(Path(s).name for s in sources)}")
    return out


def compile_shared(
    sources: Sequence[Path],
    out: Path,
    compiler: HostCompiler | None = None,
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
) -> Path:
    """Compile ``sources`` into the shared object ``out``."""
    return _compile(
        sources,
        out,
        ["-fPIC", "-shared"],
        compiler or HostCompiler(),
        include_dirs,
        defines,
        ["-lm"],
    )


def compile_executable(
    sources: Sequence[Path],
    out: Path,
    compiler: HostCompiler | None = None,
    include_dirs: Sequence[Path] = (),
    defines: Sequence[str] = (),
    sanitize: bool = False,
) -> Path:
    """Compile a program; with ``sanitize`` under AddressSanitizer and UBSan (abort on error)."""
    extra = list(SANITIZE_FLAGS) if sanitize else []
    return _compile(
        sources, out, extra, compiler or HostCompiler(), include_dirs, defines, ["-lm"]
    )


def run_program(
    exe: Path, args: Sequence[str] = (), stdin: bytes | None = None, timeout: float = 600.0
) -> bytes:
    """Run a compiled program; return its stdout (a sanitizer report fails the run)."""
    return run_tool([str(exe), *args], f"running {exe.name}", timeout, stdin).stdout


class SharedLibrary:
    """A loaded shared object. ``close`` unloads it (idempotent); use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._lib: ctypes.CDLL | None = ctypes.CDLL(str(self.path))
        except OSError as err:
            raise ToolchainError(f"cannot load {self.path}: {err}") from err

    def function(self, name: str, restype: object, argtypes: Sequence[object]) -> Any:
        if self._lib is None:
            raise ToolchainError(f"{self.path.name} is closed")
        fn = getattr(self._lib, name)
        fn.restype = restype
        fn.argtypes = list(argtypes)
        return fn

    def close(self) -> None:
        lib, self._lib = self._lib, None
        if lib is not None:
            dlclose = ctypes.CDLL(None).dlclose
            dlclose.argtypes = [ctypes.c_void_p]
            dlclose(lib._handle)

    def __enter__(self) -> SharedLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
