from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from edgeslim._core import EdgeslimError, Metric, Provenance
from edgeslim.report import (
    Direction,
    direction_of,
    format_value,
    get_comparison_info,
    get_layer_cost_info,
    get_scatter_info,
)
from edgeslim.store import RunRecord

M, C, E = Provenance.MEASURED, Provenance.COMPUTED, Provenance.ESTIMATED
MakeRun = Callable[..., RunRecord]


def _runs(make_run: MakeRun) -> list[RunRecord]:
    """Crafted so that 'bad' is dominated by 'pruned', and 'tie' equals 'int8'."""

    def metrics(acc: float, latency: float, sparsity: float) -> list[Metric]:
        return [
            Metric("latency_p50", latency, "s", M, "ort"),
            Metric("accuracy", acc, "1", M),
            Metric("sparsity", sparsity, "1", C),
        ]

    return [
        make_run(
            1, "base", metrics(0.95, 10e-3, 0.0), artifacts=[("onnx", 400), ("checkpoint", 9)]
        ),
        make_run(2, "pruned", metrics(0.93, 6e-3, 0.5), artifacts=[("onnx", 200)]),
        make_run(3, "int8", metrics(0.92, 3e-3, 0.5), artifacts=[("onnx", 100)]),
        make_run(4, "bad", metrics(0.90, 8e-3, 0.6), artifacts=[("onnx", 300)]),
        make_run(5, "tie", metrics(0.92, 3e-3, 0.5), artifacts=[("onnx", 100)]),
    ]


def test_directions_by_name_prefix_unit_and_override() -> None:
    assert direction_of("accuracy", "1") is Direction.HIGHER
    assert direction_of("latency_p95", "s") is Direction.LOWER
    assert direction_of("flash_bytes", "B") is Direction.LOWER
    assert direction_of("artifact_bytes", "B") is Direction.LOWER
    assert direction_of("throughput", "1/s") is Direction.HIGHER
    assert direction_of("wall_time", "s") is Direction.LOWER  # by unit
    assert direction_of("macro_f1", "1") is Direction.HIGHER  # by the last word
    assert direction_of("prediction_agreement", "1") is Direction.HIGHER
    assert direction_of("output_max_abs_diff", "1") is Direction.LOWER
    assert direction_of("peak_activation_bytes", "B") is Direction.LOWER
    assert direction_of("sparsity", "1") is None
    assert direction_of("sparsity", "1", {"sparsity": Direction.HIGHER}) is Direction.HIGHER


def test_comparison_columns_best_cells_and_pareto(make_run: MakeRun) -> None:
    info = get_comparison_info(_runs(make_run))
    keys = [c.key for c in info.columns]
    assert keys == ["accuracy", "artifact_bytes[onnx]", "latency_p50[ort]", "sparsity"]
    units = {c.key: (c.unit, c.direction) for c in info.columns}
    assert units["artifact_bytes[onnx]"] == ("B", Direction.LOWER)
    assert units["sparsity"] == ("1", None)
    assert info.objectives == ("accuracy", "artifact_bytes[onnx]", "latency_p50[ort]")
    front = {row.run_name: row.on_front for row in info.rows}
    assert front == {"base": True, "pruned": True, "int8": True, "bad": False, "tie": True}

    def best(key: str) -> set[str]:
        j = keys.index(key)
        return {row.run_name for row in info.rows if row.cells[j].is_best}

    assert best("accuracy") == {"base"}
    assert best("latency_p50[ort]") == {"int8", "tie"}  # a tie marks both
    assert best("artifact_bytes[onnx]") == {"int8", "tie"}
    assert best("sparsity") == set()  # no better side
    cell = info.rows[0].cells[keys.index("artifact_bytes[onnx]")]
    assert (cell.value, cell.provenance) == (400.0, C)  # derived from the artifact record
    assert info.rows[0].cells[0].provenance is M


