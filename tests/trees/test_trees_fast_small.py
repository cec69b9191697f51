"""The fast if-else code (inline integer leaves, preloaded features) and the packed layout:
compiled on the host (-std=c99 -Wall -Wextra -Werror) they reproduce the Python reference of
the quantized model exactly; the packed words decode to the tree structure."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import ensemble as E

from edgeslim._core.errors import ExportError
from edgeslim.codegen.trees import CTreeOptions, render_trees_c
from edgeslim.codegen.trees._packed import LEFT_LEAF, RIGHT_LEAF, _build, build_packed
from edgeslim.codegen.trees.compiled import CompiledTrees
from edgeslim.trees import (
    Objective,
    Transform,
    Tree,
    TreeEnsemble,
    dequantize,
    predict_index,
    quantize_features,
    quantize_leaves,
    raw_scores,
)
from edgeslim.trees._import import from_object
from edgeslim.trees._layout import leaf_table

MODELS = {
    "rf": lambda n, d, s: E.RandomForestClassifier(n_estimators=n, max_depth=d, random_state=s),
    "gb": lambda n, d, s: E.GradientBoostingClassifier(
        n_estimators=n, max_depth=min(d, 3), random_state=s
    ),
}
VARIANTS = {
    "ifelse": dict(layout="ifelse"),
    "ifelse-table": dict(layout="ifelse", inline_leaves=False),
    "ifelse-noload": dict(layout="ifelse", preload=False),
    "packed": dict(layout="packed"),
}


def _quantized(est, x, feature_bits: int, leaf_bits: int):  # type: ignore[no-untyped-def]
    ens, fq = quantize_features(from_object(est), x, feature_bits)
    assert fq.exact
    qens, lq = quantize_leaves(ens, leaf_bits)
    return qens, fq, lq


@pytest.mark.toolchain("cc")
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(sorted(MODELS)),
    n=st.integers(1, 8),
    depth=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    variant=st.sampled_from(sorted(VARIANTS)),
    feature_bits=st.sampled_from([8, 16]),
    leaf_bits=st.sampled_from([8, 13, 16]),
)
def test_fast_and_packed_code_is_exact(
    int_data, kind, n, depth, seed, variant, feature_bits, leaf_bits
) -> None:  # type: ignore[no-untyped-def]
    x, y = int_data
    est = MODELS[kind](n, depth, seed).fit(x, y)
    qens, fq, lq = _quantized(est, x, feature_bits, leaf_bits)
    art = render_trees_c(qens, CTreeOptions(**VARIANTS[variant]), fq, lq)  # type: ignore[arg-type]
    xq = fq.encode(x)
    with CompiledTrees.build(art) as c:
        exact = dequantize(qens, lq)  # what the integer code computes, as floats
        np.testing.assert_array_equal(c.predict_index(x), predict_index(exact, xq))
        want = raw_scores(exact, xq)
        np.testing.assert_allclose(c.raw(x), want.reshape(c.raw(x).shape), rtol=1e-5, atol=1e-6)


def _with_single_leaf_tree(n_classes: int) -> TreeEnsemble:
    t0 = Tree(
        feature=[0, -1, 1, -1, -1],
        threshold=[2, 0, -1, 0, 0],
        left=[1, -1, 3, -1, -1],
        right=[2, -1, 4, -1, -1],
        nan_left=[False] * 5,
        value=[[0, 0, 0], [8, 0, 0], [0, 0, 0], [2, 6, 0], [0, 3, 5]],
        cover=[10, 2, 8, 5, 3],
    )
    t1 = Tree(
        feature=[-1],
        threshold=[0],
        left=[-1],
        right=[-1],
        nan_left=[False],
        value=[[1, 1, 6]],
        cover=[10],
    )
    return TreeEnsemble(
        trees=(t0, t1),
        n_features=2,
        n_outputs=n_classes,
        objective=Objective.CLASSIFICATION,
        transform=Transform.IDENTITY,
        base_score=(0.0,) * n_classes,
        classes=tuple(range(n_classes)),
        average=True,
        source="test",
    )


@pytest.mark.toolchain("cc")
@pytest.mark.parametrize("variant", [*sorted(VARIANTS), "packed-local", "ifelse-groups"])
def test_single_leaf_tree_and_derived_lane(variant: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import edgeslim.codegen.trees._render as render_module

    if variant == "ifelse-groups":  # one C function per tree, as large ensembles get them
        monkeypatch.setattr(render_module, "GROUP_SPLITS", 1)
        variant = "ifelse"
    if variant == "packed-local":  # per-tree leaf references, as large models get them
        monkeypatch.setattr(
            render_module, "build_packed", lambda e, m, r: _build(e, m, r, local=True)
        )
        variant = "packed"
    ens = _with_single_leaf_tree(3)
    x = np.array([[a, b] for a in range(-1, 5) for b in range(-3, 3)], dtype=np.float32)
    qens, fq = quantize_features(ens, x, 16)
    qens, lq = quantize_leaves(qens, 16)
    art = render_trees_c(qens, CTreeOptions(**VARIANTS[variant]), fq, lq)  # type: ignore[arg-type]
    if variant == "ifelse":
        assert "_complete" in art.files[1].text  # rows sum to 8: one lane is derived
        groups = render_module.GROUP_SPLITS == 1
        assert ("_group_1(x, acc);" in art.files[1].text) == groups
    with CompiledTrees.build(art) as c:
        exact = dequantize(qens, lq)
        np.testing.assert_array_equal(c.predict_index(x), predict_index(exact, fq.encode(x)))
        want = raw_scores(exact, fq.encode(x))
        np.testing.assert_allclose(c.raw(x), want, rtol=1e-6)


@pytest.mark.parametrize("local", [False, True])
def test_packed_words_decode_to_the_tree(int_data, local: bool) -> None:  # type: ignore[no-untyped-def]
    x, y = int_data
    est = MODELS["rf"](3, 5, 0).fit(x, y)
    qens, _, _ = _quantized(est, x, 16, 16)
    rows, maps = leaf_table(qens)
    pk = _build(qens, maps, rows, local=local)
    assert pk.local == local
    f_mask = (1 << pk.feature_bits) - 1
    p_mask = (1 << pk.payload_bits) - 1
    base = 0

    def leaf_row(k: int, go_left: bool) -> int | None:
        """Walk one step in the packed words: next node (>= 0) or -1 - row."""
        w = pk.nodes[k]
        flags = (w >> pk.feature_bits) & 3
        p = (w >> pk.payload_shift) & p_mask
        if go_left:
            if flags & LEFT_LEAF:
                if local:
                    return -1 - pk.pairs[base + p]
                return -1 - (pk.pairs[2 * p] if flags & RIGHT_LEAF else p)
            return k + 1
        if flags & RIGHT_LEAF:
            if local:
                return -1 - pk.pairs[base + p + (1 if flags & LEFT_LEAF else 0)]
            return -1 - (pk.pairs[2 * p + 1] if flags & LEFT_LEAF else p)
        return k + 1 if flags & LEFT_LEAF else k + p

    for i, (t, leaf_of, root) in enumerate(zip(qens.trees, maps, pk.roots, strict=True)):
        base = pk.ref_base[i] if local else 0
        stack = [(0, root)]
        while stack:
            n, k = stack.pop()
            w = pk.nodes[k]
            assert w & f_mask == t.feature[n]
            thr = (w - (1 << 32) if w >> 31 else w) >> pk.threshold_shift
            assert thr == t.threshold[n]
            for child, left in ((t.left[n], True), (t.right[n], False)):
                nxt = leaf_row(k, left)
                assert nxt is not None
                if t.feature[child] < 0:
                    np.testing.assert_array_equal(pk.rows[-1 - nxt], rows[leaf_of[child]])
                else:
                    stack.append((int(child), nxt))


def test_packed_needs_codes_and_reports_overflow(int_data) -> None:  # type: ignore[no-untyped-def]
    x, y = int_data
    est = MODELS["rf"](2, 3, 0).fit(x, y)
    with pytest.raises(ExportError, match="integer feature codes"):
        render_trees_c(from_object(est), CTreeOptions(layout="packed"))
    qens, _, _ = _quantized(est, x, 16, 16)
    wide = qens.with_trees(
        [t.with_arrays(threshold=np.where(t.feature >= 0, 2.0**29, 0)) for t in qens.trees]
    )
    rows, maps = leaf_table(wide)
    with pytest.raises(ExportError, match="use --layout array"):
        build_packed(wide, maps, rows)


@pytest.mark.toolchain("cc")
def test_cli_measures_packed_and_table_leaves(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from edgeslim.cli.trees import app

    runner = CliRunner()
    bundle = tmp_path / "rf.npz"
    args = ["import", "--train", "rf", "--dataset", "iris", "--n-estimators", "4"]
    res = runner.invoke(app, [*args, "--max-depth", "4", "--out", str(bundle)])
    assert res.exit_code == 0, res.output
    for layout, extra in (("packed", []), ("ifelse", ["--table-leaves", "--no-preload"])):
        out = tmp_path / f"{layout}.json"
        res = runner.invoke(
            app,
            [
                *("measure", str(bundle), "--target", "host", "--layout", layout),
                *("--quantize", "int16", "--leaf-bits", "13", *extra),
                *("--out", str(out), "--store", str(tmp_path / "es.db")),
            ],
        )
        assert res.exit_code == 0, res.output
        metrics = json.loads(out.read_text())["runs"][f"{layout}/host"]["metrics"]
        assert metrics["agreement[host]"]["value"] == 1.0
    res = runner.invoke(app, ["export", str(bundle), "--layout", "packed", "-o", str(tmp_path)])
    assert res.exit_code != 0 and "integer feature codes" in str(res.exception)
