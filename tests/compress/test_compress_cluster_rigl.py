"""Weight clustering (codebooks, packed indices in the artifact) and RigL sparse training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from compress_cases import IMAGE, ZOO, export_run, tiny_dataset, torch_out, zoo_model
from onnx import numpy_helper

from edgeslim.api.compress import initializer_bytes
from edgeslim.passes import create
from edgeslim.passes.compress import densities, kmeans_1d
from edgeslim.passes.prune._stats import weight_params

pytestmark = pytest.mark.torch


def test_kmeans_finds_separated_groups() -> None:
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(m, 0.01, 50) for m in (-1.0, 0.2, 3.0)])
    c, idx = kmeans_1d(v, 3)
    np.testing.assert_allclose(c, [-1.0, 0.2, 3.0], atol=0.01)
    assert len(set(idx[:50])) == 1 and idx[0] != idx[60]


@pytest.mark.parametrize(("case", "kind", "params", "spec"), ZOO, ids=[c[0] for c in ZOO])
@pytest.mark.parametrize("clusters", [4, 16])
def test_clustered_artifact_stores_codebook_and_packed_indices(
    case: str,
    kind: str,
    params: dict[str, Any],
    spec: Any,
    clusters: int,
    tmp_path: Path,
    make_ctx: Any,
) -> None:
    data = tiny_dataset(spec)
    model = zoo_model(kind, params, spec)
    result = create("compress.cluster", {"clusters": clusters, "epochs": 1}).apply(
        model, make_ctx(data)
    )
    for _, p in weight_params(result.model.float_module):
        if p.numel() > clusters:
            assert len(torch.unique(p)) <= clusters
    out, path = export_run(result.model, data, tmp_path / "c.onnx")
    np.testing.assert_allclose(out, torch_out(result.model, data), atol=1e-4, rtol=1e-4)
    proto = onnx.load(str(path))
    names = {d["indices"] for d in result.record["stored"].values()}
    packed = [i for i in proto.graph.initializer if i.name in names]
    assert len(packed) == len(result.record["stored"])
    if case in ("cnn", "mlp"):
        assert packed
    bits = 2 if clusters == 4 else 4
    for init in packed:
        n = int(np.prod(init.dims))
        assert len(init.raw_data) == -(-n * bits // 8)  # really packed
    _, ref = export_run(model, data, tmp_path / "ref.onnx")
    if packed:
        assert path.stat().st_size < ref.stat().st_size
        assert initializer_bytes(path) < initializer_bytes(ref)


def test_clustering_keeps_pruned_zeros(make_ctx: Any) -> None:
    data = tiny_dataset(IMAGE)
    model = zoo_model("cnn", {"channels": [8, 16], "hidden": 24}, IMAGE)
    pruned = create("prune.magnitude", {"sparsity": 0.5}).apply(model, make_ctx(data)).model
    zeros = {n: (p == 0).clone() for n, p in weight_params(pruned)}
    result = create("compress.cluster", {"clusters": 8, "epochs": 1}).apply(pruned, make_ctx(data))
    for n, p in weight_params(result.model.float_module):
        assert bool((p[zeros[n]] == 0).all()), n
        assert result.record["layers"][n]["zero_cluster"]


def test_erk_densities_meet_the_budget() -> None:
    shapes = [(8, 1, 3, 3), (16, 8, 3, 3), (10, 64)]
    for kind in ("uniform", "erk"):
        d = densities(shapes, 0.8, kind)
        total = sum(np.prod(s) for s in shapes)
        kept = sum(di * np.prod(s) for di, s in zip(d, shapes, strict=True))
        assert kept == pytest.approx(0.2 * total, rel=1e-6)
        assert all(0 < di <= 1 for di in d)


@pytest.mark.parametrize("case", ["cnn", "gru", "tcn"])
def test_rigl_keeps_a_fixed_budget_and_moves_weights(case: str, make_ctx: Any) -> None:
    _, kind, params, spec = next(c for c in ZOO if c[0] == case)
    data = tiny_dataset(spec, n=240)
    model = zoo_model(kind, params, spec)
    result = create(
        "compress.rigl", {"sparsity": 0.7, "epochs": 2, "update_every": 2, "init": "random"}
    ).apply(model, make_ctx(data))
    for n, p in weight_params(result.model):
        density = float((p != 0).float().mean())
        assert density <= 0.3 + 1.0 / p.numel(), n
    assert result.steps and sum(s["moved"] for s in result.steps) > 0
    sizes = {n: p.numel() for n, p in weight_params(result.model)}
    for n, s in result.record["layers"].items():
        assert s >= 0.7 - 1.0 / sizes[n], n  # the budget, up to rounding of tiny layers


def test_codebook_initializers_hold_the_clustered_values(tmp_path: Path, make_ctx: Any) -> None:
    data = tiny_dataset(IMAGE)
    model = zoo_model("mlp", {"hidden": [32]}, IMAGE)
    result = create("compress.cluster", {"clusters": 16, "epochs": 0}).apply(model, make_ctx(data))
    _, path = export_run(result.model, data, tmp_path / "c.onnx")
    proto = onnx.load(str(path))
    names = {d["codebook"] for d in result.record["stored"].values()}
    books = [numpy_helper.to_array(i) for i in proto.graph.initializer if i.name in names]
    assert books and all(len(b) <= 16 for b in books)


def test_bidirectional_lstm_shares_codebooks_across_directions_and_biases(
    tmp_path: Path, make_ctx: Any
) -> None:
    data = tiny_dataset(IMAGE)
    model = zoo_model("lstm", {"hidden": 12, "layers": 2, "bidirectional": True}, IMAGE)
    result = create("compress.cluster", {"clusters": 4, "bias_clusters": 16, "epochs": 0}).apply(
        model, make_ctx(data)
    )
    assert "rnn.bias_l1" in result.record["layers"]
    out, path = export_run(result.model, data, tmp_path / "l.onnx")
    np.testing.assert_allclose(out, torch_out(result.model, data), atol=1e-4, rtol=1e-4)
    proto = onnx.load(str(path))
    inits = {i.name for i in proto.graph.initializer}
    lstm = [n for n in proto.graph.node if n.op_type == "LSTM"]
    assert len(lstm) == 2
    for node in lstm:  # W, R and B of both layers are rebuilt from codebooks, none stored float
        assert not any(node.input[k] in inits for k in (1, 2, 3))
    assert max(d["bits"] for d in result.record["stored"].values()) == 4


def test_realized_gain_check_flags_a_claim_the_artifact_misses() -> None:
    from edgeslim.api.compress import realized_gains

    record = {
        "claim": {"params_before": 1000, "params_after": 500, "macs_before": 10, "macs_after": 10}
    }
    base = {"params": 1000.0, "macs": 10.0, "param_storage_bytes": 4000.0}
    ok = realized_gains(record, base, {"params": 520.0, "macs": 10.0})
    assert [c["metric"] for c in ok] == ["params"] and ok[0]["ok"]
    bad = realized_gains(record, base, {"params": 900.0})
    assert not bad[0]["ok"] and "below the claim" in bad[0]["message"]
    cluster = {"claim": {"float_weight_bytes": 3000, "stored_weight_bytes": 500}}
    assert realized_gains(cluster, base, {"param_storage_bytes": 1500.0})[0]["ok"]
    assert not realized_gains(cluster, base, {"param_storage_bytes": 3000.0})[0]["ok"]


@pytest.mark.parametrize("recipe", ["compress-digits.yaml", "compress-motions.yaml"])
def test_shipped_recipes_validate(recipe: str) -> None:
    from edgeslim import api

    root = Path(__file__).resolve().parents[2] / "recipes"
    specs = api.load_recipe(root / recipe)
    names = {p.name for s in specs for p in s.passes}
    for s in specs:
        for p in s.passes:
            create(p.name, p.params())
    assert "compress.chain" in names or "compress.lowrank" in names
