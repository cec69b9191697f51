from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeslim._core import Metric, Provenance, StoreError
from edgeslim.store import RunStatus, Store


def test_metrics_round_trip_with_unit_provenance_context_and_step(store: Store) -> None:
    run = store.create_run("rt")
    step = store.add_step(run.id, "measure", "ort-latency", {"threads": 1})
    run_level = [
        Metric("accuracy", 0.9375, "1", Provenance.MEASURED),
        Metric("latency_p50", 1.25e-3, "s", Provenance.MEASURED, "ort,t1,b1"),
        Metric("latency_p50", 9.5e-3, "s", Provenance.SIMULATED, "qemu,m4"),
        Metric("energy", 3.0e-6, "J", Provenance.ESTIMATED),
        Metric("macs", 123456789012.0, "MAC", Provenance.COMPUTED),
        Metric("ram_peak", math.inf, "B", Provenance.BOUND),
        Metric("agreement", math.nan, "1", Provenance.MEASURED),
    ]
    store.add_metrics(run.id, run_level)
    store.add_metrics(run.id, [Metric("accuracy", 0.5, "1", "measured")], step=step)

    got = store.get_run(run.id)
    by_step = {(m.key, s): m for m, s in zip(got.metrics, got.metric_steps, strict=True)}
    assert len(by_step) == len(run_level) + 1
    for m in run_level:
        stored = by_step[(m.key, None)]
        assert (stored.name, stored.unit, stored.provenance, stored.context) == (
            m.name,
            m.unit,
            m.provenance,
            m.context,
        )
        assert stored.value == m.value or (math.isnan(stored.value) and math.isnan(m.value))
    assert by_step[("accuracy", step)].value == 0.5
    assert got.metric("accuracy") == run_level[0]  # run-level wins over the step's
    assert got.metric("latency_p50", "qemu,m4") == run_level[2]
    assert got.metric("latency_p50") is None
    assert got.metric_steps[0] is None and got.metric_steps[-1] == step  # run-level first


def test_step_metric_is_found_when_no_run_level_one(store: Store) -> None:
    run = store.create_run("steps")
    first = store.add_step(run.id, "pass", "prune")
    second = store.add_step(run.id, "pass", "quantize")
    store.add_metrics(run.id, [Metric("accuracy", 0.8, "1", "measured")], step=first)
    store.add_metrics(run.id, [Metric("accuracy", 0.7, "1", "measured")], step=second)
    got = store.get_run("steps")
    assert [s.index for s in got.steps] == [0, 1]
    assert [s.name for s in got.steps] == ["prune", "quantize"]
    found = got.metric("accuracy")
    assert found is not None and found.value == 0.7


def test_taken_names_get_a_suffix_and_digit_names_are_refused(store: Store) -> None:
    names = [store.create_run("demo").name for _ in range(3)]
    assert names == ["demo", "demo-2", "demo-3"]
    assert store.create_run("demo_x").name == "demo_x"  # '_' is not a LIKE wildcard here
    assert store.create_run("dem%").name == "dem%"
    with pytest.raises(StoreError, match="digits"):
        store.create_run("42")
    with pytest.raises(StoreError, match="run name"):
        store.create_run(" padded ")


def test_recipe_model_notes_and_step_records_are_json(store: Store) -> None:
    recipe = {"passes": ("prune", "quantize"), "lr": 1e-3, "bad": math.nan, "path": Path("a/b")}
    run = store.create_run(
        "j", recipe=recipe, model={"kind": "mlp", "hidden": [32, 16]}, notes="n"
    )
    store.add_step(run.id, "train", "fit", {"epochs": 3, "warnings": ["lr decayed"]})
    got = store.get_run(run.id)
    assert got.recipe == {"passes": ["prune", "quantize"], "lr": 1e-3, "bad": None, "path": "a/b"}
    assert got.model == {"kind": "mlp", "hidden": [32, 16]}
    assert got.notes == "n"
    assert got.steps[0].record == {"epochs": 3, "warnings": ["lr decayed"]}
    assert got.steps[0].kind == "train"
    with pytest.raises(StoreError, match=r"recipe of run 'k'.*/x.*object"):
        store.create_run("k", recipe={"x": object()})


@dataclass(frozen=True)
class _Config:
    hidden: tuple[int, ...]
    act: str


