"""Array layout: the internal nodes of all trees in typed arrays walked by one loop.

Node ``k >= 1`` stores its feature, threshold and two children; a child ``c > 0`` is another
node, ``c <= 0`` is leaf-table row ``-c``. Node 0 is an unused pad so that 0 can mean "row 0".
Nodes are numbered depth-first with the likely child first (see :func:`array_order`), so the
path a typical sample takes is a short forward walk through memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeslim.trees._ir import TreeEnsemble
from edgeslim.trees._layout import array_order


@dataclass(frozen=True, slots=True)
class ArrayModel:
    feature: list[int]
    threshold: list[float]  # float thresholds, integer codes or int32 keys
    left: list[int]
    right: list[int]
    nan_left: list[int]
    roots: list[int]
    outputs: list[int]
    child_ctype: str
    feature_ctype: str

    @property
    def n_nodes(self) -> int:
        return len(self.feature)


def float_key(t: float) -> int:
    """Monotone int32 key of a float32 (``x <= t`` iff ``key(x) <= key(t)`` for non-NaN)."""
    b = int(np.array(np.float32(t), dtype=np.float32).view(np.int32))
    return b ^ 0x7FFFFFFF if b < 0 else b


def _ctype_for(lo: int, hi: int) -> str:
    for ctype, bits in (("int16_t", 16), ("int32_t", 32)):
        if -(2 ** (bits - 1)) <= lo and hi < 2 ** (bits - 1):
            return ctype
    return "int64_t"


def build_array(
    ens: TreeEnsemble, leaf_maps: list[dict[int, int]], hot_first: bool, key_thresholds: bool
) -> ArrayModel:
    feature, threshold, left, right, nan_left = [0], [0.0], [0], [0], [0]
    roots, outputs = [], []
    for tree, leaf_of in zip(ens.trees, leaf_maps, strict=True):
        order = array_order(tree, hot_first)
        index = {n: k + len(feature) for k, n in enumerate(order)}

        def ref(n: int, index: dict[int, int] = index, leaf_of: dict[int, int] = leaf_of) -> int:
            return index[n] if n in index else -leaf_of[n]

        for n in order:
            feature.append(int(tree.feature[n]))
            t = float(tree.threshold[n])
            threshold.append(float(float_key(t)) if key_thresholds else t)
            left.append(ref(int(tree.left[n])))
            right.append(ref(int(tree.right[n])))
            nan_left.append(int(tree.nan_left[n]))
        roots.append(ref(0))
        outputs.append(tree.output)
    refs = left + right + roots
    return ArrayModel(
        feature=feature,
        threshold=threshold,
        left=left,
        right=right,
        nan_left=nan_left,
        roots=roots,
        outputs=outputs,
        child_ctype=_ctype_for(min(refs), max(refs)),
        feature_ctype="uint8_t" if ens.n_features <= 256 else "uint16_t",
    )
