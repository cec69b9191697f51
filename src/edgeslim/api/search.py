"""Hardware-aware search: ``search`` (run or resume a study), ``calibrate``, ``show``, ``export``.

::

    res = search("recipes/search-motions.yaml", target="cortex-m4",
                 budget="flash=64KB,ram=16KB", trials=60, store=db, workers=2)
    info = show("motions-search", store=db)        # counts, Pareto front, baselines, exports
    export_front("motions-search", store=db)       # front -> C -> QEMU: measured vs predicted

The study is an Optuna study in the store's database (its tables sit beside the runs); the
instruction model's calibration, the baselines and the measured front are stored as runs
(``search-calibration-<target>``, ``<study>-baselines``, ``<study>-front``) and as study
attributes, so ``show`` and the report read them back.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgeslim._core.errors import EdgeslimError, RecipeError, StoreError
from edgeslim._core.records import Metric, Provenance
from edgeslim.api.progress import NullProgress, Progress

CALIBRATION_SAMPLES = 16


def _storage_url(store: Any) -> str:
    """The store's SQLAlchemy URL with its password (Optuna opens its own engine on it)."""
    url = getattr(store, "_url", None)
    if url is None:
        raise StoreError(f"store {store.url} has no SQLAlchemy URL for the Optuna study")
    return str(url.render_as_string(hide_password=False))


def _read_recipe(recipe: str | Path) -> tuple[str, Any]:
    from edgeslim.search import parse_search_recipe

    p = Path(recipe)
    if not p.is_file():
        raise RecipeError(f"search recipe {p} does not exist")
    text = p.read_text(encoding="utf-8")
    return text, parse_search_recipe(text, source=str(p))


# -- calibration ---------------------------------------------------------------------------------


def _calibration_modules(parsed: Any, dataset: Any, n: int, seed: int) -> list[tuple[str, Any]]:
    """Untrained modules spanning the recipe's families and its baselines."""
    from edgeslim.models import build_model, config_from_dict
    from edgeslim.search import Candidate, random_trials, sample_candidate
    from edgeslim.search._study import build, compress

    mods: list[tuple[str, Any]] = []
    for name, cfg in parsed.baselines.items():
        mods.append((f"baseline {name}", build_model(config_from_dict(dict(cfg)), dataset.spec)))
    if searches_int8(parsed):  # the int8 kernels of every baseline, besides the float ones
        for label, module in list(mods):
            cand = Candidate("baseline", {}, {"bits": 8})
            mods.append((f"{label} int8", compress(module, cand, parsed, dataset, False)))
    trials = random_trials(seed)
    tries = 0
    while len(mods) < n + len(parsed.baselines) and tries < 5 * n:
        tries += 1
        cand = sample_candidate(next(trials), parsed)
        try:
            module = compress(build(cand, parsed, dataset), cand, parsed, dataset, False)
        except EdgeslimError:
            continue
        mods.append((f"{cand.family} {cand.arch}", module))
    return mods


