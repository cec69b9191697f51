"""Seeding. Seeds are passed explicitly; this sets the global generators for one run."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and (if imported) torch; return a fresh numpy Generator."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:  # torch is optional at layer 0
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)
