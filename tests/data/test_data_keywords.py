"""The synthetic keyword-spotting dataset: espeak-ng + sox speech, log-mel features, cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeslim._core.errors import DataError
from edgeslim.data import Layout, Task, load_dataset
from edgeslim.data import _keywords as kw

_MISSING = [p for p in ("espeak-ng", "sox") if shutil.which(p) is None]
needs_tools = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"{', '.join(_MISSING)} not installed (apt-get install -y espeak-ng sox)",
)
TINY = {"words": "yes,no,stop", "n_per_class": 24}


def _arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as d:
        return d["x"], d["y"]


@needs_tools
def test_tiny_set_has_shapes_balanced_labels_and_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGESLIM_CACHE", str(tmp_path / "cache"))
    path = kw.prepare(0, n_mels=12, frames=20, **TINY)  # type: ignore[arg-type]
    assert path.parent == tmp_path / "cache" / "keywords" and path.suffix == ".npz"
    x, y = _arrays(path)
    assert x.shape == (5 * 24, 12, 20) and x.dtype == np.float32 and np.isfinite(x).all()
    labels, counts = np.unique(y, return_counts=True)
    assert set(labels) == {"yes", "no", "stop", kw.UNKNOWN_LABEL, kw.SILENCE_LABEL}
    assert (counts == 24).all()
    # speech has more energy than silence (noise only)
    assert x[y == "yes"].max(axis=(1, 2)).mean() > x[y == kw.SILENCE_LABEL].max(axis=(1, 2)).mean()
    # a second call reuses the cache file untouched
    stamp = path.stat().st_mtime_ns
    assert kw.prepare(0, n_mels=12, frames=20, **TINY) == path  # type: ignore[arg-type]
    assert path.stat().st_mtime_ns == stamp
    assert not list(path.parent.glob("*.wav")) and not list(path.parent.glob(".*tmp"))


@needs_tools
def test_same_seed_same_features_other_seed_differs() -> None:
    params = {"words": "up,down", "n_per_class": 6, "unknown": False, "silence": False}
    a = kw.generate(3, ["up", "down"], 6, 8, 10, 0.05, False, False)
    b = kw.generate(3, ["up", "down"], 6, 8, 10, 0.05, False, False)
    c = kw.generate(4, ["up", "down"], 6, 8, 10, 0.05, False, False)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    ds1 = load_dataset("keywords", seed=3, n_mels=8, frames=10, **params)
    ds2 = load_dataset("keywords", seed=3, n_mels=8, frames=10, **params)
    np.testing.assert_array_equal(ds1.x_train, ds2.x_train)
    assert ds1.spec.layout is Layout.SERIES and ds1.spec.task is Task.CLASSIFICATION
    assert ds1.spec.input_shape == (8, 10) and ds1.spec.num_classes == 2


def test_log_mel_of_a_tone_peaks_in_its_band() -> None:
    t = np.arange(kw.CLIP_SAMPLES) / kw.SAMPLE_RATE
    low = np.sin(2 * np.pi * 300 * t)[None].astype(np.float32)
    high = np.sin(2 * np.pi * 4000 * t)[None].astype(np.float32)
    feats = kw.log_mel(np.concatenate([low, high]), n_mels=16, frames=10)
    assert feats.shape == (2, 16, 10)
    peak_low, peak_high = feats[0].mean(axis=1).argmax(), feats[1].mean(axis=1).argmax()
    assert peak_low < peak_high
    fb = kw.mel_filterbank(16)
    assert fb.shape == (16, 257) and (fb.sum(axis=1) > 0).all()


def test_missing_programs_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kw.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match=r"espeak-ng, sox.*apt-get install -y espeak-ng sox"):
        load_dataset("keywords", words="yes,no", n_per_class=4)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"words": "yes"}, "parameter words"),
        ({"words": "yes,yes"}, "parameter words"),
        ({"words": "yes,n0"}, "parameter words"),
        ({"n_per_class": 1}, "n_per_class of dataset 'keywords'"),
        ({"n_mels": 0}, "n_mels of dataset 'keywords'"),
        ({"noise": -0.1}, "noise of dataset 'keywords'"),
    ],
)
def test_bad_params_name_themselves(params: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        kw.prepare(0, **params)  # type: ignore[arg-type]


@needs_tools
@pytest.mark.torch
def test_dscnn_trains_above_chance_in_a_few_epochs() -> None:
    import torch

    from edgeslim.models import build_model, default_config
    from edgeslim.models.train import TrainConfig, evaluate, fit

    ds = load_dataset("keywords", seed=0, n_per_class=40, **{"words": "yes,no,stop"})
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_model(default_config("dscnn"), ds.spec)
    fit(model, ds, TrainConfig(epochs=12, lr=5e-3, batch_size=16))
    acc = evaluate(model, ds, "test")["accuracy"]
    assert acc > 2 * (1 / ds.spec.num_classes)  # 5 classes: chance is 0.2


def test_search_recipe_validates_and_searches_three_families() -> None:
    from edgeslim.search._space import parse_search_recipe

    path = Path(__file__).resolve().parents[2] / "recipes" / "search-keywords.yaml"
    recipe = parse_search_recipe(path.read_text(), str(path))
    assert recipe.data.name == "keywords"
    assert set(recipe.families()) == {"recurrent", "tcn", "dscnn"}