def test_default_objectives_are_quality_size_and_latency(make_run: MakeRun) -> None:
    def metrics(acc: float, size: float, fast: float) -> list[Metric]:
        return [
            Metric("accuracy", acc, "1", M),
            Metric("macro_f1", acc, "1", M),
            Metric("artifact_bytes", size, "B", C),
            Metric("latency_p50", fast, "s", M, "torch"),
            Metric("latency_p50", fast, "s", M, "onnxruntime"),
            Metric("params", size / 4, "param", C),
        ]

    runs = [
        make_run(1, "a", metrics(0.9, 1000, 1e-3), artifacts=[("onnx", 5)]),
        make_run(2, "b", metrics(0.8, 2000, 1e-3), artifacts=[("onnx", 5)]),
    ]
    info = get_comparison_info(runs)
    assert info.objectives == ("accuracy", "artifact_bytes", "latency_p50[onnxruntime]")
    assert "artifact_bytes[onnx]" not in [c.key for c in info.columns]  # the stored one rules
    assert [row.on_front for row in info.rows] == [True, False]


def test_reference_gives_ratios(make_run: MakeRun) -> None:
    info = get_comparison_info(_runs(make_run), reference="base", metrics=["artifact_bytes"])
    assert info.reference == "base"
    assert [row.is_reference for row in info.rows] == [True, False, False, False, False]
    assert [row.cells[0].ratio for row in info.rows] == [1.0, 0.5, 0.25, 0.75, 0.25]
    with pytest.raises(EdgeslimError, match="reference run 'nobody'"):
        get_comparison_info(_runs(make_run), reference="nobody")


def test_objectives_skip_incomplete_columns_unless_asked(make_run: MakeRun) -> None:
    runs = [*_runs(make_run), make_run(6, "nolat", [Metric("accuracy", 0.99, "1", M)])]
    info = get_comparison_info(runs)
    assert info.objectives == ("accuracy",)  # the others are missing for 'nolat'
    assert [row.on_front for row in info.rows] == [False] * 5 + [True]
    explicit = get_comparison_info(runs, objectives=["accuracy", "latency_p50[ort]"])
    assert explicit.rows[-1].on_front is None  # cannot be placed without a latency
    assert explicit.rows[0].on_front is True
    with pytest.raises(EdgeslimError, match="no direction"):
        get_comparison_info(runs, objectives=["sparsity"])
    with pytest.raises(EdgeslimError, match="not among the columns"):
        get_comparison_info(runs, objectives=["energy"])


def test_nan_values_are_never_best_nor_on_front(make_run: MakeRun) -> None:
    runs = [
        make_run(1, "a", [Metric("accuracy", math.nan, "1", M)]),
        make_run(2, "b", [Metric("accuracy", 0.5, "1", M)]),
    ]
    info = get_comparison_info(runs, objectives=["accuracy"])
    assert [row.on_front for row in info.rows] == [None, True]
    assert [row.cells[0].is_best for row in info.rows] == [False, True]


def test_warnings_come_from_metrics_and_step_records(make_run: MakeRun) -> None:
    run = make_run(
        1,
        "w",
        [Metric("accuracy", 0.9, "1", M), Metric("warning.realized_speedup", 0.4, "1", M, "ort")],
        steps=[
            ("pass", "prune", {"warnings": ["only 30 % sparsity realized"]}),
            ("export", "onnx", {"warnings": [{"code": "W1", "message": "fell back to float"}]}),
        ],
    )
    info = get_comparison_info([run])
    assert [c.key for c in info.columns] == ["accuracy"]  # warnings are no column
    assert info.rows[0].warnings == (
        "realized_speedup [ort]: 0.4",
        "prune: only 30 % sparsity realized",
        "onnx: fell back to float",
    )


