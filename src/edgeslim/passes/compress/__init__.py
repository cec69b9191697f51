"""Compression beyond pruning and quantization: distillation, low-rank and Tucker
factorization, depthwise-separable conversion, weight clustering, sparse training, and chains
that keep what earlier stages gained.

Passes (registered in :data:`edgeslim.passes.PASSES`, usable from recipes and the CLI):

======================  ==================================================================
``compress.distill``     logit KD with temperature + hard-label mix, hint (feature) KD with
                         learned adapters; teacher from the zoo, a checkpoint, an ONNX file
                         or the chain's input; student from the zoo or the incoming model
``compress.lowrank``     truncated SVD of Linear and GRU/LSTM input matrices, Tucker-2 or
                         channel SVD of convolutions (rank by energy, rank or size budget)
``compress.separable``   standard conv -> depthwise + pointwise (SVD init per input channel)
``compress.cluster``     k-means codebook per weight matrix, stored as codebook + packed
                         indices in the artifact
``compress.rigl``        sparse training with a fixed budget (RigL drop / regrow)
``compress.chain``       stages in order; earlier sparsity re-applied and checked
======================  ==================================================================
"""

from __future__ import annotations

from edgeslim.passes import PASSES
from edgeslim.passes.compress._chain import Chain
from edgeslim.passes.compress._cluster import Cluster, clustered_onnx, kmeans_1d
from edgeslim.passes.compress._common import KeepZeros, check_masks, zero_masks
from edgeslim.passes.compress._distill import Distill, distill_into, kd_loss
from edgeslim.passes.compress._lowrank import LowRank, factorize
from edgeslim.passes.compress._separable import Separable, separable
from edgeslim.passes.compress._sparse import SparseTrain, densities

COMPRESS_PASSES = (Distill, LowRank, Separable, Cluster, SparseTrain, Chain)
for _cls in COMPRESS_PASSES:
    PASSES.add(_cls.name, _cls)

__all__ = [
    "COMPRESS_PASSES",
    "Chain",
    "Cluster",
    "Distill",
    "KeepZeros",
    "LowRank",
    "Separable",
    "SparseTrain",
    "check_masks",
    "clustered_onnx",
    "densities",
    "distill_into",
    "factorize",
    "kd_loss",
    "kmeans_1d",
    "separable",
    "zero_masks",
]
