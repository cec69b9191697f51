"""Layer 4: hardware-aware search (architectures and compression policies) with Optuna.

The only package that imports optuna. ``edgeslim.api.search`` drives it; see ``docs/search.md``.

::

    recipe = parse_search_recipe(text)
    model = InstructionModel.fit("cortex-m4", rows)      # rows measured in QEMU, per layer
    setup = SearchSetup(text, url, "motions", "cortex-m4", parse_budget("flash=64KB"), 60, ...)
    worker(setup)                                        # or run_workers(setup, 2)
    pareto_front(trial_rows(study), ["max", "min"])
"""

from __future__ import annotations

from edgeslim.search._cost import (
    Cost,
    InstructionModel,
    calibration_error,
    candidate_cost,
    lower_module,
    parse_budget,
    step_features,
)
from edgeslim.search._nets import FAMILIES, build_candidate
from edgeslim.search._space import (
    Candidate,
    SearchRecipe,
    candidate_from_params,
    parse_search_recipe,
    sample_candidate,
)
from edgeslim.search._study import (
    SearchSetup,
    counts,
    delete_study,
    load_data,
    load_study,
    open_study,
    pareto_front,
    random_trials,
    recover,
    run_baseline,
    run_ray,
    run_workers,
    study_exists,
    trial_rows,
    worker,
)

__all__ = [
    "FAMILIES",
    "Candidate",
    "Cost",
    "InstructionModel",
    "SearchRecipe",
    "SearchSetup",
    "build_candidate",
    "calibration_error",
    "candidate_cost",
    "candidate_from_params",
    "counts",
    "delete_study",
    "load_data",
    "load_study",
    "lower_module",
    "open_study",
    "pareto_front",
    "parse_budget",
    "parse_search_recipe",
    "random_trials",
    "recover",
    "run_baseline",
    "run_ray",
    "run_workers",
    "sample_candidate",
    "step_features",
    "study_exists",
    "trial_rows",
    "worker",
]
