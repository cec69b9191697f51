"""The realized-gain check warns exactly when a claimed gain does not show in the artifact."""

from __future__ import annotations

from edgeslim.passes.prune import check_realized
from edgeslim.passes.prune._claims import warnings_of

STRUCT = {
    "sparsity": 0.5,
    "params_before": 1000,
    "params_after": 500,
    "macs_before": 2000,
    "macs_after": 1000,
}


def test_structured_claim_that_shows_passes() -> None:
    base = {"params": 1000, "macs": 2000, "weight_bytes": 4000}
    pruned = {"params": 520, "macs": 1000, "weight_bytes": 2080}
    checks = check_realized(STRUCT, base, pruned, structured=True)
    assert {c.metric for c in checks} == {"params", "macs", "weight_bytes"}
    assert warnings_of(checks) == []


def test_structured_claim_missing_from_the_artifact_warns() -> None:
    base = {"params": 1000, "macs": 2000, "weight_bytes": 4000}
    pruned = {"params": 990, "macs": 2000, "weight_bytes": 3960}  # export lost the cut
    warnings = warnings_of(check_realized(STRUCT, base, pruned, structured=True))
    assert len(warnings) == 3
    assert any(
        "macs: claimed 50.0% less, the exported artifact has 0.0% less" in w for w in warnings
    )


def test_unstructured_sparsity_warns_that_the_dense_artifact_does_not_shrink() -> None:
    claim = {"sparsity": 0.7, "params_before": 1000, "params_after": 1000}
    base = {"params": 1000, "artifact_bytes": 4400, "sparsity": 0.0}
    pruned = {
        "params": 1000,
        "artifact_bytes": 4400,
        "sparsity": 0.7,
        "sparse_artifact_bytes": 2000,
    }
    checks = check_realized(claim, base, pruned, structured=False)
    by = {c.metric: c for c in checks}
    assert by["sparsity"].ok
    assert not by["artifact_bytes"].ok
    assert "stored sparse (.esw) it takes 54.5% less" in by["artifact_bytes"].message


def test_unstructured_zeros_lost_in_export_warn() -> None:
    claim = {"sparsity": 0.7}
    checks = check_realized(
        claim, {"artifact_bytes": 1.0}, {"sparsity": 0.1, "artifact_bytes": 1.0}, structured=False
    )
    assert not next(c for c in checks if c.metric == "sparsity").ok


def test_fewer_macs_but_slower_latency_warns() -> None:
    base = {"params": 1000, "macs": 2000, "weight_bytes": 4000, "latency_p50": 30e-6}
    pruned = {"params": 500, "macs": 1000, "weight_bytes": 2000, "latency_p50": 40e-6}
    checks = {c.metric: c for c in check_realized(STRUCT, base, pruned, structured=True)}
    assert not checks["latency_p50"].ok
    assert "round_to" in checks["latency_p50"].message
    faster = {**pruned, "latency_p50": 20e-6}
    checks = {c.metric: c for c in check_realized(STRUCT, base, faster, structured=True)}
    assert checks["latency_p50"].ok
