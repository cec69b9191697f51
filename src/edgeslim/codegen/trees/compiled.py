"""Python-side ``predict`` of a generated tree library, compiled on the host and called by ctypes.

::

    with CompiledTrees.build(artifact) as m:
        labels = m.predict_index(x)
        proba = m.predict_proba(x)

Feature quantization (if the artifact has it) runs in C too (``<name>_quantize``), so the
whole path users deploy is what gets tested.
"""

from __future__ import annotations

import ctypes
import shutil
import tempfile
from pathlib import Path

import numpy as np

from edgeslim._core.errors import DataError
from edgeslim.backends.host_c import (
    HostCompiler,
    SharedLibrary,
    compile_executable,
    compile_shared,
    run_program,
)
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.trees._render import CArtifact, write_artifact

_NP = {"float": np.float32, "double": np.float64, "int16_t": np.int16, "int8_t": np.int8}


def shim_file(artifact: CArtifact) -> RenderedFile:
    """The host driver (batch loops, timing, optional ``main``) of an artifact."""
    ctx = {
        "name": artifact.name,
        "NAME": artifact.name.upper(),
        "classifier": artifact.classifier,
        "quant": artifact.quantized,
        "batch": artifact.batch,
        "n_proba": artifact.n_classes if artifact.classifier else artifact.n_outputs,
    }
    return RenderedFile("es_host_shim.c", CWriter().render("trees/host_shim.c.j2", ctx))


class CompiledTrees:
    """A tree library compiled into a shared object. Not thread-safe; ``close`` when done."""

    def __init__(
        self, artifact: CArtifact, lib: SharedLibrary, workdir: Path, owns_workdir: bool
    ) -> None:
        self.artifact = artifact
        self._lib = lib
        self.workdir = workdir
        self._owns = owns_workdir
        self._in = _NP[artifact.input_ctype]
        self._real = _NP[artifact.real_ctype]

    @classmethod
    def build(
        cls, artifact: CArtifact, workdir: Path | None = None, compiler: HostCompiler | None = None
    ) -> CompiledTrees:
        owns = workdir is None
        work = Path(tempfile.mkdtemp(prefix="edgeslim-trees-")) if workdir is None else workdir
        write_artifact(artifact, work)
        CWriter().write([shim_file(artifact)], work)
        so = compile_shared(
            [work / artifact.source, work / "es_host_shim.c"],
            work / f"lib{artifact.name}.so",
            compiler,
        )
        return cls(artifact, SharedLibrary(so), work, owns)

    # -- inputs -------------------------------------------------------------------------------
    def _ptr(self, a: np.ndarray) -> ctypes.c_void_p:
        return ctypes.c_void_p(a.ctypes.data)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Float features -> the library's input type (``<name>_quantize`` when quantized)."""
        x = np.ascontiguousarray(np.atleast_2d(np.asarray(x, dtype=np.float32)))
        if x.shape[1] != self.artifact.n_features:
            raise DataError(
                f"features must have shape (n, {self.artifact.n_features}); got {x.shape}"
            )
        if not self.artifact.quantized:
            return x
        q = np.zeros(x.shape, dtype=self._in)
        fn = self._lib.function(
            "es_host_quantize", ctypes.c_int32, [ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p]
        )
        fn(self._ptr(x), len(x), self._ptr(q))
        return q

    def _call_rows(self, fname: str, x: np.ndarray, width: int, dtype: type) -> np.ndarray:
        xin = self.encode(x)
        out: np.ndarray = np.zeros((len(xin), width), dtype=dtype)
        fn = self._lib.function(
            fname, ctypes.c_int32, [ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p]
        )
        if fn(self._ptr(xin), len(xin), self._ptr(out)) != 0:
            raise DataError(f"{self.artifact.name}: {fname} failed")
        return out

    # -- predictions --------------------------------------------------------------------------
    def raw(self, x: np.ndarray, batch: bool = False) -> np.ndarray:
        fname = "es_host_raw_batch" if batch and self.artifact.batch else "es_host_raw"
        return self._call_rows(fname, x, self.artifact.n_outputs, self._real).astype(np.float64)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        width = self.artifact.n_classes if self.artifact.classifier else self.artifact.n_outputs
        return self._call_rows("es_host_proba", x, width, self._real).astype(np.float64)

    def predict_index(self, x: np.ndarray) -> np.ndarray:
        """Class indices (classifiers) or predicted values (regressors)."""
        if not self.artifact.classifier:
            out = self.predict_proba(x)
            return out[:, 0] if out.shape[1] == 1 else out
        return self._call_rows("es_host_predict", x, 1, np.int32)[:, 0].astype(np.int64)

    def ns_per_sample(self, x: np.ndarray, reps: int = 20) -> float:
        """Host nanoseconds per sample of the single-sample entry point (noisy; use ratios)."""
        xin = self.encode(x)
        fn = self._lib.function(
            "es_host_ns_per_sample",
            ctypes.c_double,
            [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32],
        )
        return float(fn(self._ptr(xin), len(xin), int(reps)))

    def run_sanitized(
        self, x: np.ndarray, compiler: HostCompiler | None = None
    ) -> dict[str, np.ndarray]:
        """Run every sample through a separate ASan+UBSan build; return its outputs."""
        a = self.artifact
        exe = compile_executable(
            [self.workdir / a.source, self.workdir / "es_host_shim.c"],
            self.workdir / f"{a.name}_asan",
            compiler or HostCompiler(opt=("-O1",)),
            defines=["ES_HOST_MAIN"],
            sanitize=True,
        )
        xin = self.encode(x)
        payload = np.int32(len(xin)).tobytes() + xin.tobytes()
        out = run_program(exe, stdin=payload)
        n_proba = a.n_classes if a.classifier else a.n_outputs
        rec = np.dtype(
            [
                ("cls", np.int32),
                ("raw", self._real, (a.n_outputs,)),
                ("proba", self._real, (n_proba,)),
            ]
        )
        arr = np.frombuffer(out, dtype=rec, count=len(xin))
        return {
            "cls": arr["cls"].astype(np.int64),
            "raw": arr["raw"].astype(np.float64),
            "proba": arr["proba"].astype(np.float64),
        }

    def close(self) -> None:
        self._lib.close()
        if self._owns:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> CompiledTrees:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