def calibrate(
    recipe: str | Path,
    target: str,
    store: Any,
    samples: int = CALIBRATION_SAMPLES,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Measure candidates of the recipe's space in QEMU, fit the per-kernel instruction model,
    report its leave-one-out error and store it (run ``search-calibration-<target>``)."""
    from edgeslim.api import deploy
    from edgeslim.backends.qemu import mcu_toolchain_available
    from edgeslim.search import InstructionModel, calibration_error, load_data, lower_module
    from edgeslim.search import step_features as feats
    from edgeslim.targets import load_target

    progress = progress or NullProgress()
    _, parsed = _read_recipe(recipe)
    prof = load_target(target)
    if not (prof.is_mcu and mcu_toolchain_available(prof)):
        raise EdgeslimError(
            f"calibration runs candidates on {target} in QEMU; it needs an MCU target and "
            f"{prof.cc}, arm-none-eabi-size and qemu-system-arm"
        )
    dataset = load_data(parsed)
    mods = _calibration_modules(parsed, dataset, samples, parsed.seed + 7919)
    task = progress.task(f"calibrate {target}", total=len(mods))
    measured: list[tuple[str, Any, list[dict[str, Any]], float]] = []
    x = dataset.x_test[:1]
    for label, module in mods:
        with tempfile.TemporaryDirectory(prefix="edgeslim-cal-") as tmp:
            program, onnx_path = lower_module(module, dataset, Path(tmp), target)
            graph = deploy.load_model(onnx_path)
            rep = deploy.measure_deploy(graph, x, target, Path(tmp) / "w")
        rows = [
            dict(zip(("kernel", "macs", "out_elems"), feats(program, s), strict=True))
            | {"instructions": lay["instructions"]}
            for s, lay in zip(program.steps, rep.layers, strict=True)
        ]
        total = next(m.value for m in rep.metrics if m.name == "instructions")
        measured.append((label, program, rows, total))
        task.advance(1)
    task.done()
    loo = _leave_one_out(target, measured)
    model = InstructionModel.fit(target, [r for m in measured for r in m[2]])
    model = replace(model, error=loo | {"models": float(len(measured))})
    in_sample = calibration_error(model, [(m[1], m[3]) for m in measured])
    run = store.create_run(f"search-calibration-{target}", model={"target": target})
    store.add_step(
        run.id,
        "calibrate",
        target,
        {
            "model": model.to_dict(),
            "in_sample": in_sample,
            "candidates": [
                {"label": m[0], "instructions": m[3], "predicted": model.predict(m[1])}
                for m in measured
            ],
        },
    )
    comp = Provenance.COMPUTED
    store.add_metrics(
        run.id,
        [
            Metric(
                "calibration_mean_rel_error", loo.get("mean_rel_error", 0.0), "1", comp, target
            ),
            Metric("calibration_max_rel_error", loo.get("max_rel_error", 0.0), "1", comp, target),
        ],
    )
    store.finish_run(run.id)
    return model.to_dict()


def _leave_one_out(target: str, measured: list[Any]) -> dict[str, float]:
    """Error of predicting each calibration model's instructions from a fit on the others."""
    from edgeslim.search import InstructionModel, calibration_error

    errs = []
    for i, (_, program, _, total) in enumerate(measured):
        rows = [r for j, m in enumerate(measured) if j != i for r in m[2]]
        errs.append(calibration_error(InstructionModel.fit(target, rows), [(program, total)]))
    if not errs:
        return {}
    return {
        "mean_rel_error": sum(e["mean_rel_error"] for e in errs) / len(errs),
        "max_rel_error": max(e["max_rel_error"] for e in errs),
    }


def _check_distill(parsed: Any, source: str | Path) -> None:
    """Distillation (``compress.distill``) matches logits: classification datasets only."""
    from edgeslim.data.spec import Task
    from edgeslim.search import load_data

    distill = parsed.space.get("compression", {}).get("distill", False)
    if True not in (distill if isinstance(distill, list) else [distill]):
        return
    if load_data(parsed).spec.task is not Task.CLASSIFICATION:
        raise RecipeError(
            f"{source}: key 'space.compression.distill': distillation needs a classification "
            f"dataset; {parsed.data.name} is a regression set (use distill: false)"
        )


def searches_int8(parsed: Any) -> bool:
    """Whether the recipe's compression space holds int8 (``bits`` 8)."""
    bits = parsed.space.get("compression", {}).get("bits", 32)
    return 8 in (bits if isinstance(bits, list) else [bits])


def has_int8_kernels(calibration: dict[str, Any]) -> bool:
    """Whether an instruction model has coefficients of int8 kernels (``q*``, ``*_i8``)."""
    return any(k.startswith("q") or k.endswith("_i8") for k in calibration.get("coef", {}))


def _stored_calibration(store: Any, target: str) -> dict[str, Any] | None:
    name = f"search-calibration-{target}"
    runs = [r for r in store.list_runs() if r.name == name or r.name.startswith(name + "-")]
    for r in sorted(runs, key=lambda r: r.id, reverse=True):
        rec = store.get_run(r.id)
        for step in rec.steps:
            if step.kind == "calibrate":
                return dict(step.record["model"])
    return None


# -- search --------------------------------------------------------------------------------------


def search(
    recipe: str | Path,
    *,
    target: str,
    store: Any,
    budget: str = "",
    trials: int = 20,
    resume: bool = False,
    workers: int = 1,
    use_ray: bool = False,
    out_dir: Path = Path("edgeslim-out"),
    name: str | None = None,
    force: bool = False,
    calibration_samples: int = CALIBRATION_SAMPLES,
    export_top: int | None = None,
    progress: Progress | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run (or with ``resume`` continue) the study until it holds ``trials`` finished trials."""
    from edgeslim import search as s
    from edgeslim.targets import load_target

    progress = progress or NullProgress()
    text, parsed = _read_recipe(recipe)
    load_target(target)
    if trials < 1 or workers < 1:
        raise RecipeError("--trials and --workers must be at least 1")
    _check_distill(parsed, recipe)
    study_name = name or parsed.name
    url = _storage_url(store)
    exists = s.study_exists(url, study_name)
    if exists and not (resume or force):
        raise EdgeslimError(
            f"study {study_name!r} exists in {store.url}; pass --resume to continue it or "
            "--force to start it over"
        )
    if exists and force and not resume:
        s.delete_study(url, study_name)
        exists = False
    if resume and not exists:
        raise EdgeslimError(f"no study {study_name!r} in {store.url} to resume")
    calib = None
    budget_d = s.parse_budget(budget) if budget else {}
    if exists:
        attrs = s.load_study(url, study_name).user_attrs  # type: ignore[union-attr]
        calib = attrs.get("calibration")
        if attrs.get("target") != target:
            raise EdgeslimError(
                f"study {study_name!r} searches for target {attrs.get('target')}; resume it with "
                f"--target {attrs.get('target')}"
            )
        if budget and budget_d != attrs.get("budget"):
            raise EdgeslimError(
                f"study {study_name!r} has budget {attrs.get('budget')}; resume it with the same "
                "--budget (or none)"
            )
        budget_d = dict(attrs.get("budget", {}))
    calib = calib or _stored_calibration(store, target)
    int8 = searches_int8(parsed)
    if not exists and calib and int8 and not has_int8_kernels(calib) and calibration_samples > 0:
        calib = None  # a float-only calibration: calibrate again with int8 candidates
    if calib is None and calibration_samples <= 0:
        calib = s.InstructionModel(target, {}, error={"uncalibrated": 1.0}).to_dict()
    if calib is None:
        try:
            calib = calibrate(recipe, target, store, calibration_samples, progress)
        except EdgeslimError as exc:  # no toolchain: a flat model, flagged in the study
            calib = s.InstructionModel(target, {}, error={"uncalibrated": 1.0}).to_dict()
            progress.task(f"no calibration: {exc}", total=None).done()
    setup = s.SearchSetup(
        text, url, study_name, target, budget_d, trials, calib, str(out_dir), 1, extra or {}
    )
    study = s.open_study(setup, create=not exists)
    if not exists:
        study.set_user_attr("recipe", text)
        study.set_user_attr("target", target)
        study.set_user_attr("budget", budget_d)
        study.set_user_attr("calibration", calib)
        study.set_user_attr("objectives", dict(parsed.objectives))
    recovered = s.recover(study) if exists else 0
    before = s.counts(study)
    task = progress.task(f"search {study_name}", total=trials)
    task.advance(before["complete"] + before["pruned"])
    seen = [before["complete"] + before["pruned"]]

    def on_counts(c: dict[str, int]) -> None:
        done = c["complete"] + c["pruned"]
        if done > seen[0]:
            task.advance(done - seen[0])
            seen[0] = done

    if use_ray:
        s.run_ray(setup, workers)
    elif workers > 1:
        s.run_workers(setup, workers, on_counts)
    else:
        s.worker(setup, lambda t: on_counts(s.counts(study)))
    task.done()
    if "baselines" not in study.user_attrs and parsed.baselines:
        _baselines(study, setup, parsed, store, progress)
    top = parsed.export_top if export_top is None else export_top
    exports: list[dict[str, Any]] = []
    if top > 0:
        exports = export_front(study_name, store=store, top=top, progress=progress)
    info = show(study_name, store=store)
    info["recovered"] = recovered
    info["exports"] = exports or info.get("exports", [])
    return info


def _baselines(study: Any, setup: Any, parsed: Any, store: Any, progress: Progress) -> None:
    from edgeslim import search as s

    dataset = s.load_data(parsed)
    task = progress.task("baselines", total=len(parsed.baselines))
    out = []
    for bname, cfg in parsed.baselines.items():
        out.append(s.run_baseline(bname, cfg, setup, dataset))
        task.advance(1)
    task.done()
    study.set_user_attr("baselines", out)


# -- show / export -------------------------------------------------------------------------------


def _load(name: str, store: Any) -> Any:
    from edgeslim.search import load_study

    study = load_study(_storage_url(store), name)
    if study is None:
        raise StoreError(f"no search study {name!r} in {store.url}")
    return study


def show(name: str, *, store: Any) -> dict[str, Any]:
    """Counts by state and status, the Pareto front, baselines, calibration and exports."""
    from edgeslim import search as s

    study = _load(name, store)
    rows = s.trial_rows(study)
    objectives = dict(study.user_attrs.get("objectives", {}))
    front = s.pareto_front(rows, list(objectives.values()))
    status: dict[str, int] = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
    secs = [r["seconds"] for r in rows if r["seconds"]]
    return {
        "name": name,
        "target": study.user_attrs.get("target"),
        "budget": study.user_attrs.get("budget", {}),
        "objectives": objectives,
        "counts": s.counts(study),
        "status": status,
        "front": front,
        "baselines": study.user_attrs.get("baselines", []),
        "exports": study.user_attrs.get("exports", []),
        "calibration": study.user_attrs.get("calibration", {}).get("error", {}),
        "trials": rows,
        "train_seconds": float(sum(secs)),
    }


def export_front(
    name: str, *, store: Any, top: int = 3, samples: int = 10, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Export the front's best trade-offs (and the baselines) to C, run them in QEMU, store
    measured vs predicted cost as the run ``<name>-front``."""
    from edgeslim.api import deploy
    from edgeslim.backends.qemu import mcu_toolchain_available
    from edgeslim.search import load_data, parse_search_recipe
    from edgeslim.targets import load_target

    progress = progress or NullProgress()
    info = show(name, store=store)
    target = str(info["target"])
    prof = load_target(target)
    if not (prof.is_mcu and mcu_toolchain_available(prof)):
        return []
    study = _load(name, store)
    parsed = parse_search_recipe(study.user_attrs["recipe"], source=name)
    dataset = load_data(parsed)
    x = dataset.x_test[:samples]
    chosen = [("trial", r) for r in _spread(info["front"], top)]
    chosen += [("baseline", b) for b in info["baselines"]]
    task = progress.task(f"measure {name} on {target}", total=len(chosen))
    out: list[dict[str, Any]] = []
    run = store.create_run(f"{name}-front", model={"study": name, "target": target})
    for kind, r in chosen:
        label = f"trial-{r['number']}" if kind == "trial" else f"baseline-{r['name']}"
        graph = deploy.load_model(r["onnx"])
        with tempfile.TemporaryDirectory(prefix="edgeslim-front-") as tmp:
            rep = deploy.measure_deploy(graph, x, target, tmp)
        measured = {m.name: m.value for m in rep.metrics}
        pred = r["cost"]
        row = {
            "label": label,
            "kind": kind,
            "val_accuracy": r["val"].get("accuracy"),
            "test_accuracy": r["test"].get("accuracy"),
            "quality_metric": quality_name(r["test"]),
            "test_quality": r["test"].get(quality_name(r["test"])),
            "predicted": pred,
            "measured": measured,
            "exact": rep.exact,
            "instructions_error": measured["instructions"] / max(pred["instructions"], 1) - 1,
            "flash_error": measured["flash_bytes"] / max(pred["flash_bytes"], 1) - 1,
            "bits": int(r.get("bits", 32)),
            "distilled": bool(r.get("distilled", False)),
            "int8": bool(rep.options.get("int8", False)),
            "candidate": r.get("candidate") or r.get("config"),
        }
        out.append(row)
        ms = [replace(m, context=f"{label}|{m.context}") for m in rep.metrics]
        ms.append(
            Metric(
                f"test_{row['quality_metric']}",
                float(row["test_quality"] or 0.0),
                "1",
                Provenance.MEASURED,
                f"{label}|{target}",
            )
        )
        ms.append(
            Metric(
                "predicted_instructions",
                float(pred["instructions"]),
                "instr",
                Provenance.ESTIMATED,
                f"{label}|{target}",
            )
        )
        store.add_metrics(run.id, ms, replace=True)
        task.advance(1)
    store.add_step(run.id, "measure", target, {"exports": out})
    store.finish_run(run.id)
    task.done()
    study.set_user_attr("exports", out)
    return out


def quality_name(scores: dict[str, Any]) -> str:
    """``accuracy`` for classification scores, ``mae`` for regression."""
    return "accuracy" if "accuracy" in scores else "mae"


def _spread(front: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """Up to ``top`` front members spread over the first objective (best, cheapest, between)."""
    if len(front) <= top:
        return front
    idx = sorted({round(i * (len(front) - 1) / max(top - 1, 1)) for i in range(top)})
    return [front[i] for i in idx]


def report(name: str, *, store: Any, folder: str | Path, force: bool = False) -> list[Path]:
    """``search.html`` (front, baselines, all trials; measured vs predicted) and ``search.md``."""
    from edgeslim.report.search import build_search_report, get_search_info

    return build_search_report(get_search_info(show(name, store=store)), folder, force=force)
