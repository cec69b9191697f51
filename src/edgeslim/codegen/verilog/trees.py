"""Tree ensembles as pipelined comparator trees in Verilog.

The ensemble goes through the C exporter's passes (:func:`edgeslim.codegen.trees.pipeline.prepare`:
exact merge, integer feature codes with a per-split exactness census, integer leaves), so the
hardware works on integers only:

* stage 1: every distinct split ``code_f <= c`` of every tree is one comparator, all in parallel;
* stage 2: per tree and output, the comparator bits select the leaf value (a mux per split);
* stages 3..: a registered adder tree per output sums the leaves;
* last stage: the sums and, for classifiers, their argmax are registered.

One sample enters per cycle; the latency is ``3 + ceil(log2(trees))`` cycles. The Python
reference (:meth:`TreeHardware.reference`) computes the same integer sums with the IR's
predictor on the code-space ensemble, so simulation must match it bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.codegen._c import CWriter, RenderedFile
from edgeslim.codegen.trees.pipeline import ExportConfig, Prepared, prepare
from edgeslim.codegen.verilog._common import (
    VerilogArtifact,
    argmax_first,
    common_files,
    module_name,
    signed_bits,
    vlit,
)
from edgeslim.trees import TreeEnsemble, leaf_indices
from edgeslim.trees._ir import Objective, Tree


@dataclass(frozen=True, slots=True)
class TreeHardware:
    """A generated tree core with the model it computes (code space, integer leaves)."""

    artifact: VerilogArtifact
    prepared: Prepared

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Float features -> the integer codes the core reads (n, n_features)."""
        assert self.prepared.features is not None
        return self.prepared.features.encode(np.asarray(x, dtype=np.float32))

    def reference(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(integer sums (n, n_outputs), class index or -1) the core must produce."""
        ens = self.prepared.ensemble
        leaves = leaf_indices(ens, np.asarray(codes, dtype=np.float32))
        sums = np.zeros((len(codes), ens.n_outputs), dtype=np.int64)
        for i, t in enumerate(ens.trees):
            sums[:, t.output : t.output + t.width] += t.value[leaves[:, i]].astype(np.int64)
        cls = argmax_first(sums) if self.artifact.has_cls else np.full(len(codes), -1)
        return sums, cls

    def predict_index(self, sums: np.ndarray) -> np.ndarray:
        """Class indices (or regression values) from the core's integer sums, on the host."""
        ens = self.prepared.ensemble
        assert self.prepared.leaves is not None
        raw = sums.astype(np.float64) * self.prepared.leaves.scale
        if ens.average and ens.n_trees:
            raw /= ens.n_trees
        raw += np.asarray(ens.base_score, dtype=np.float64)
        if ens.objective is Objective.REGRESSION:
            return raw[:, 0] if raw.shape[1] == 1 else raw
        if raw.shape[1] == 1:
            return (raw[:, 0] > 0).astype(np.int64)
        return argmax_first(raw)


def _mux(tree: Tree, node: int, out: int, cmp_of: dict[int, int], bits: int) -> str:
    if tree.feature[node] < 0:
        return vlit(int(tree.value[node, out]), bits)
    k = cmp_of[node]
    left = _mux(tree, int(tree.left[node]), out, cmp_of, bits)
    right = _mux(tree, int(tree.right[node]), out, cmp_of, bits)
    return f"(c[{k}] ? {left} : {right})"


def _leaf_range(ens: TreeEnsemble) -> tuple[int, int, np.ndarray, np.ndarray]:
    lo_all, hi_all = 0, 0
    lo = np.zeros(ens.n_outputs, dtype=np.int64)
    hi = np.zeros(ens.n_outputs, dtype=np.int64)
    for t in ens.trees:
        v = t.value[t.is_leaf].astype(np.int64)
        lo_all, hi_all = min(lo_all, int(v.min())), max(hi_all, int(v.max()))
        lo[t.output : t.output + t.width] += v.min(axis=0)
        hi[t.output : t.output + t.width] += v.max(axis=0)
    return lo_all, hi_all, lo, hi


def tree_verilog(
    ens: TreeEnsemble,
    x_train: np.ndarray,
    name: str = "trees",
    feature_bits: int = 16,
    leaf_bits: int = 12,
) -> TreeHardware:
    """Generate the core, its synthesis wrapper and its Verilator testbench for ``ens``.

    ``x_train`` fixes the feature codes (as for the C exporter); ``leaf_bits`` the integer leaf
    resolution (the rounding bound is in ``info['leaf_quantization']``).
    """
    if not ens.trees:
        raise ExportError("cannot generate Verilog for an empty ensemble")
    if x_train is None or len(x_train) == 0:
        raise ExportError("Verilog for trees needs training data (x_train) for the feature codes")
    prep = prepare(ens, ExportConfig(feature_bits=feature_bits, leaf_bits=leaf_bits), x_train)
    q = prep.ensemble
    mod = module_name(name)
    cmp_index: dict[tuple[int, int], int] = {}
    cmp_lines: list[str] = []
    per_tree: list[dict[int, int]] = []
    for t in q.trees:
        mapping: dict[int, int] = {}
        for n in t.preorder():
            if t.feature[n] < 0:
                continue
            key = (int(t.feature[n]), int(t.threshold[n]))
            if key not in cmp_index:
                cmp_index[key] = len(cmp_index)
                f, c = key
                cmp_lines.append(f"c[{cmp_index[key]}] <= (f{f} <= {vlit(c, feature_bits + 1)});")
            mapping[n] = cmp_index[key]
        per_tree.append(mapping)
    n_cmp = max(len(cmp_index), 1)
    if not cmp_index:
        cmp_lines.append("c[0] <= 1'b0;")
    lo_all, hi_all, lo, hi = _leaf_range(q)
    vb = signed_bits(lo_all, hi_all)
    sb = signed_bits(int(lo.min()), int(hi.max()))
    leaf_decls, leaf_lines = [], []
    terms: list[list[str]] = [[] for _ in range(q.n_outputs)]
    for i, (t, mapping) in enumerate(zip(q.trees, per_tree, strict=True)):
        for j in range(t.width):
            reg = f"l{i}_{j}"
            leaf_decls.append(f"reg signed [{vb - 1}:0] {reg};")
            leaf_lines.append(f"{reg} <= {_mux(t, 0, j, mapping, vb)};")
            terms[t.output + j].append(reg)
    levels = max(math.ceil(math.log2(max(len(ts), 1))) for ts in terms)
    sum_decls, sum_lines, sum_out = [], [], []
    for o, ts in enumerate(terms):
        cur = ts or [vlit(0, sb)]
        for lvl in range(levels):
            nxt = []
            for k in range(0, len(cur), 2):
                reg = f"s{o}_{lvl}_{k // 2}"
                sum_decls.append(f"reg signed [{sb - 1}:0] {reg};")
                expr = f"{cur[k]} + {cur[k + 1]}" if k + 1 < len(cur) else cur[k]
                sum_lines.append(f"{reg} <= {expr};")
                nxt.append(reg)
            cur = nxt
        sum_out.append(cur[0])
    classifier = q.objective is Objective.CLASSIFICATION
    has_cls = classifier and q.n_outputs > 1 and len(set(q.base_score)) == 1
    cls_width = max(1, math.ceil(math.log2(max(q.n_outputs, 2))))
    latency = 3 + levels
    ctx = {
        "name": mod,
        "n_trees": q.n_trees,
        "n_cmp": n_cmp,
        "n_outputs": q.n_outputs,
        "n_features": q.n_features,
        "feature_bits": feature_bits,
        "in_width": q.n_features * feature_bits,
        "out_width": q.n_outputs * sb,
        "sum_bits": sb,
        "cls_width": cls_width,
        "has_cls": has_cls,
        "latency": latency,
        "sum_levels": levels,
        "cmp_lines": cmp_lines,
        "leaf_decls": leaf_decls,
        "leaf_lines": leaf_lines,
        "sum_decls": sum_decls,
        "sum_lines": sum_lines,
        "sum_out": sum_out,
    }
    core = RenderedFile(f"{mod}.v", CWriter().render("verilog/trees.v.j2", ctx))
    files = [
        core,
        *common_files(mod, q.n_features, feature_bits, q.n_outputs, sb, cls_width, latency + 4),
    ]
    info = {
        "kind": "trees",
        "n_trees": q.n_trees,
        "n_comparators": len(cmp_index),
        "n_splits": sum(len(m) for m in per_tree),
        "max_depth": q.max_depth,
        "latency_cycles": latency,
        "initiation_interval": 1,
        "leaf_bits": vb,
        "sum_bits": sb,
        "feature_bits": feature_bits,
        "argmax_in_hardware": has_cls,
        **{
            k: v
            for k, v in prep.report.items()
            if k in ("feature_quantization", "leaf_quantization")
        },
    }
    art = VerilogArtifact(
        mod,
        "trees",
        tuple(files),
        q.n_features,
        feature_bits,
        q.n_outputs,
        sb,
        cls_width,
        has_cls,
        True,
        info,
    )
    return TreeHardware(art, prep)
