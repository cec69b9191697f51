"""The pruning report's records are computed right, and both renderers draw each of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeslim.report.prune import (
    _plotly,
    get_channel_map_info,
    get_curve_info,
    get_histogram_info,
    get_layer_sparsity_info,
    get_process_info,
    get_ranking_info,
    get_sensitivity_info,
    render_prune_png,
)
from edgeslim.report.prune._records import ProcessStep, PruneRun


def _run(
    method: str,
    target: float,
    acc: float,
    macs: float,
    *,
    rid: int = 0,
    steps: int = 0,
    channels: bool = False,
) -> PruneRun:
    process = (
        tuple(
            ProcessStep(
                i,
                "prune",
                target * i / max(steps, 1),
                target * i / max(steps, 1),
                acc - 0.1,
                acc,
                (("a.weight", target * i / steps), ("b.weight", 0.1)),
            )
            for i in range(steps + 1)
        )
        if steps
        else ()
    )
    return PruneRun(
        run_id=rid,
        name=f"r{rid}",
        method=method,
        target=target,
        sparsity=target,
        structured=channels,
        accuracy=acc,
        params=1000 * (1 - target),
        macs=macs,
        latency=1e-5,
        artifact_bytes=4000.0,
        sparse_bytes=4000 * (1 - target) + 100,
        warnings=("realized gain: x",) if not channels and target else (),
        layers=(("a.weight", target), ("b.weight", target / 2)),
        channels=(("conv", (1, 0, 1)), ("fc", (1, 1))) if channels else (),
        channel_types=(("conv", "Conv2d"), ("fc", "Linear")) if channels else (),
        histogram=((-1.0, 0.0, 1.0), (5, 5), (2, 3)) if target else None,
        steps=process,
    )


RUNS = [
    _run("unpruned", 0.0, 0.95, 1000, rid=1),
    _run("magnitude", 0.8, 0.80, 1000, rid=3),
    _run("magnitude", 0.5, 0.94, 1000, rid=2, steps=2),
    _run("channel", 0.5, 0.90, 500, rid=4, channels=True),
    _run("channel", 0.8, 0.85, 200, rid=5, channels=True),
]


def test_curves_have_one_sorted_line_per_method_and_the_reference() -> None:
    info = get_curve_info(RUNS, "sparsity")
    assert [line.method for line in info.lines] == ["magnitude", "channel"]
    assert info.lines[0].xs == (0.5, 0.8) and info.lines[0].ys == (0.94, 0.80)
    assert info.reference == (0.0, 0.95)
    macs = get_curve_info(RUNS, "macs")
    assert macs.lines[1].xs == (200, 500)


def test_ranking_names_the_best_method_per_criterion() -> None:
    info = get_ranking_info(RUNS, tolerance=0.02)
    best = {c.criterion: c.entries[0][0] for c in info.criteria}
    assert best["accuracy at sparsity 0.5"] == "magnitude"
    assert best["accuracy at sparsity 0.8"] == "channel"
    assert best["mean accuracy over sparsities"] == "channel"  # 0.875 against 0.87
    within = next(c for c in info.criteria if c.criterion.startswith("smallest MACs"))
    assert [e[0] for e in within.entries] == ["magnitude @ 0.5"]  # only run within 0.02


def test_heatmap_channels_histogram_and_process() -> None:
    heat = get_layer_sparsity_info(RUNS)
    assert heat.columns == ("a.weight", "b.weight") and len(heat.rows) == 4
    cmap = get_channel_map_info(RUNS[4])
    assert cmap is not None and cmap.layers == ("conv",)  # conv layers only
    assert get_channel_map_info(RUNS[1]) is None
    hist = get_histogram_info(RUNS)
    assert hist is not None and len(hist.after) == 4 and hist.before == (5, 5)
    proc = get_process_info(RUNS[2])
    assert proc is not None and len(proc.steps) == 3
    assert get_process_info(RUNS[1]) is None


def test_process_figure_has_a_frame_and_slider_step_per_step() -> None:
    proc = get_process_info(RUNS[2])
    assert proc is not None
    fig = _plotly.process(proc)
    assert len(fig.frames) == 3
    assert len(fig.layout.sliders[0].steps) == 3


def test_every_record_draws_as_png(tmp_path: Path) -> None:
    infos = [
        get_curve_info(RUNS, "latency"),
        get_layer_sparsity_info(RUNS),
        get_channel_map_info(RUNS[4]),
        get_histogram_info(RUNS),
        get_process_info(RUNS[2]),
        get_sensitivity_info(
            [
                {
                    "layer": "a",
                    "kind": "weights",
                    "size": 3,
                    "levels": [0.5],
                    "scores": [0.9],
                    "baseline": 0.95,
                }
            ],
            {"a": 0.5},
        ),
    ]
    for i, info in enumerate(infos):
        assert info is not None
        path = render_prune_png(info, tmp_path / f"{i}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TypeError):
        render_prune_png(get_ranking_info(RUNS), tmp_path / "x.png")  # type: ignore[arg-type]
