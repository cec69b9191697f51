"""Data tests cache generated datasets (keywords) in the session's temporary folder, never in ~."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _dataset_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGESLIM_CACHE", str(tmp_path_factory.getbasetemp() / "edgeslim-cache"))
