"""Measure a generated tree library: agreement and speed on the host, instructions, flash and
RAM on an emulated Cortex-M. Every number is a :class:`Metric` with unit and provenance."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeslim._core.records import Metric, Provenance
from edgeslim.backends.qemu import CortexMRunner, McuResult, SectionSizes
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.trees._render import CArtifact, write_artifact
from edgeslim.codegen.trees.compiled import CompiledTrees
from edgeslim.targets import TargetProfile

MEASURED, SIMULATED, COMPUTED = Provenance.MEASURED, Provenance.SIMULATED, Provenance.COMPUTED


@dataclass(frozen=True, slots=True)
class Reference:
    """What the deployed model must reproduce: the source model on float test inputs."""

    x: np.ndarray  # float32 features (n, n_features)
    pred: np.ndarray  # class indices (classifiers) or values (regressors)
    proba: np.ndarray | None = None  # probabilities (classifiers)
    y: np.ndarray | None = None  # true labels as indices / targets, for accuracy


@dataclass(frozen=True, slots=True)
class Measurement:
    metrics: tuple[Metric, ...]
    details: dict[str, object] = field(default_factory=dict)

    def value(self, name: str) -> float:
        for m in self.metrics:
            if m.name == name:
                return m.value
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        return {"metrics": {m.key: m.to_dict() for m in self.metrics}, **self.details}


def _agreement(artifact: CArtifact, pred: np.ndarray, ref: Reference) -> float:
    if artifact.classifier:
        return float(np.mean(pred == ref.pred))
    scale = np.maximum(np.abs(ref.pred), 1.0)
    return float(
        np.mean(
            np.all(
                np.abs(pred - ref.pred).reshape(len(pred), -1)
                <= 1e-5 * scale.reshape(len(pred), -1),
                axis=1,
            )
        )
    )


def measure_host(
    artifact: CArtifact, ref: Reference, reps: int = 20, compiled: CompiledTrees | None = None
) -> Measurement:
    """Agreement with the reference, output error, accuracy and host ns/sample (gcc -O2)."""
    own = compiled is None
    c = compiled or CompiledTrees.build(artifact)
    try:
        pred = c.predict_index(ref.x)
        ms = [Metric("agreement", _agreement(artifact, pred, ref), "1", MEASURED, "host")]
        if artifact.classifier and ref.proba is not None:
            err = float(np.abs(c.predict_proba(ref.x) - ref.proba).max())
            ms.append(Metric("max_proba_error", err, "1", MEASURED, "host"))
        elif not artifact.classifier:
            err = float(np.abs(pred - ref.pred).max())
            ms.append(Metric("max_abs_error", err, "1", MEASURED, "host"))
        if ref.y is not None and artifact.classifier:
            ms.append(Metric("accuracy", float(np.mean(pred == ref.y)), "1", MEASURED, "host"))
        ns = c.ns_per_sample(ref.x, reps)
        ms.append(Metric("host_latency_per_sample", ns * 1e-9, "s", MEASURED, "host,gcc -O2"))
        return Measurement(tuple(ms), {"n_samples": len(ref.x)})
    finally:
        if own:
            c.close()


def harness_file(artifact: CArtifact, x_in: np.ndarray) -> RenderedFile:
    ctx = {
        "name": artifact.name,
        "NAME": artifact.name.upper(),
        "n": len(x_in),
        "rows": x_in.tolist(),
        "input_ctype": artifact.input_ctype,
        "classifier": artifact.classifier,
    }
    return RenderedFile("es_harness.c", CWriter().render("trees/harness_mcu.c.j2", ctx))


def _decode_reals(result: McuResult, real_ctype: str, n_out: int) -> np.ndarray:
    words = [[int(w, 16) for w in ln.split()] for ln in result.payload("es_raw")]
    arr = np.array(words, dtype=np.uint32)
    dtype = np.float32 if real_ctype == "float" else np.float64
    return arr.view(dtype).reshape(len(arr), n_out).astype(np.float64)


def measure_mcu(
    artifact: CArtifact,
    target: TargetProfile,
    ref: Reference,
    x_in: np.ndarray,
    workdir: Path | None = None,
) -> Measurement:
    """Instructions/sample, flash and RAM of the model object, agreement on the target.

    ``x_in`` are the inputs in the library's input type (codes if quantized) for the first
    rows of ``ref.x``.
    """
    with tempfile.TemporaryDirectory(prefix="edgeslim-mcu-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        write_artifact(artifact, work)
        CWriter().write([harness_file(artifact, x_in)], work)
        runner = CortexMRunner(target, work)
        sizes: SectionSizes = runner.object_size(work / artifact.source, [work])
        elf = runner.build([work / artifact.source, work / "es_harness.c"], [work])
        res = runner.run(elf)
    n = len(x_in)
    per_sample = (res.instructions("run") - res.instructions("loop")) / n
    raw = _decode_reals(res, artifact.real_ctype, artifact.n_outputs)
    sub = Reference(ref.x[:n], ref.pred[:n], None if ref.proba is None else ref.proba[:n])
    if artifact.classifier:
        pred = np.array([int(v) for v in res.payload("es_cls")])
    else:
        values = np.exp(raw) if artifact.info.get("transform") == "exp" else raw
        pred = values[:, 0] if values.shape[1] == 1 else values
    ctx = target.name
    ms = (
        Metric("instructions_per_sample", per_sample, "instr", SIMULATED, ctx),
        Metric("flash", sizes.flash, "B", COMPUTED, f"{ctx},model object"),
        Metric("ram", sizes.ram, "B", COMPUTED, f"{ctx},model object"),
        Metric("agreement", _agreement(artifact, pred, sub), "1", SIMULATED, ctx),
    )
    details: dict[str, object] = {
        "mcu_samples": n,
        "instructions_with_loop": res.instructions("run") / n,
        "text": sizes.text,
        "data": sizes.data,
        "bss": sizes.bss,
    }
    return Measurement(ms, details)
