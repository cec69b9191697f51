"""Packed layout: one 32-bit word per split, for integer feature codes (the smallest layout).

A word holds, from the low bits up: the feature (``feature_bits``), two flags (``LEFT_LEAF``,
``RIGHT_LEAF``), a payload (``payload_bits``) and the signed threshold code in the top
``threshold_bits`` (read with an arithmetic shift). Nodes are stored depth-first with the left
child first, so one child is implicit:

========== =========== ====================== =======================
left child right child left goes to           right goes to
========== =========== ====================== =======================
split      split       ``k + 1``              ``k + payload``
split      leaf        ``k + 1``              leaf row ``payload``
leaf       split       leaf row ``payload``   ``k + 1``
leaf       leaf        ``pairs[2 payload]``   ``pairs[2 payload + 1]``
========== =========== ====================== =======================

Identical leaf rows are stored once, and so are identical (left, right) row pairs of the splits
whose children are both leaves. Rows reached directly from a payload come first in the table so
that their numbers fit the payload.

Large models whose rows or pairs do not fit the payload use *per-tree references* instead:
every leaf payload is an offset into the tree's own list of leaf rows (``refs[base + p]``, and
``refs[base + p + 1]`` for the right leaf of a leaf pair), which needs only as many bits as a
tree has leaves. :func:`build_packed` raises :class:`ExportError` when a model does not fit
32 bits either way (use the array layout then).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeslim._core.errors import ExportError
from edgeslim.trees._ir import TreeEnsemble

LEFT_LEAF = 1
RIGHT_LEAF = 2


@dataclass(frozen=True, slots=True)
class PackedModel:
    nodes: list[int]  # uint32 words
    pairs: list[int]  # row pairs of splits whose children are both leaves, flattened
    roots: list[int]  # node index, or -1 - row for a tree that is a single leaf
    rows: np.ndarray  # leaf rows, reordered (see the module docstring)
    feature_bits: int
    payload_bits: int
    threshold_bits: int
    pair_ctype: str
    ref_base: list[int]  # per-tree leaf references: start of each tree's refs (in ``pairs``)

    @property
    def local(self) -> bool:
        return bool(self.ref_base)

    @property
    def payload_shift(self) -> int:
        return self.feature_bits + 2

    @property
    def left_flag(self) -> int:
        return LEFT_LEAF << self.feature_bits

    @property
    def right_flag(self) -> int:
        return RIGHT_LEAF << self.feature_bits

    @property
    def threshold_shift(self) -> int:
        return 32 - self.threshold_bits

    @property
    def leaf_roots(self) -> bool:
        return any(r < 0 for r in self.roots)


def _signed_bits(lo: int, hi: int) -> int:
    b = 1
    while not (-(2 ** (b - 1)) <= lo and hi < 2 ** (b - 1)):
        b += 1
    return b


def _preorder(tree_left: np.ndarray, tree_right: np.ndarray, is_leaf: np.ndarray) -> list[int]:
    order: list[int] = []
    stack = [0] if not is_leaf[0] else []
    while stack:
        n = stack.pop()
        order.append(n)
        for child in (int(tree_right[n]), int(tree_left[n])):
            if not is_leaf[child]:
                stack.append(child)
    return order


def build_packed(
    ens: TreeEnsemble, leaf_maps: list[dict[int, int]], rows: np.ndarray
) -> PackedModel:
    """Pack the splits of a code-space ensemble (global leaf references if they fit the
    payload, else per-tree references)."""
    try:
        return _build(ens, leaf_maps, rows, local=False)
    except ExportError:
        return _build(ens, leaf_maps, rows, local=True)


def _build(
    ens: TreeEnsemble, leaf_maps: list[dict[int, int]], rows: np.ndarray, local: bool
) -> PackedModel:
    thr = [t.threshold[t.feature >= 0] for t in ens.trees]
    allthr = np.concatenate(thr) if thr else np.zeros(0)
    if len(allthr) and not np.all(allthr == np.rint(allthr)):
        raise ExportError("packed layout needs integer threshold codes (use --quantize int16)")
    tbits = _signed_bits(int(allthr.min(initial=0)), int(allthr.max(initial=0)))
    fbits = max(1, int(ens.n_features - 1).bit_length())
    pbits = 32 - 2 - fbits - tbits
    if pbits < 1:
        raise ExportError(
            f"packed layout: {tbits}-bit thresholds and {fbits}-bit features leave no room "
            "in 32 bits; use --layout array"
        )
    # pass 1: structure; payloads that are leaf rows are resolved after reordering the rows
    pending: list[tuple[int, int, int]] = []  # (word without payload, kind, value)
    pair_ids: dict[tuple[int, int], int] = {}
    direct: list[int] = []  # rows reached from a payload, in first-use order
    direct_seen: set[int] = set()
    roots: list[int] = []
    refs: list[int] = []  # local mode: per-tree leaf references (rows)
    ref_base: list[int] = []
    for t, leaf_of in zip(ens.trees, leaf_maps, strict=True):
        is_leaf = t.feature < 0
        ref_base.append(len(refs))
        if is_leaf[0]:
            roots.append(-1 - leaf_of[0])
            continue
        order = _preorder(t.left, t.right, is_leaf)
        base = len(pending)
        index = {n: base + k for k, n in enumerate(order)}
        roots.append(base)
        local_ids: dict[tuple[int, ...], int] = {}
        for n in order:
            left, right = int(t.left[n]), int(t.right[n])
            flags = (LEFT_LEAF if is_leaf[left] else 0) | (RIGHT_LEAF if is_leaf[right] else 0)
            code = (int(t.threshold[n]) << (32 - tbits)) & 0xFFFFFFFF
            word = int(t.feature[n]) | flags << fbits | code
            if flags == 0:
                pending.append((word, 0, index[right] - index[n]))
                continue
            if local:  # payload: offset of (row,) or (left row, right row) in this tree's refs
                key: tuple[int, ...]
                if flags == LEFT_LEAF | RIGHT_LEAF:
                    key = (leaf_of[left], leaf_of[right])
                else:
                    key = (leaf_of[left] if flags == LEFT_LEAF else leaf_of[right],)
                if key not in local_ids:
                    local_ids[key] = len(refs) - ref_base[-1]
                    refs.extend(key)
                pending.append((word, 3, local_ids[key]))
            elif flags == LEFT_LEAF | RIGHT_LEAF:
                key = (leaf_of[left], leaf_of[right])
                pending.append((word, 1, pair_ids.setdefault(key, len(pair_ids))))
            else:
                row = leaf_of[left] if flags == LEFT_LEAF else leaf_of[right]
                if row not in direct_seen:
                    direct_seen.add(row)
                    direct.append(row)
                pending.append((word, 2, row))
    # rows reached from payloads first, then the rest (pairs hold full-width row numbers)
    new_order = direct + [r for r in range(len(rows)) if r not in direct_seen]
    renum = {old: new for new, old in enumerate(new_order)}
    limit = 1 << pbits
    nodes = []
    for word, kind, value in pending:
        payload = renum[value] if kind == 2 else value
        if payload >= limit:
            what = ("child offset", "leaf pair", "leaf row", "leaf reference")[kind]
            raise ExportError(
                f"packed layout: {what} {payload} does not fit the {pbits}-bit payload "
                f"({tbits}-bit thresholds, {fbits}-bit features); use --layout array"
            )
        nodes.append(word | payload << (fbits + 2))
    pairs = [renum[r] for key in pair_ids for r in key] if not local else [renum[r] for r in refs]
    roots = [r if r >= 0 else -1 - renum[-1 - r] for r in roots]
    return PackedModel(
        nodes=nodes,
        pairs=pairs,
        roots=roots,
        rows=rows[new_order],
        feature_bits=fbits,
        payload_bits=pbits,
        threshold_bits=tbits,
        pair_ctype="uint16_t" if len(rows) <= 65536 else "uint32_t",
        ref_base=ref_base if local else [],
    )
