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
from edgeslim.codegen.trees._packed import PackedModel, build_packed
from edgeslim.trees._ir import Objective, Transform, Tree, TreeEnsemble
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
    return next(f"int{b}_t" for b in (8, 16, 32) if leaves.bits <= b)


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
    keys = {(c["coding"], c["offset"], c["inv_step"], c["lo"], c["hi"]) for c in codes}
    same_grid = len(keys) == 1 and codes[0]["coding"] != "rank"
    return {"bits": quant.bits, "codes": codes, "same_grid": same_grid}


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
    inline = options.layout is Layout.IFELSE and int_leaves and options.inline_leaves and not batch
    derived = _derived_last(ens, rows, int_leaves)
    derived_lane = ens.n_outputs - 1
    if derived is not None and inline:
        derived_lane = _busiest_lane(ens)
    elif derived is not None:
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
        "derived_lane": derived_lane,
        "inline_leaves": inline,
        "acc_sets": options.layout is Layout.IFELSE and not batch,
        "preload": options.preload and mode != "bits" and not batch,
    }
    if options.layout is Layout.IFELSE:
        skip = derived_lane if derived is not None else -1
        ctx.update(_ifelse_context(ens, options, mode, acc_ctype, maps, rows, inline, skip))
    elif options.layout is Layout.PACKED:
        ctx.update(_packed_context(ens, mode, batch, maps, rows))
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


GROUP_SPLITS = 8192  # splits per C function of the single-sample if-else code


def _groups(
    trees: list[dict[str, object]], ens: TreeEnsemble, preload: bool
) -> list[dict[str, object]]:
    """Consecutive trees in functions of at most ``GROUP_SPLITS`` splits (at least one tree
    each), with the features each function reads into locals: one huge function makes
    gcc -O2 superlinearly slow (100 trees of depth 10, 41k splits, did not compile in 15
    minutes), while each extra function costs the sample a call, the feature loads and the
    accumulator stores (~40 instructions)."""
    groups: list[dict[str, object]] = []
    count = GROUP_SPLITS + 1
    for t, tree in zip(trees, ens.trees, strict=True):
        n = int((tree.feature >= 0).sum())
        if count + n > GROUP_SPLITS:
            groups.append({"trees": [], "features": set(), "splits": 0})
            count = 0
        groups[-1]["trees"].append(t)  # type: ignore[attr-defined]
        groups[-1]["features"].update(int(f) for f in tree.feature[tree.feature >= 0])  # type: ignore[attr-defined]
        count += n
        groups[-1]["splits"] += n  # type: ignore[operator]
    for g in groups:
        g["preloaded"] = sorted(g.pop("features")) if preload else []  # type: ignore[call-overload]
    return groups


def _busiest_lane(ens: TreeEnsemble) -> int:
    """The output lane most often non-zero at the leaves a sample reaches (weighted by cover):
    the one to derive from the others, so inline leaves skip the most additions."""
    weight = np.zeros(ens.n_outputs)
    for t in ens.trees:
        leaves = t.is_leaf
        nz = (t.value[leaves] != 0).astype(np.float64)
        weight[t.output : t.output + t.width] += (nz * t.cover[leaves][:, None]).sum(axis=0)
    return int(np.argmax(weight))


def _inline_adds(tree: Tree, row: np.ndarray, skip: int) -> tuple[tuple[int, float], ...]:
    return tuple(
        (tree.output + j, float(v))
        for j, v in enumerate(row[: tree.width])
        if v != 0 and tree.output + j != skip
    )


def _ifelse_context(
    ens: TreeEnsemble,
    options: CTreeOptions,
    mode: str,
    acc_ctype: str,
    maps: list[dict[int, int]],
    rows: np.ndarray,
    inline: bool,
    skip: int,
) -> dict[str, object]:
    trees = []
    any_vector = False
    for i, (t, leaf_of) in enumerate(zip(ens.trees, maps, strict=True)):
        vector = t.width > 1 and not inline
        any_vector |= vector
        index_ctype = "uint16_t" if len(rows) < 65536 else "uint32_t"
        lines = tree_lines(t, mode, options.hot_first, leaf_of if t.width > 1 else None)
        if inline:
            lines = [
                ln._replace(adds=_inline_adds(t, rows[int(ln.leaf)], skip))
                if ln.kind == "leaf" and t.width > 1
                else ln
                for ln in lines
            ]
        trees.append(
            {
                "index": i,
                "output": t.output,
                "width": rows.shape[1] if vector else 1,
                "n_leaves": t.n_leaves,
                "vector": vector,
                "scalar": t.width == 1,
                "ret_ctype": index_ctype if vector else acc_ctype,
                "lines": lines,
            }
        )
    return {
        "trees": trees,
        # every feature a function uses: measured on rf30, keeping only the most-used ones in
        # locals (as many as registers allow) costs more than letting the compiler spill
        "groups": _groups(trees, ens, options.preload and mode != "bits"),
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


def _packed_context(
    ens: TreeEnsemble,
    mode: str,
    batch: bool,
    maps: list[dict[int, int]],
    rows: np.ndarray,
) -> dict[str, object]:
    if mode != "int":
        raise ExportError("layout packed needs integer feature codes (--quantize int16 or int8)")
    if batch:
        raise ExportError("layout packed has no batch entry point; use --layout array")
    pk = build_packed(ens, maps, rows)
    return {
        "pk": pk,
        "leaf_rows": pk.rows.tolist(),
        "leaf_width": rows.shape[1],
        "single_output_table": all(t.output == 0 and t.width == ens.n_outputs for t in ens.trees),
        "outputs": [t.output for t in ens.trees],
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
        "inline_leaves": bool(ctx["inline_leaves"]),
        "c_functions": len(ctx.get("groups", [])),  # type: ignore[arg-type]
    }
    pk = ctx.get("pk")
    if isinstance(pk, PackedModel):
        info["packed"] = {
            "threshold_bits": pk.threshold_bits,
            "feature_bits": pk.feature_bits,
            "payload_bits": pk.payload_bits,
            "leaf_references": "per tree" if pk.local else "global",
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
