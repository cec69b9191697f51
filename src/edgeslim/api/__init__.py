"""Layer 6: the user verbs as plain functions; the CLI is a thin shell over these.

Strings become objects here (STYLE rule 3): a store URL becomes a store, a recipe path becomes
validated run specs, a model path becomes a loaded model.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from edgeslim.api.compare import compare as compare_platforms
from edgeslim.api.pipeline import RunResult, run_one, run_recipe
from edgeslim.api.progress import NullProgress, Progress
from edgeslim.api.recipe import RunSpec, load_recipe, parse_recipe

__all__ = [
    "NullProgress",
    "Progress",
    "RunResult",
    "RunSpec",
    "compare_platforms",
    "demo_specs",
    "load_recipe",
    "open_store",
    "parse_recipe",
    "report",
    "run",
    "run_one",
    "run_recipe",
]


def open_store(url: str | Path | None) -> Any:
    from edgeslim.store import open_store as _open

    return _open(url)


def demo_specs(quick: bool = False) -> tuple[RunSpec, ...]:
    """The runs of ``edgeslim demo``; ``quick`` trims epochs for tests."""
    text = resources.files("edgeslim.api").joinpath("demo.yaml").read_text(encoding="utf-8")
    specs = parse_recipe(text, source="edgeslim/api/demo.yaml")
    if not quick:
        return specs
    return tuple(
        s.model_copy(
            update={
                "train": s.train.model_copy(update={"epochs": 2}),
                "measure": s.measure.model_copy(
                    update={"repeats": 5, "warmup": 1, "threads": (1,)}
                ),
            }
        )
        for s in specs
    )


run = run_recipe  # the verb behind `edgeslim run`


def report(
    store: Any, out_path: Path, *, runs: list[str] | None = None, force: bool = False
) -> Path:
    """Write the HTML report (and its markdown twin) for ``runs`` (all when None)."""
    from edgeslim.report import build_report

    return Path(build_report(store, runs, out_path, force=force))