def test_documents_convert_dataclasses_and_numpy_scalars(store: Store) -> None:
    np = pytest.importorskip("numpy")
    record = {"config": _Config((32, 16), "relu"), "n": np.int64(3), "x": np.float32(0.5)}
    run = store.create_run("doc")
    store.add_step(run.id, "export", "onnx", record)
    stored = store.get_run("doc").steps[0].record
    assert stored == {"config": {"hidden": [32, 16], "act": "relu"}, "n": 3, "x": 0.5}
    assert type(stored["n"]) is int


def test_list_finish_and_delete(store: Store) -> None:
    a = store.create_run("a")
    b = store.create_run("b")
    store.add_step(a.id, "export", "onnx")
    store.add_metrics(a.id, [Metric("accuracy", 0.9, "1", "measured")])
    store.finish_run(a.id)
    store.finish_run(b.id, "failed")
    runs = store.list_runs()
    assert [(r.name, r.status, r.n_steps, r.n_metrics) for r in runs] == [
        ("a", RunStatus.FINISHED, 1, 1),
        ("b", RunStatus.FAILED, 0, 0),
    ]
    assert all(r.finished_at is not None and r.finished_at >= r.created_at for r in runs)
    assert runs[0].created_at.tzinfo is not None
    with pytest.raises(StoreError, match="'finished' or 'failed'"):
        store.finish_run(a.id, "running")
    with pytest.raises(StoreError, match="'finished' or 'failed'"):
        store.finish_run(a.id, "done")

    store.delete_run("a")
    assert [r.name for r in store.list_runs()] == ["b"]
    again = store.create_run("a")  # the name is free again; no orphans were left behind
    assert store.get_run(again.id).metrics == ()
    assert store.get_run(str(b.id)).name == "b"  # digits mean an id


def test_missing_runs_and_steps_are_named(store: Store) -> None:
    run = store.create_run("present")
    with pytest.raises(StoreError, match="run 'ghost' not found in store"):
        store.get_run("ghost")
    with pytest.raises(StoreError, match="run 999 not found"):
        store.get_run(999)
    with pytest.raises(StoreError, match="run 'ghost' not found"):
        store.delete_run("ghost")
    with pytest.raises(StoreError, match="run 999 not found"):
        store.add_step(999, "pass", "prune")
    with pytest.raises(StoreError, match="run 999 not found"):
        store.add_metrics(999, [Metric("accuracy", 1.0, "1", "measured")])
    with pytest.raises(StoreError, match="run 999 not found"):
        store.finish_run(999)
    with pytest.raises(StoreError, match="step 5 of run 'present' not found"):
        store.add_metrics(run.id, [Metric("accuracy", 1.0, "1", "measured")], step=5)
    with pytest.raises(StoreError, match="step kind"):
        store.add_step(run.id, "Not A Kind", "x")


def test_metric_keys_are_unique_unless_replaced(store: Store) -> None:
    run = store.create_run("dup")
    store.add_metrics(run.id, [Metric("latency_p50", 1.0, "s", "measured", "ort")])
    with pytest.raises(StoreError, match=r"latency_p50\[ort\] of run 'dup' is already stored"):
        store.add_metrics(run.id, [Metric("latency_p50", 2.0, "s", "measured", "ort")])
    with pytest.raises(StoreError, match="given twice"):
        store.add_metrics(
            run.id, [Metric("x", 1.0, "1", "measured"), Metric("x", 2.0, "1", "measured")]
        )
    store.add_metrics(run.id, [Metric("latency_p50", 3.0, "s", "measured", "c")])  # new context
    store.add_metrics(run.id, [Metric("latency_p50", 2.0, "s", "simulated", "ort")], replace=True)
    got = store.get_run(run.id)
    assert {m.key: (m.value, m.provenance) for m in got.metrics} == {
        "latency_p50[c]": (3.0, Provenance.MEASURED),
        "latency_p50[ort]": (2.0, Provenance.SIMULATED),
    }


def test_artifacts_record_digest_and_size(store: Store, tmp_path: Path) -> None:
    run = store.create_run("art")
    payload = bytes(range(256)) * 5000
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(payload)
    record = store.add_artifact(run.id, "onnx", onnx)
    assert record.bytes == len(payload)
    assert record.sha256 == hashlib.sha256(payload).hexdigest()
    (stored,) = store.get_run("art").artifacts
    assert (stored.kind, stored.path, stored.bytes, stored.sha256) == (
        "onnx",
        str(onnx.resolve()),
        len(payload),
        record.sha256,
    )
    with pytest.raises(StoreError, match=r"cannot read artifact .*missing\.bin of run"):
        store.add_artifact(run.id, "c-source", tmp_path / "missing.bin")
    with pytest.raises(StoreError, match="run 999 not found"):
        store.add_artifact(999, "onnx", onnx)
