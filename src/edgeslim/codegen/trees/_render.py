"""Render a tree ensemble (optionally feature- and leaf-quantized) to a C99 library."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.trees._array import build_array
from edgeslim.codegen.trees._ifelse import tree_lines
from edgeslim.codegen.trees._options import Compare, CTreeOptions, Layout
from edgeslim.trees._ir import Objective, Transform, TreeEnsemble
from edgeslim.trees._layout import leaf_table
from edgeslim.trees._leafquant import LeafQuantization
from edgeslim.trees._quantize import FeatureQuantization

BATCH_BLOCK = 16


@dataclass(frozen=True, slots=True)
class CArtifact:
    """A rendered C library: files plus what a caller needs to drive it."""

    name: str
    files: tuple[RenderedFile, ...]
    input_ctype: str
    real_ctype: str
    n_features: int
    n_outputs: int
    n_classes: int
    classifier: bool
    quantized: bool
    batch: bool
    info: dict[str, object] = field(default_factory=dict)

    @property
    def header(self) -> str:
        return f"{self.name}.h"

    @property
    def source(self) -> str:
        return f"{self.name}.c"


def _leaf_ctype(leaves: LeafQuantization | None, accumulate: str) -> str:
    if leaves is None:
        return accumulate
    return {8: "int8_t", 16: "int16_t", 32: "int32_t"}[leaves.bits]


def _quant_context(quant: FeatureQuantization) -> dict[str, object]:
    codes = []
    for i, c in enumerate(quant.codes):
        codes.append(
            {
                "index": i,
                "coding": c.coding.value,
                "edges": list(c.edges),
                "offset": c.offset,
                "inv_step": 1.0 / c.step,
                "lo": c.lo,
                "hi": c.hi,
            }
        )
    return {"bits": quant.bits, "codes": codes}


def _compare_mode(options: CTreeOptions, features: FeatureQuantization | None) -> str:
    if features is not None:
        return "int"
    return "bits" if options.compare is Compare.INT else "float"


def build_context(
    ens: TreeEnsemble,
    options: CTreeOptions,
    features: FeatureQuantization | None = None,
    leaves: LeafQuantization | None = None,
    batch: bool = False,
) -> dict[str, object]:
    """The template context (plain data) of the C library."""
    if not ens.trees:
        raise ExportError("cannot export an ensemble without trees")
    name = options.c_name
    mode = _compare_mode(options, features)
    int_leaves = leaves is not None
    real = options.accumulate
    leaf_ctype = _leaf_ctype(leaves, real)
    acc_ctype = "int32_t" if int_leaves else real
    input_ctype = f"int{features.bits}_t" if features is not None else "float"
    rows, maps = leaf_table(ens)
    derived = _derived_last(ens, rows, int_leaves)
    if derived is not None:
        rows = rows[:, :-1]
    classifier = ens.objective is Objective.CLASSIFICATION
    same_base = len(set(ens.base_score)) == 1
    ctx: dict[str, object] = {
        "name": name,
        "NAME": name.upper(),
        "summary": _summary(ens, options, features, leaves),
        "n_features": ens.n_features,
        "n_outputs": ens.n_outputs,
        "n_classes": ens.n_classes if classifier else 0,
        "n_trees": ens.n_trees,
        "classifier": classifier,
        "transform": ens.transform.value,
        "average": ens.average,
        "base": list(ens.base_score),
        "base_in_acc": not int_leaves and not ens.average,
        "int_leaves": int_leaves,
        "leaf_scale": leaves.scale if leaves is not None else 1.0,
        # argmax over the sums themselves: raw = common base + positive scale * sum, or the
        # base is already in the sums; this skips the scaling in the class prediction
        "argmax_acc": ens.transform is not Transform.SIGMOID
        and (same_base or (not int_leaves and not ens.average)),
        "input_ctype": input_ctype,
        "real_ctype": real,
        "acc_ctype": acc_ctype,
        "leaf_ctype": leaf_ctype,
        "thr_ctype": input_ctype if features is not None else "float",
        "compare_mode": mode,
        "layout": options.layout.value,
        "quant": _quant_context(features) if features is not None else None,
        "batch": batch,
        "batch_block": BATCH_BLOCK,
        "has_nan": mode == "float" and any(bool(t.nan_left.any()) for t in ens.trees),
        "derived_last": derived is not None,
        "derived_total": derived or 0,
    }
    if options.layout is Layout.IFELSE:
        ctx.update(_ifelse_context(ens, options, mode, acc_ctype, maps, rows))
    else:
        ctx.update(_array_context(ens, options, mode, input_ctype, maps, rows))
    return ctx


def _derived_last(ens: TreeEnsemble, rows: np.ndarray, int_leaves: bool) -> int | None:
    """``n_trees * S`` if every tree adds a full integer row summing to ``S`` (then the last
    lane need not be stored), else None."""
    if not int_leaves or ens.n_outputs < 2 or len(rows) == 0:
        return None
    if any(t.output != 0 or t.width != ens.n_outputs for t in ens.trees):
        return None
    sums = rows.sum(axis=1)
    if not np.all(sums == sums[0]) or sums[0] * ens.n_trees >= 2**31:
        return None
    return int(sums[0]) * ens.n_trees


def _ifelse_context(
    ens: TreeEnsemble,
    options: CTreeOptions,
    mode: str,
    acc_ctype: str,
    maps: list[dict[int, int]],
    rows: np.ndarray,
) -> dict[str, object]:
    trees = []
    any_vector = False
    for i, (t, leaf_of) in enumerate(zip(ens.trees, maps, strict=True)):
        vector = t.width > 1
        any_vector |= vector
        index_ctype = "uint16_t" if len(rows) < 65536 else "uint32_t"
        trees.append(
            {
                "index": i,
                "output": t.output,
                "width": rows.shape[1] if vector else 1,
                "n_leaves": t.n_leaves,
                "vector": vector,
                "ret_ctype": index_ctype if vector else acc_ctype,
                "lines": tree_lines(t, mode, options.hot_first, leaf_of if vector else None),
            }
        )
    return {
        "trees": trees,
        "leaf_rows": rows.tolist() if any_vector else [],
        "leaf_width": rows.shape[1],
    }


def _array_context(
    ens: TreeEnsemble,
    options: CTreeOptions,
    mode: str,
    input_ctype: str,
    maps: list[dict[int, int]],
    rows: np.ndarray,
) -> dict[str, object]:
    arr = build_array(ens, maps, options.hot_first, key_thresholds=mode == "bits")
    single = all(t.output == 0 and t.width == ens.n_outputs for t in ens.trees)
    return {
        "arr": arr,
        "leaf_rows": rows.tolist(),
        "leaf_width": rows.shape[1],
        "single_output_table": single,
        "walk_ctype": "int32_t" if mode == "bits" else input_ctype,
        "thr_ctype": "int32_t"
        if mode == "bits"
        else ("float" if mode == "float" else input_ctype),
    }


def _summary(
    ens: TreeEnsemble,
    options: CTreeOptions,
    features: FeatureQuantization | None,
    leaves: LeafQuantization | None,
) -> str:
    fq = f"int{features.bits} features" if features is not None else "float features"
    lq = f"int{leaves.bits} leaves" if leaves is not None else f"{options.accumulate} leaves"
    return (
        f"{ens.source or 'tree ensemble'}: {ens.n_trees} trees, {ens.n_leaves} leaves, "
        f"layout {options.layout.value}, {fq}, {lq}"
    )


def render_trees_c(
    ens: TreeEnsemble,
    options: CTreeOptions | None = None,
    features: FeatureQuantization | None = None,
    leaves: LeafQuantization | None = None,
    batch: bool = False,
) -> CArtifact:
    """Render ``<name>.h`` and ``<name>.c``; ``ens`` is in code space if ``features`` is set."""
    options = options or CTreeOptions()
    start = time.perf_counter()
    ctx = build_context(ens, options, features, leaves, batch)
    writer = CWriter()
    name = str(ctx["name"])
    files = (
        RenderedFile(f"{name}.h", writer.render("trees/model.h.j2", ctx)),
        RenderedFile(f"{name}.c", writer.render("trees/model.c.j2", ctx)),
    )
    info = {
        "layout": options.layout.value,
        "codegen_s": time.perf_counter() - start,
        "leaf_rows": len(ctx["leaf_rows"]),  # type: ignore[arg-type]
        "compare": ctx["compare_mode"],
        "transform": ens.transform.value,
    }
    return CArtifact(
        name=name,
        files=files,
        input_ctype=str(ctx["input_ctype"]),
        real_ctype=options.accumulate,
        n_features=ens.n_features,
        n_outputs=ens.n_outputs,
        n_classes=int(ctx["n_classes"]),  # type: ignore[call-overload]
        classifier=bool(ctx["classifier"]),
        quantized=features is not None,
        batch=batch,
        info=info,
    )


def write_artifact(artifact: CArtifact, out_dir: str | Path) -> list[Path]:
    """Write the artifact's files into ``out_dir`` atomically."""
    return CWriter().write(list(artifact.files), out_dir)
