"""Export and measurement pipeline for tree ensembles (what the CLI and the bench call).

``prepare`` applies the passes (exact merge, feature/threshold quantization, leaf
quantization, branch probabilities from data) and returns the model in code space with its
reports; ``export`` writes the C library and a JSON report; ``measure`` runs it on the host and
on emulated MCU targets; ``choose_layout`` implements ``--layout auto`` by measurement.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim._core.io import atomic_write
from edgeslim.backends.host_c import toolchain_available
from edgeslim.backends.qemu import mcu_toolchain_available
from edgeslim.codegen.trees._options import CTreeOptions, Layout
from edgeslim.codegen.trees._render import CArtifact, render_trees_c, write_artifact
from edgeslim.codegen.trees.compiled import CompiledTrees
from edgeslim.codegen.trees.measure import Measurement, Reference, measure_host, measure_mcu
from edgeslim.targets import TargetProfile
from edgeslim.trees import (
    FeatureQuantization,
    LeafQuantization,
    TreeEnsemble,
    cover_from_data,
    predict_index,
    predict_proba,
    quantize_features,
    quantize_leaves,
)
from edgeslim.trees._ir import Objective
from edgeslim.trees._layout import branch_probability_summary
from edgeslim.trees._prune import merge_identical


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """Model-level choices (the C-level ones are in :class:`CTreeOptions`)."""

    feature_bits: int = 0  # 0: float features; 8 or 16: integer codes
    leaf_bits: int = 0  # 0: float leaves; 2 .. 32: integer leaves (|q| < 2**(bits-1))
    merge: bool = True  # exact merge of splits with identical children
    batch: bool = False

    def __post_init__(self) -> None:
        if self.feature_bits not in (0, 8, 16):
            raise ExportError(f"feature bits must be 0, 8 or 16; got {self.feature_bits}")
        if self.leaf_bits != 0 and not 2 <= self.leaf_bits <= 32:
            raise ExportError(f"leaf bits must be 0 or 2 .. 32; got {self.leaf_bits}")


@dataclass(frozen=True, slots=True)
class Prepared:
    """The ensemble ready for C: in code space if features are quantized."""

    ensemble: TreeEnsemble
    features: FeatureQuantization | None
    leaves: LeafQuantization | None
    report: dict[str, object] = field(default_factory=dict)


def prepare(ens: TreeEnsemble, config: ExportConfig, x_train: np.ndarray | None) -> Prepared:
    report: dict[str, object] = {"model": ens.summary()}
    if x_train is not None:
        ens = cover_from_data(ens, x_train)
        report["branch_probabilities"] = "training data"
    else:
        report["branch_probabilities"] = "model cover (training counts stored in the model)"
    report.update(branch_probability_summary(ens))
    if config.merge:
        ens, merged = merge_identical(ens)
        report["merged_splits"] = merged
    features = None
    if config.feature_bits:
        if x_train is None:
            raise ExportError(
                "feature quantization needs training data (x_train) for the "
                "feature domains; import the model with --data"
            )
        ens, features = quantize_features(ens, x_train, config.feature_bits)
        report["feature_quantization"] = features.report()
    leaves = None
    if config.leaf_bits:
        ens, leaves = quantize_leaves(ens, config.leaf_bits)
        report["leaf_quantization"] = leaves.report()
    return Prepared(ens, features, leaves, report)


def render(prep: Prepared, options: CTreeOptions, batch: bool = False) -> CArtifact:
    return render_trees_c(prep.ensemble, options, prep.features, prep.leaves, batch)


def export(
    prep: Prepared, options: CTreeOptions, out_dir: Path, batch: bool = False
) -> tuple[CArtifact, Path]:
    """Write ``<name>.h``, ``<name>.c`` and ``<name>.report.json`` into ``out_dir``."""
    start = time.perf_counter()
    art = render(prep, options, batch)
    write_artifact(art, out_dir)
    report = dict(
        prep.report,
        **art.info,
        codegen_total_s=time.perf_counter() - start,
        files=[f.name for f in art.files],
        options=_options_dict(options),
    )
    path = Path(out_dir) / f"{art.name}.report.json"
    write_json(path, report)
    return art, path


def _options_dict(options: CTreeOptions) -> dict[str, object]:
    return {
        "name": options.name,
        "layout": options.layout.value,
        "accumulate": options.accumulate,
        "compare": options.compare.value,
        "hot_first": options.hot_first,
        "inline_leaves": options.inline_leaves,
        "preload": options.preload,
    }


def write_json(path: Path, data: object) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")


def _jsonable(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def reference(ens: TreeEnsemble, x: np.ndarray, y: np.ndarray | None) -> Reference:
    """Predictions of the (unquantized) ensemble: what every export must reproduce."""
    x = np.asarray(x, dtype=np.float32)
    pred = predict_index(ens, x)
    proba = predict_proba(ens, x) if ens.objective is Objective.CLASSIFICATION else None
    y_index = None
    if y is not None and ens.objective is Objective.CLASSIFICATION:
        lookup = {c: i for i, c in enumerate(ens.classes)}
        y_index = np.array(
            [lookup.get(v.item() if isinstance(v, np.generic) else v, -1) for v in y]
        )
    return Reference(x, pred, proba, y_index)


def measure(
    art: CArtifact,
    ref: Reference,
    targets: list[TargetProfile],
    mcu_samples: int = 300,
    reps: int = 20,
) -> dict[str, Measurement]:
    """Measure one artifact on each target (``host`` runs natively, MCUs under QEMU)."""
    out: dict[str, Measurement] = {}
    with CompiledTrees.build(art) as compiled:
        for tgt in targets:
            if not tgt.is_mcu:
                if not toolchain_available(tgt.cc):
                    raise ExportError(f"target {tgt.name}: compiler {tgt.cc!r} not found")
                out[tgt.name] = measure_host(art, ref, reps, compiled)
                continue
            if not mcu_toolchain_available(tgt):
                raise ExportError(
                    f"target {tgt.name}: needs {tgt.cc}, arm-none-eabi-size and "
                    "qemu-system-arm on PATH"
                )
            x_in = compiled.encode(ref.x[:mcu_samples])
            out[tgt.name] = measure_mcu(art, tgt, ref, x_in)
    return out


def choose_layout(
    prep: Prepared,
    options: CTreeOptions,
    ref: Reference,
    target: TargetProfile,
    mcu_samples: int = 200,
) -> tuple[Layout, dict[str, float]]:
    """``--layout auto``: the fastest layout (instructions on an MCU, ns on the host) whose
    flash fits the target; ties go to the smaller. Packed is tried when the features are
    integer codes and the model fits its 32-bit words."""
    scores: dict[str, float] = {}
    best: tuple[float, float, Layout] | None = None
    layouts = [Layout.IFELSE, Layout.ARRAY] + ([Layout.PACKED] if prep.features else [])
    for layout in layouts:
        try:
            art = render(prep, replace(options, layout=layout))
        except ExportError:
            if layout is Layout.PACKED:  # the model does not fit 32-bit words
                continue
            raise
        m = measure(art, ref, [target], mcu_samples=mcu_samples)[target.name]
        speed = (
            m.value("instructions_per_sample")
            if target.is_mcu
            else m.value("host_latency_per_sample")
        )
        flash = m.value("flash") if target.is_mcu else 0.0
        scores[layout.value] = speed
        fits = target.flash_bytes is None or flash <= target.flash_bytes
        key = (0.0 if fits else 1.0, speed, layout)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return best[2], scores