def test_stored_metric_wins_over_artifact_size_and_units_must_agree(make_run: MakeRun) -> None:
    stored = Metric("artifact_bytes", 42, "B", M, "onnx")
    run = make_run(1, "a", [stored], artifacts=[("onnx", 100)])
    assert get_comparison_info([run]).rows[0].cells[0].value == 42.0
    ms = make_run(2, "b", [Metric("latency_p50", 3.0, "ms", M)])
    s = make_run(3, "c", [Metric("latency_p50", 3e-3, "s", M)])
    with pytest.raises(EdgeslimError, match=r"latency_p50 has different units \('ms' in run 'b'"):
        get_comparison_info([ms, s])


def test_scatter_points_front_and_skipped(make_run: MakeRun) -> None:
    runs = [*_runs(make_run), make_run(6, "nosize", [Metric("accuracy", 0.99, "1", M)])]
    info = get_scatter_info(runs, "artifact_bytes", "accuracy")
    assert info.x.key == "artifact_bytes[onnx]" and info.y.key == "accuracy"
    assert info.skipped == ("nosize",)
    names = [p.run_name for p in info.points]
    assert [names[i] for i in info.front] == ["int8", "tie", "pruned", "base"]  # by x
    assert {p.run_name for p in info.points if not p.on_front} == {"bad"}
    assert info.title == "accuracy vs artifact_bytes[onnx]"
    undirected = get_scatter_info(runs, "sparsity", "accuracy")
    assert undirected.front == () and not any(p.on_front for p in undirected.points)


def test_scatter_by_name_takes_the_context_most_runs_have(make_run: MakeRun) -> None:
    runs = [
        make_run(1, "a", [Metric("latency_p50", 1.0, "s", M, "c"), Metric("accuracy", 1, "1", M)]),
        make_run(
            2, "b", [Metric("latency_p50", 2.0, "s", M, "ort"), Metric("accuracy", 1, "1", M)]
        ),
        make_run(
            3, "d", [Metric("latency_p50", 3.0, "s", M, "ort"), Metric("accuracy", 1, "1", M)]
        ),
    ]
    info = get_scatter_info(runs, "latency_p50", "accuracy")
    assert info.x.key == "latency_p50[ort]"
    assert [p.run_name for p in info.points] == ["b", "d"]
    assert info.skipped == ("a",)


def test_layer_costs_from_the_latest_measure_step(make_run: MakeRun) -> None:
    old = {"layers": [{"name": "x", "op": "Gemm", "macs": 1}]}
    conv = {"name": "c1", "op": "Conv", "macs": 300, "params": 27}
    new = {"layers": [conv, {"name": "fc", "op": "Gemm", "macs": 100}]}
    run = make_run(
        1, "r", steps=[("measure", "a", old), ("train", "t", {}), ("measure", "b", new)]
    )
    info = get_layer_cost_info(run)
    assert info is not None
    assert info.step == 2
    assert [(x.name, x.op, x.macs, x.params) for x in info.layers] == [
        ("c1", "Conv", 300.0, 27.0),
        ("fc", "Gemm", 100.0, None),
    ]
    assert info.total_macs == 400.0
    assert info.working_layers == info.layers
    assert get_layer_cost_info(make_run(2, "none", steps=[("train", "t", {})])) is None
    bad = make_run(3, "bad", steps=[("measure", "m", {"layers": [{"name": "c", "op": "Conv"}]})])
    with pytest.raises(EdgeslimError, match=r"run 'bad' step 0 \('m'\): layers\[0\] 'macs'"):
        get_layer_cost_info(bad)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1234.0, "B", "1.23 kB"),
        (999.7, "B", "1 kB"),
        (1.25e-3, "s", "1.25 ms"),
        (3.5e-7, "s", "350 ns"),
        (2.5e9, "MAC", "2.5 GMAC"),
        (0.93751, "1", "0.9375"),
        (12.5, "%", "12.5 %"),
        (0.0, "B", "0 B"),
        (423_200.0, "samples/s", "423 k samples/s"),
        (6572.0, "param", "6572 param"),
        (None, "B", "—"),
        (math.nan, "s", "n/a"),
        (math.inf, "B", "∞ B"),
    ],
)
def test_format_value(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text
