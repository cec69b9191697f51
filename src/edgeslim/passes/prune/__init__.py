"""Pruning: unstructured, semi-structured (N:M, blocks) and structured (channels, filters,
neurons, recurrent hidden units) with physical removal; schedules, regularizers, sensitivity.

Passes (registered in :data:`edgeslim.passes.PASSES`, usable from recipes and the CLI):

==================  ====================================================================
``prune.magnitude``  smallest ``|w|``, per layer or global
``prune.random``     random elements (the baseline)
``prune.taylor``     least ``|w * dL/dw|`` (saliency data from the training split)
``prune.movement``   weights moving towards zero while fine-tuning
``prune.nm``         N of every M consecutive weights (2:4, 1:8, ...)
``prune.block``      whole blocks of the 2-D weight view
``prune.channel``    whole channels by dependency group; importance l1, l2, bn_scale,
                     taylor or random; regularizers l1 (BN scales) and group_lasso
==================  ====================================================================

Every pass takes ``sparsity``, ``schedule`` (one_shot, iterative, agp), ``steps`` and
``fine_tune_epochs`` (the whole budget). Building blocks for other code:
:func:`build_dependency_graph`, :func:`remove_channels`, :func:`replay`, the importances,
:func:`taylor_saliency`, the sparse storage format (:func:`write_sparse_artifact`) and the
realized-gain check (:func:`check_realized`).
"""

from __future__ import annotations

from typing import Any

from edgeslim.passes.prune._base import PrunePass, example_input
from edgeslim.passes.prune._channel import ChannelPrune
from edgeslim.passes.prune._claims import Realized, check_realized
from edgeslim.passes.prune._graph import (
    DependencyGraph,
    Group,
    build_dependency_graph,
    remove_channels,
)
from edgeslim.passes.prune._importance import (
    IMPORTANCE_NAMES,
    BNScaleImportance,
    Importance,
    MagnitudeImportance,
    RandomImportance,
    TaylorImportance,
    make_importance,
)
from edgeslim.passes.prune._schedule import SCHEDULES, Schedule
from edgeslim.passes.prune._scorers import taylor_saliency
from edgeslim.passes.prune._sensitivity import (
    SensitivityCurve,
    allocate_from_sensitivity,
    layer_sensitivity,
)
from edgeslim.passes.prune._storage import (
    SPARSE_FORMATS,
    pack_tensor,
    read_sparse_artifact,
    unpack_tensor,
    write_sparse_artifact,
)
from edgeslim.passes.prune._structured import replay_removal
from edgeslim.passes.prune._unstructured import (
    UNSTRUCTURED_PASSES,
    BlockPrune,
    MagnitudePrune,
    MovementPrune,
    NMPrune,
    RandomPrune,
    TaylorPrune,
    unpack_mask,
)

PRUNE_PASSES: tuple[type[PrunePass], ...] = (*UNSTRUCTURED_PASSES, ChannelPrune)


def _register() -> None:
    from edgeslim.passes import PASSES

    for cls in PRUNE_PASSES:
        PASSES.add(cls.name, cls)


_register()


def replay(model: Any, record: dict[str, Any], input_shape: tuple[int, ...]) -> Any:
    """Re-apply a pruning pass's decisions (its record) to ``model`` in place: the removed
    channels of a structured pass, or the masks of an unstructured one. Weights are not
    fine-tuned; they are those of ``model``."""
    import torch

    from edgeslim.passes.prune._stats import weight_params

    if "removed" in record:
        example = torch.zeros((1, *input_shape))
        return replay_removal(model, example, record["removed"])
    params = dict(weight_params(model))
    with torch.no_grad():
        for name, entry in record.get("masks", {}).items():
            params[name].mul_(unpack_mask(entry).to(params[name].dtype))
    return model


__all__ = [
    "IMPORTANCE_NAMES",
    "PRUNE_PASSES",
    "SCHEDULES",
    "SPARSE_FORMATS",
    "BNScaleImportance",
    "BlockPrune",
    "ChannelPrune",
    "DependencyGraph",
    "Group",
    "Importance",
    "MagnitudeImportance",
    "MagnitudePrune",
    "MovementPrune",
    "NMPrune",
    "PrunePass",
    "RandomImportance",
    "RandomPrune",
    "Realized",
    "Schedule",
    "SensitivityCurve",
    "TaylorImportance",
    "TaylorPrune",
    "allocate_from_sensitivity",
    "build_dependency_graph",
    "check_realized",
    "example_input",
    "layer_sensitivity",
    "make_importance",
    "pack_tensor",
    "read_sparse_artifact",
    "remove_channels",
    "replay",
    "replay_removal",
    "taylor_saliency",
    "unpack_tensor",
    "write_sparse_artifact",
]
