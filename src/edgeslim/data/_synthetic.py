"""Generated datasets: tabular (scikit-learn generators) and time series (sines in numpy).

Every generator is a pure function of its parameters and ``seed``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from edgeslim._core.errors import DataError
from edgeslim.data._assemble import RawData
from edgeslim.data.spec import Layout, Task

# Frequencies (cycles per window) of the series classes; class k is the k-th (before, after) pair.
_FREQS = (2.0, 3.5, 5.5, 8.0)
_PAIRS = tuple(itertools.product(_FREQS, repeat=2))
MAX_SERIES_CLASSES = len(_PAIRS)


def int_param(value: object, name: str, dataset: str, lo: int, hi: int | None = None) -> int:
    """``value`` as an int in [lo, hi], else a DataError naming the parameter and dataset."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if ok and int(value) >= lo and (hi is None or int(value) <= hi):  # type: ignore[call-overload]
        return int(value)  # type: ignore[call-overload]
    bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    raise DataError(
        f"parameter {name} of dataset {dataset!r} must be an integer {bound}; got {value!r}"
    )


def float_param(value: object, name: str, dataset: str, lo: float = 0.0) -> float:
    """``value`` as a finite float >= lo, else a DataError naming the parameter and dataset."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        v = float(value)
        if math.isfinite(v) and v >= lo:
            return v
    raise DataError(
        f"parameter {name} of dataset {dataset!r} must be a number >= {lo}; got {value!r}"
    )


def synthetic_classification(
    seed: int, n_samples: int = 1000, n_features: int = 20, n_classes: int = 2
) -> RawData:
    from sklearn.datasets import make_classification

    name = "synthetic-classification"
    n = int_param(n_samples, "n_samples", name, 20)
    f = int_param(n_features, "n_features", name, 2)
    k = int_param(n_classes, "n_classes", name, 2, 100)
    informative = max(math.ceil(math.log2(2 * k)), f // 2)
    if informative > f:
        raise DataError(
            f"parameter n_features of dataset {name!r} must be >= {informative} for "
            f"n_classes={k}; got {f}"
        )
    x, y = make_classification(
        n_samples=n,
        n_features=f,
        n_informative=informative,
        n_redundant=min(2, f - informative),
        n_classes=k,
        random_state=seed,
    )
    return RawData(
        x=x,
        y=y,
        task=Task.CLASSIFICATION,
        layout=Layout.TABULAR,
        source="sklearn make_classification",
    )


def synthetic_regression(
    seed: int, n_samples: int = 1000, n_features: int = 20, noise: float = 1.0
) -> RawData:
    from sklearn.datasets import make_regression

    name = "synthetic-regression"
    n = int_param(n_samples, "n_samples", name, 20)
    f = int_param(n_features, "n_features", name, 1)
    x, y = make_regression(
        n_samples=n,
        n_features=f,
        n_informative=max(1, f // 2),
        noise=float_param(noise, "noise", name),
        random_state=seed,
    )
    return RawData(
        x=x, y=y, task=Task.REGRESSION, layout=Layout.TABULAR, source="sklearn make_regression"
    )


def synthetic_series(
    seed: int,
    n_samples: int = 600,
    channels: int = 3,
    steps: int = 64,
    n_classes: int = 4,
    noise: float = 0.3,
) -> RawData:
    """Regime-switching multi-sine classification.

    Class ``k`` is a pair of frequencies (before, after a switch at a random step in the middle
    half of the window). Every channel carries the class's frequencies with its own random phase,
    amplitude and a weaker second harmonic, plus Gaussian noise of std ``noise``.
    """
    name = "synthetic-series"
    n = int_param(n_samples, "n_samples", name, 20)
    c = int_param(channels, "channels", name, 1)
    t_len = int_param(steps, "steps", name, 8)
    k = int_param(n_classes, "n_classes", name, 2, MAX_SERIES_CLASSES)
    sigma = float_param(noise, "noise", name)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    rng.shuffle(y)
    pairs = np.asarray(_PAIRS[:k])[y]  # (n, 2) cycles per window
    t = np.arange(t_len) / t_len
    switch = rng.uniform(0.25, 0.75, size=(n, 1))
    freq = np.where(t[None, :] < switch, pairs[:, :1], pairs[:, 1:])  # (n, steps)
    # integrate the frequency so the phase is continuous across the switch
    phase = 2 * np.pi * np.cumsum(freq, axis=1) / t_len
    offset = rng.uniform(0, 2 * np.pi, size=(n, c, 1))
    amp = rng.uniform(0.5, 1.5, size=(n, c, 1))
    x = amp * np.sin(phase[:, None, :] + offset) + 0.3 * amp * np.sin(2 * phase[:, None, :])
    x += rng.normal(0.0, sigma, size=x.shape)
    return RawData(
        x=x,
        y=y,
        task=Task.CLASSIFICATION,
        layout=Layout.SERIES,
        source="generated regime-switching multi-sine",
    )


def synthetic_forecast(
    seed: int, n_samples: int = 1000, channels: int = 1, steps: int = 32, noise: float = 0.1
) -> RawData:
    """Predict the next clean value of each channel of a noisy sum of three sines.

    Each sample has its own random frequencies (0.02 to 0.15 cycles per step), amplitudes and
    phases; the window holds ``steps`` noisy values, the target is the noise-free value at step
    ``steps`` (one target per channel).
    """
    name = "synthetic-forecast"
    n = int_param(n_samples, "n_samples", name, 20)
    c = int_param(channels, "channels", name, 1)
    t_len = int_param(steps, "steps", name, 4)
    sigma = float_param(noise, "noise", name)
    rng = np.random.default_rng(seed)
    shape = (n, c, 1, 3)
    freq = rng.uniform(0.02, 0.15, size=shape)
    amp = rng.uniform(0.3, 1.0, size=shape)
    phase = rng.uniform(0, 2 * np.pi, size=shape)
    t = np.arange(t_len + 1)[None, None, :, None]
    clean = (amp * np.sin(2 * np.pi * freq * t + phase)).sum(axis=-1)  # (n, c, steps + 1)
    x = clean[:, :, :t_len] + rng.normal(0.0, sigma, size=(n, c, t_len))
    y = clean[:, :, t_len]
    return RawData(
        x=x,
        y=y[:, 0] if c == 1 else y,
        task=Task.REGRESSION,
        layout=Layout.SERIES,
        source="generated noisy multi-sine, next-value forecast",
    )
