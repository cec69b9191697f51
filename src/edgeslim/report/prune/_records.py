"""Plain frozen data the pruning report computes first and draws second (HTML and PNG)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PruneRun:
    """What the report needs of one stored run of a comparison (the reference has method
    ``unpruned``). Metric values are ``None`` when the run lacks them."""

    run_id: int
    name: str
    method: str
    target: float
    sparsity: float
    structured: bool
    accuracy: float | None
    params: float | None
    macs: float | None
    latency: float | None  # s, onnxruntime, 1 thread, batch 1
    artifact_bytes: float | None
    sparse_bytes: float | None
    warnings: tuple[str, ...]
    layers: tuple[tuple[str, float], ...]
    channels: tuple[tuple[str, tuple[int, ...]], ...]
    channel_types: tuple[tuple[str, str], ...]  # source key -> module type
    histogram: tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...]] | None
    steps: tuple[ProcessStep, ...]

    @property
    def label(self) -> str:
        return self.method if self.method == "unpruned" else f"{self.method} @ {self.target:g}"

    @property
    def deploy_bytes(self) -> float | None:
        """The smaller of the dense ONNX file and the sparse storage file."""
        sizes = [b for b in (self.artifact_bytes, self.sparse_bytes) if b is not None]
        return min(sizes) if sizes else None


@dataclass(frozen=True, slots=True)
class ProcessStep:
    step: int
    phase: str
    target: float
    sparsity: float
    accuracy_pruned: float | None
    accuracy: float | None
    layers: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class Line:
    method: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CurveInfo:
    """Quality against a cost, one line per method, the unpruned model as reference point."""

    title: str
    x_label: str
    y_label: str
    x_unit: str
    lines: tuple[Line, ...]
    reference: tuple[float, float] | None
    log_x: bool = False


@dataclass(frozen=True, slots=True)
class HeatmapInfo:
    """Sparsity per weight matrix (columns) for every pruned run (rows)."""

    title: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True, slots=True)
class ChannelMapInfo:
    """Kept (1) / removed (0) output channels per pruned layer of one structured run."""

    title: str
    run: str
    layers: tuple[str, ...]
    maps: tuple[tuple[int, ...], ...]  # ragged: one entry per original channel


@dataclass(frozen=True, slots=True)
class HistogramInfo:
    """Non-zero weight values before and after pruning, for some runs."""

    title: str
    edges: tuple[float, ...]
    before: tuple[int, ...]
    after: tuple[tuple[str, tuple[int, ...]], ...]  # (run label, counts)


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The pruning process of one run: per step, per-layer sparsity and accuracy."""

    title: str
    run: str
    steps: tuple[ProcessStep, ...]
    layers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ranked:
    criterion: str
    unit: str
    better: str  # "higher" or "lower"
    entries: tuple[tuple[str, float], ...]  # (run label, value), best first


@dataclass(frozen=True, slots=True)
class RankingInfo:
    """The best method per criterion, with the runs ranked behind it."""

    title: str
    reference_accuracy: float | None
    tolerance: float
    criteria: tuple[Ranked, ...]


@dataclass(frozen=True, slots=True)
class WarningsInfo:
    title: str
    rows: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class SensitivityInfo:
    """Accuracy against sparsity per layer (one pruned at a time) and the allocation."""

    title: str
    kind: str
    baseline: float
    curves: tuple[Line, ...]
    allocation: tuple[tuple[str, float], ...]


PruneInfo = (
    CurveInfo
    | HeatmapInfo
    | ChannelMapInfo
    | HistogramInfo
    | ProcessInfo
    | RankingInfo
    | WarningsInfo
    | SensitivityInfo
)
