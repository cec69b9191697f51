"""The realized-gain check: does what a pruning pass claims show in the exported artifact?

A pass claims numbers counted on the torch model (``record["claim"]``): weight sparsity,
parameters and MACs before and after. The artifact is measured (:mod:`edgeslim.measure`) for
the unpruned and the pruned model. Each claimed gain is compared with the realized one; one
realized below ``(1 - tolerance)`` of the claim gives a warning that the table and the report
show beside the run. The comparison is plain arithmetic on numbers, so this layer needs no
measuring code.

Checked:

* ``sparsity`` (unstructured): claimed weight sparsity vs zeros among the artifact's weights;
* ``params``, ``macs`` and ``weight_bytes`` (the bytes of the artifact's parameters): claimed
  vs realized reduction (structured pruning); and where MACs fell by 20 % or more, whether the
  measured latency (``latency_p50``, onnxruntime, 1 thread, batch 1) did not rise beyond 10 %
  timing noise: fewer MACs do not always mean less time;
* ``artifact_bytes`` (unstructured): zeroed weights should shrink the deployable file; a dense
  artifact does not, and the warning says where the saving is (the sparse file).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Realized:
    """One claimed gain and what the artifact shows (fractions of the unpruned value)."""

    metric: str
    claimed: float
    realized: float
    ok: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "claimed": self.claimed,
            "realized": self.realized,
            "ok": self.ok,
            "message": self.message,
        }


def _reduction(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before <= 0:
        return None
    return 1.0 - after / before


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _compare(metric: str, claimed: float, realized: float | None, tol: float) -> Realized:
    if realized is None:
        return Realized(
            metric,
            claimed,
            float("nan"),
            False,
            f"{metric}: claimed {_pct(claimed)} less, not measured",
        )
    ok = claimed <= 1e-9 or realized >= claimed * (1.0 - tol) - 1e-9
    msg = (
        f"{metric}: claimed {_pct(claimed)} less, the exported artifact has {_pct(realized)} less"
    )
    return Realized(metric, claimed, realized, ok, msg)


def _latency(macs: float, before: float | None, after: float | None) -> list[Realized]:
    """MACs fell; did the measured latency (onnxruntime, 1 thread, batch 1) fall too?"""
    if not before or not after:
        return []
    speed = 1.0 - after / before
    ok = after <= before * 1.1  # within timing noise of the unpruned latency, or faster
    msg = (
        f"latency_p50: MACs are {_pct(macs)} lower but latency on onnxruntime went from "
        f"{before * 1e6:.1f} us to {after * 1e6:.1f} us ({after / before:.2f}x); small or odd "
        "channel counts run its kernels less efficiently (try round_to=4 or 8)"
    )
    return [Realized("latency_p50", macs, speed, ok, msg)]


def check_realized(
    claim: Mapping[str, Any],
    base: Mapping[str, float],
    pruned: Mapping[str, float],
    *,
    structured: bool,
    tolerance: float = 0.1,
) -> tuple[Realized, ...]:
    """Compare a pass's ``claim`` with artifact metrics of the unpruned (``base``) and pruned
    model (keys ``params``, ``macs``, ``weight_bytes``, ``sparsity``, ``artifact_bytes``,
    ``latency_p50`` and, where a sparse artifact was written, ``sparse_artifact_bytes``)."""
    out = []
    claimed_sparsity = float(claim.get("sparsity", 0.0))
    if structured:
        for metric in ("params", "macs"):
            c = _reduction(claim.get(f"{metric}_before"), claim.get(f"{metric}_after"))
            if c is not None and c > 0:
                out.append(
                    _compare(
                        metric, c, _reduction(base.get(metric), pruned.get(metric)), tolerance
                    )
                )
        stored = _reduction(base.get("weight_bytes"), pruned.get("weight_bytes"))
        c = _reduction(claim.get("params_before"), claim.get("params_after"))
        if c is not None and c > 0:
            out.append(_compare("weight_bytes", c, stored, tolerance))
        macs = _reduction(claim.get("macs_before"), claim.get("macs_after"))
        if macs is not None and macs >= 0.2:
            out.extend(_latency(macs, base.get("latency_p50"), pruned.get("latency_p50")))
        return tuple(out)
    realized_sparsity = pruned.get("sparsity")
    out.append(_compare("sparsity", claimed_sparsity, realized_sparsity, tolerance))
    size = _reduction(base.get("artifact_bytes"), pruned.get("artifact_bytes"))
    if claimed_sparsity > 0:
        packed = _reduction(base.get("artifact_bytes"), pruned.get("sparse_artifact_bytes"))
        r = _compare("artifact_bytes", claimed_sparsity, size, tolerance)
        if not r.ok:
            where = (
                f"; stored sparse (.esw) it takes {_pct(packed)} less"
                if packed is not None
                else ""
            )
            r = Realized(
                r.metric,
                r.claimed,
                r.realized,
                False,
                f"{_pct(claimed_sparsity)} of weights are zero but the dense ONNX "
                f"artifact is {_pct(size or 0.0)} smaller{where}; parameters, MACs "
                "and latency on dense runtimes do not drop",
            )
        out.append(r)
    return tuple(out)


def warnings_of(checks: tuple[Realized, ...]) -> list[str]:
    return [f"realized gain: {c.message}" for c in checks if not c.ok]
