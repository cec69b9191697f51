"""Save and load the tree IR as one ``.npz`` file (no pickle), optionally with data.

The file holds the concatenated node arrays of all trees, a JSON header with everything else,
and optional arrays ``x_train`` (for quantization ranges and branch probabilities), ``x_test``
and ``y_test`` (for measurement).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeslim._core.errors import ModelError
from edgeslim._core.io import atomic_write
from edgeslim.trees._ir import Tree, TreeEnsemble

FORMAT = "edgeslim.trees/1"
DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class TreeBundle:
    """An ensemble plus the data that came with it (any of :data:`DATA_KEYS` may be missing)."""

    ensemble: TreeEnsemble
    data: dict[str, np.ndarray]

    def get(self, key: str) -> np.ndarray | None:
        return self.data.get(key)


def _header(ens: TreeEnsemble) -> dict[str, object]:
    return {
        "format": FORMAT,
        "n_features": ens.n_features,
        "n_outputs": ens.n_outputs,
        "objective": ens.objective.value,
        "transform": ens.transform.value,
        "base_score": list(ens.base_score),
        "average": ens.average,
        "classes": [c.item() if isinstance(c, np.generic) else c for c in ens.classes],
        "feature_names": list(ens.feature_names),
        "source": ens.source,
        "meta": ens.meta,
        "tree_nodes": [t.n_nodes for t in ens.trees],
        "tree_widths": [t.width for t in ens.trees],
        "tree_outputs": [t.output for t in ens.trees],
    }


def save_bundle(
    path: str | os.PathLike[str], ens: TreeEnsemble, data: dict[str, np.ndarray] | None = None
) -> Path:
    """Write ``ens`` (and optional data arrays) to ``path`` atomically."""
    width = max((t.width for t in ens.trees), default=1)
    values = [np.pad(t.value, ((0, 0), (0, width - t.width))) for t in ens.trees]
    arrays: dict[str, np.ndarray] = {
        "header": np.frombuffer(json.dumps(_header(ens)).encode(), dtype=np.uint8),
        "feature": np.concatenate([t.feature for t in ens.trees]),
        "threshold": np.concatenate([t.threshold for t in ens.trees]),
        "left": np.concatenate([t.left for t in ens.trees]),
        "right": np.concatenate([t.right for t in ens.trees]),
        "nan_left": np.concatenate([t.nan_left for t in ens.trees]),
        "value": np.concatenate(values),
        "cover": np.concatenate([t.cover for t in ens.trees]),
    }
    for key, arr in (data or {}).items():
        if key not in DATA_KEYS:
            raise ModelError(f"unknown data key {key!r}; known: {', '.join(DATA_KEYS)}")
        if arr is not None:
            arrays[key] = np.asarray(arr)
    target = Path(path)
    with atomic_write(target) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    return target


def load_bundle(path: str | os.PathLike[str]) -> TreeBundle:
    """Read a file written by :func:`save_bundle`."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise ModelError(f"{p}: not an edgeslim tree file ({err})") from err
    try:
        head = json.loads(arrays["header"].tobytes().decode())
    except (KeyError, ValueError) as err:
        raise ModelError(f"{p}: missing or corrupt header") from err
    if head.get("format") != FORMAT:
        raise ModelError(f"{p}: format {head.get('format')!r}; want {FORMAT!r}")
    trees, start = [], 0
    for n, w, out in zip(
        head["tree_nodes"], head["tree_widths"], head["tree_outputs"], strict=True
    ):
        s = slice(start, start + n)
        trees.append(
            Tree(
                arrays["feature"][s],
                arrays["threshold"][s],
                arrays["left"][s],
                arrays["right"][s],
                arrays["nan_left"][s],
                arrays["value"][s, :w],
                arrays["cover"][s],
                output=out,
            )
        )
        start += n
    ens = TreeEnsemble(
        trees=tuple(trees),
        n_features=head["n_features"],
        n_outputs=head["n_outputs"],
        objective=head["objective"],
        transform=head["transform"],
        base_score=tuple(head["base_score"]),
        average=head["average"],
        classes=tuple(head["classes"]),
        feature_names=tuple(head["feature_names"]),
        source=head["source"],
        meta=head.get("meta", {}),
    )
    return TreeBundle(ens, {k: arrays[k] for k in DATA_KEYS if k in arrays})
