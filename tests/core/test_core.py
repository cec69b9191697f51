from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgeslim._core import (
    EdgeslimError,
    ExportError,
    Metric,
    Provenance,
    Registry,
    atomic_write,
    ensure_writable,
    seed_everything,
)


def test_metric_record_is_frozen_and_typed() -> None:
    m = Metric("latency_p50", 1, "s", "measured", "onnxruntime,t1,b1")
    assert m.provenance is Provenance.MEASURED
    assert isinstance(m.value, float)
    assert m.key == "latency_p50[onnxruntime,t1,b1]"
    with pytest.raises(AttributeError):
        m.value = 2.0  # type: ignore[misc]
    assert m.to_dict()["provenance"] == "measured"
    assert Metric("x", math.nan, "1", Provenance.COMPUTED).to_dict()["value"] is None


@pytest.mark.parametrize("bad", ["", "has space", "semi;colon"])
def test_metric_rejects_bad_names(bad: str) -> None:
    with pytest.raises(ValueError):
        Metric(bad, 1.0, "1", Provenance.COMPUTED)


def test_registry_names_known_entries_and_freezes() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("b", 2)
    reg.register("a")(1)
    assert reg.names() == ["a", "b"] and "a" in reg and len(reg) == 2
    with pytest.raises(EdgeslimError, match="unknown widget 'c'; known: a, b"):
        reg.get("c")
    with pytest.raises(RuntimeError, match="twice"):
        reg.add("a", 3)
    reg.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        reg.add("z", 0)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind
    with atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's owner-only 0600


def test_ensure_writable_refuses_without_force(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_text("keep")
    with pytest.raises(ExportError, match="--force"):
        ensure_writable(p)
    assert ensure_writable(p, force=True) == p
    assert ensure_writable(tmp_path / "sub" / "y").parent.is_dir()


def test_seed_everything_is_deterministic() -> None:
    a = seed_everything(7).integers(0, 1000, 5)
    b = seed_everything(7).integers(0, 1000, 5)
    assert (a == b).all()
