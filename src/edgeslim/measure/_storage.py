"""Size of the artifact on disk, raw and gzip-compressed."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from edgeslim._core.errors import ModelError
from edgeslim._core.records import Metric, Provenance


def storage_metrics(path: str | os.PathLike[str], *, context: str = "") -> tuple[Metric, ...]:
    """``artifact_bytes``: the file's size; ``artifact_gzip_bytes``: its size after gzip at
    level 9 (deterministic: no name, mtime 0). The gap shows what compression of zero runs
    (unstructured sparsity) could save in storage or transfer; both in ``B``, ``computed``.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"artifact {p} does not exist")
    data = p.read_bytes()
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    c = Provenance.COMPUTED
    return (
        Metric("artifact_bytes", len(data), "B", c, context),
        Metric("artifact_gzip_bytes", len(packed), "B", c, context),
    )
