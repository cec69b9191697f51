"""The Optuna study: hardware cost first, training second, every trial in the store's database.

Constraints are set per budget key with ``Trial.set_constraint`` (value / limit - 1; feasible
when <= 0), which NSGA-II and TPE use for constrained domination. One trial: sample a
candidate -> build it (and cut it with its pruning policy) untrained ->
predict flash, RAM and instructions from its lowered C program -> over budget: the trial is
told COMPLETE with its constraint violation and status ``rejected`` (no training; constrained
samplers learn from it) -> else train, with early epochs judged by a median rule (or an Optuna
pruner for one objective) -> prune/fine-tune -> the objectives -> COMPLETE, or PRUNED/FAIL with
the reason in the trial's user attributes.

The study lives in the same database as the store (Optuna RDB storage on the store's SQLAlchemy
URL), so ``optuna-dashboard sqlite:///edgeslim.db`` opens it. Several processes share one study
through that database (``workers``); :func:`recover` turns trials of a killed process back into
work (marked FAIL, their parameters enqueued again), so a resumed study loses no finished trial
and repeats none.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from edgeslim._core.errors import EdgeslimError, RecipeError
from edgeslim._core.seeding import seed_everything
from edgeslim.models.train import Callback
from edgeslim.search._cost import Cost, InstructionModel, candidate_cost, export_onnx
from edgeslim.search._nets import build_candidate
from edgeslim.search._space import Candidate, SearchRecipe, parse_search_recipe, sample_candidate

optuna.logging.set_verbosity(optuna.logging.WARNING)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MEDIAN_MIN_TRIALS = 4
_WORST = {"max": 0.0, "min": math.inf}


@dataclass(frozen=True)
class SearchSetup:
    """Everything a worker process needs (plain data, so it pickles)."""

    recipe_text: str
    storage_url: str
    study_name: str
    target: str
    budget: dict[str, float]
    trials: int
    calibration: dict[str, Any]
    out_dir: str
    torch_threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def recipe(self) -> SearchRecipe:
        return parse_search_recipe(self.recipe_text, source=self.study_name)


def storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna RDB storage on the store's URL (SQLite waits for locks like the store does)."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 60}}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def make_sampler(recipe: SearchRecipe) -> optuna.samplers.BaseSampler:
    if recipe.sampler == "random":
        return optuna.samplers.RandomSampler(seed=recipe.seed)
    if recipe.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=recipe.seed, n_startup_trials=8)
    return optuna.samplers.NSGAIISampler(seed=recipe.seed, population_size=12)


def _pruner(recipe: SearchRecipe) -> optuna.pruners.BasePruner:
    if recipe.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=recipe.train.epochs)
    if recipe.pruner == "median":
        return optuna.pruners.MedianPruner(n_warmup_steps=recipe.prune_warmup)
    return optuna.pruners.NopPruner()


def open_study(setup: SearchSetup, create: bool) -> optuna.Study:
    recipe = setup.recipe
    up, down = optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE
    directions = [up if d == "max" else down for d in recipe.objectives.values()]
    study = optuna.create_study(
        storage=storage(setup.storage_url),
        study_name=setup.study_name,
        sampler=make_sampler(recipe),
        pruner=_pruner(recipe),
        directions=directions,
        load_if_exists=not create,
    )
    return study


def study_exists(url: str, name: str) -> bool:
    return load_study(url, name) is not None


def recover(study: optuna.Study) -> int:
    """Fail the trials left RUNNING by a stopped or killed process and enqueue them again.

    Call only when no worker of this study runs. Returns how many trials were re-enqueued.
    """
    n = 0
    st = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        st.set_trial_user_attr(t._trial_id, "status", "interrupted")
        st.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        n += 1
    return n


def counts(study: optuna.Study) -> dict[str, int]:
    out = {s.name.lower(): 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name.lower()] += 1
    return out


class _Pruning(Callback):
    """Training callback: records the validation curve, stops bad trials on early epochs.

    One objective: Optuna's pruner (median / Hyperband) through ``trial.report``. Several:
    the median stopping rule (the trial's best value so far below the median of the best values
    up to the same epoch of every finished trial that reached it, pruned ones included, after
    ``prune_warmup`` epochs and :data:`MEDIAN_MIN_TRIALS` such trials), like Optuna's
    MedianPruner; checked at rungs (every ``prune_interval`` epochs from the warmup on) so a trial
    is not judged on every noisy epoch."""

    def __init__(self, trial: optuna.Trial, study: optuna.Study, recipe: SearchRecipe) -> None:
        self.trial, self.study, self.recipe = trial, study, recipe
        self.curve: list[float] = []
        self.single = len(recipe.objectives) == 1

    def on_epoch_end(self, epoch: int, logs: Any) -> bool:
        v = float(logs["val_metric"])
        self.curve.append(v)
        self.trial.set_user_attr("curve", self.curve)
        if self.recipe.pruner == "none":
            return False
        if self.single:
            self.trial.report(v, epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"epoch {epoch}: {self.recipe.pruner} pruner")
            return False
        warmup = self.recipe.prune_warmup
        interval = self.recipe.prune_interval or max(warmup, 1)
        if epoch < warmup or (epoch - warmup) % interval:
            return False  # judged at rungs: warmup, warmup + interval, ...
        others = [  # every trial that reached this epoch, pruned ones too (no survivor bias)
            max(t.user_attrs["curve"][: epoch + 1])
            for t in self.study.get_trials(deepcopy=False, states=FINISHED)
            if len(t.user_attrs.get("curve", ())) > epoch
        ]
        best = max(self.curve)
        if len(others) >= MEDIAN_MIN_TRIALS:
            median = float(np.median(others))
            if best < median:
                raise optuna.TrialPruned(
                    f"epoch {epoch}: best val metric {best:.3f} below the median {median:.3f} "
                    f"of {len(others)} trained trials at that epoch"
                )
        return False


def _train_config(recipe: SearchRecipe, policy: dict[str, Any], epochs: int | None = None) -> Any:
    from edgeslim.models.train import TrainConfig

    t = recipe.train
    return TrainConfig(
        epochs=int(policy["epochs"]) if epochs is None else epochs,
        lr=float(policy["lr"]),
        batch_size=t.batch_size,
        patience=t.patience,
        seed=recipe.seed,
        monitor=t.monitor,
    )


def _pass_context(recipe: SearchRecipe, dataset: Any, policy: dict[str, Any]) -> Any:
    from edgeslim.models.train import fit
    from edgeslim.passes import PassContext

    def fine_tune(module: Any, epochs: int) -> Any:
        if epochs > 0:
            fit(module, dataset, _train_config(recipe, policy, epochs))
        return module

    return PassContext(dataset, recipe.seed, fine_tune, None, None, {})


def sample_layer_policy(
    trial: Any, cand: Candidate, recipe: SearchRecipe, dataset: Any
) -> Candidate:
    """With ``compression.layer_sparsity`` in the space: one ratio per prunable group of this
    candidate (``compression.layer.<group>``), passed to ``prune.channel`` as group_sparsity."""
    from edgeslim.search._space import _suggest

    spec = recipe.space.get("compression", {}).get("layer_sparsity")
    if spec is None or cand.arch.get("cell") == "rnn":
        return cand
    import torch

    from edgeslim.passes.prune import build_dependency_graph

    module = build(cand, recipe, dataset)
    graph = build_dependency_graph(module, torch.zeros((1, *dataset.spec.input_shape)))
    sources = sorted({g.sources[0] for g in graph.groups if g.prunable})
    ratios = {src: float(_suggest(trial, f"compression.layer.{src}", spec)) for src in sources}
    policy = dict(cand.policy, group_sparsity=ratios, sparsity=max(ratios.values(), default=0.0))
    return Candidate(cand.family, cand.arch, policy)


PTQ_PARAMS = {"calibration_samples": 128, "per_channel": True}


def compress(
    module: Any,
    cand: Candidate,
    recipe: SearchRecipe,
    dataset: Any,
    tune: bool,
    teacher: Any = None,
) -> Any:
    """Apply the candidate's policy: structured pruning (``prune.channel``), then (``tune``)
    distillation (``compress.distill``) from ``teacher`` or, by default, the unpruned module,
    then the bit width (8: ``quantize.ptq``, a quantized module whose export is QDQ ONNX).

    With ``distill`` the pruned model is fine-tuned with the distillation loss for
    ``fine_tune_epochs`` instead of the plain loss (the same epochs either way)."""
    from edgeslim import passes

    policy = cand.policy
    sparsity = float(policy.get("sparsity", 0.0))
    ft = int(policy.get("fine_tune_epochs", 2))
    distill = tune and distills(cand) and ft > 0
    ctx = _pass_context(recipe, dataset, policy)
    if distill and teacher is None:
        import copy

        teacher = copy.deepcopy(module).eval()
    if sparsity > 0:
        params = {
            "sparsity": sparsity,
            "importance": policy.get("importance", "l2"),
            "fine_tune_epochs": ft if tune and not distill else 0,
        }
        if policy.get("group_sparsity"):
            params["group_sparsity"] = dict(policy["group_sparsity"])
        module = passes.apply("prune.channel", module, params, ctx).model
    if distill:
        ctx.extras.update(chain_input=teacher, train_config=_train_config(recipe, policy, ft))
        kd = {
            "teacher": "original",
            "epochs": ft,
            "alpha": float(policy.get("distill_alpha", 0.7)),
            "temperature": float(policy.get("distill_temperature", 4.0)),
        }
        module = passes.apply("compress.distill", module, kd, ctx).model
    if int(policy.get("bits", 32)) == 8:
        module = passes.apply("quantize.ptq", module, dict(PTQ_PARAMS), ctx).model
    return module


def distills(cand: Candidate) -> bool:
    """Whether the candidate's policy distills: ``distill`` on, and a teacher that differs from
    the student (a baseline, or the unpruned model of a pruned candidate)."""
    p = cand.policy
    if not p.get("distill"):
        return False
    return p.get("teacher", "unpruned") != "unpruned" or float(p.get("sparsity", 0.0)) > 0


_TEACHERS: dict[tuple[str, str], Any] = {}


def baseline_teacher(name: str, recipe: SearchRecipe, dataset: Any) -> Any:
    """The recipe's baseline ``name`` trained with the recipe's settings (once per process)."""
    key = (recipe.name, name)
    if key not in _TEACHERS:
        from edgeslim.models import build_model, config_from_dict
        from edgeslim.models.train import fit

        seed_everything(recipe.seed)
        module = build_model(config_from_dict(dict(recipe.baselines[name])), dataset.spec)
        fit(module, dataset, _train_config(recipe, {"lr": recipe.train.lr,
                                                    "epochs": recipe.train.epochs}))  # fmt: skip
        _TEACHERS[key] = module.eval()
    return _TEACHERS[key]


def build(cand: Candidate, recipe: SearchRecipe, dataset: Any) -> Any:
    seed_everything(recipe.seed)
    return build_candidate(cand.family, cand.arch, dataset.spec)


def predict_cost(
    cand: Candidate, recipe: SearchRecipe, dataset: Any, target: str, model: InstructionModel
) -> Cost:
    """Cost of the candidate as it will deploy (cut by its pruning policy), untrained."""
    return candidate_cost(
        compress(build(cand, recipe, dataset), cand, recipe, dataset, False),
        dataset,
        target,
        model,
    )


def objective_values(recipe: SearchRecipe, quality: dict[str, float], cost: Cost) -> list[float]:
    table = {
        "accuracy": quality.get("accuracy", 0.0),
        "mae": quality.get("mae", math.inf),
        "instructions": cost.instructions,
        "flash": cost.flash_bytes,
        "ram": cost.ram_bytes,
        "latency": cost.latency_s,
        "macs": cost.macs,
        "params": cost.params,
    }
    return [float(table[k]) for k in recipe.objectives]


def _quality(module: Any, dataset: Any, split: str) -> dict[str, float]:
    """Scores of ``module`` on ``split``; a quantized module is scored by running its QDQ
    ONNX (raw inputs) in onnxruntime, so int8 candidates are judged as quantized."""
    from edgeslim.models.train import evaluate

    proto = getattr(module, "proto", None)
    if proto is None:
        r = evaluate(module, dataset, split)
        return {k: float(v) for k, v in r.items()}
    import onnxruntime as ort

    from edgeslim.models.train._eval import scores, split_arrays

    x, y = split_arrays(dataset, split)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = [
        np.asarray(sess.run(None, {name: np.asarray(x[i : i + 1], np.float32)})[0])
        for i in range(len(x))
    ]
    out = np.concatenate(outs).astype(np.float32)
    return {**scores(dataset.spec.task, out, y), "samples": float(len(x))}


def run_trial(study: optuna.Study, setup: SearchSetup, dataset: Any) -> optuna.trial.FrozenTrial:
    """Ask, evaluate and tell one trial; returns it as stored."""
    recipe = setup.recipe
    model = InstructionModel.from_dict(setup.calibration)
    trial = study.ask()
    start = time.perf_counter()
    try:
        cand = sample_layer_policy(trial, sample_candidate(trial, recipe), recipe, dataset)
        trial.set_user_attr("candidate", cand.to_dict())
        cost = predict_cost(cand, recipe, dataset, setup.target, model)
        viol = cost.violations(setup.budget)
        trial.set_user_attr("predicted", cost.to_dict())
        trial.set_user_attr("constraint", [round(v, 6) for v in viol.values()] or [0.0])
        for key, v in viol.items():  # constrained samplers (NSGA-II, TPE) read these
            trial.set_constraint(key, v)
        over = {k: v for k, v in viol.items() if v > 0}
        if over:
            reason = ", ".join(f"{k} {getattr(cost, k):.4g} > {setup.budget[k]:.4g}" for k in over)
            trial.set_user_attr("status", "rejected")
            trial.set_user_attr("reason", f"over budget before training: {reason}")
            values = objective_values(recipe, {}, cost)
            worst = [
                _WORST[d] if k in ("accuracy", "mae") else v
                for (k, d), v in zip(recipe.objectives.items(), values, strict=True)
            ]
            study.tell(trial, worst)
            return study._storage.get_trial(trial._trial_id)
        module = build(cand, recipe, dataset)
        from edgeslim.models.train import fit

        fit(module, dataset, _train_config(recipe, cand.policy),
            callbacks=[_Pruning(trial, study, recipe)])  # fmt: skip
        teacher = None
        if distills(cand) and cand.policy.get("teacher", "unpruned") != "unpruned":
            teacher = baseline_teacher(str(cand.policy["teacher"]), recipe, dataset)
        module = compress(module, cand, recipe, dataset, True, teacher)
        trial.set_user_attr("distilled", distills(cand))
        # pruning changes the structure; int8 requantization constants depend on the trained
        # scales (a few bytes of code differ from the untrained prediction): cost both again
        changed = float(cand.policy.get("sparsity", 0.0)) > 0 or cand.policy.get("bits") == 8
        final = candidate_cost(module, dataset, setup.target, model) if changed else cost
        val, test = _quality(module, dataset, "val"), _quality(module, dataset, "test")
        trial.set_user_attr("cost", final.to_dict())
        trial.set_user_attr("val", val)
        trial.set_user_attr("test", test)
        trial.set_user_attr("seconds", time.perf_counter() - start)
        trial.set_user_attr("onnx", _save_onnx(module, dataset, setup, f"trial-{trial.number}"))
        trial.set_user_attr("status", "trained")
        study.tell(trial, objective_values(recipe, val, final))
    except optuna.TrialPruned as exc:
        trial.set_user_attr("status", "pruned")
        trial.set_user_attr("reason", str(exc))
        study.tell(trial, state=TrialState.PRUNED)
    except (KeyboardInterrupt, SystemExit):
        trial.set_user_attr("status", "interrupted")
        study.tell(trial, state=TrialState.FAIL)
        if trial.params:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        raise
    except (
        Exception
    ) as exc:  # a failing candidate (cannot lower, diverged) must not stop the study
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        trial.set_user_attr("status", "failed")
        trial.set_user_attr("reason", msg)
        if not isinstance(exc, EdgeslimError):
            trial.set_user_attr("traceback", traceback.format_exc()[-2000:])
        study.tell(trial, state=TrialState.FAIL)
    return study._storage.get_trial(trial._trial_id)


def _save_onnx(module: Any, dataset: Any, setup: SearchSetup, folder: str) -> str:
    path = Path(setup.out_dir) / setup.study_name / folder / "model.onnx"
    return str(export_onnx(module, dataset, path))


def load_data(recipe: SearchRecipe) -> Any:
    from edgeslim import data

    d = recipe.data
    if d.name.endswith((".npz", ".csv")) or "/" in d.name:
        return data.load_user_file(d.name, label=d.label, seed=recipe.seed)
    return data.load_dataset(d.name, seed=recipe.seed, **d.params)


def _claim(study: optuna.Study, total: int) -> bool:
    c = counts(study)
    return c["complete"] + c["pruned"] + c["running"] < total


def worker(setup: SearchSetup, on_trial: Callable[[Any], None] | None = None) -> int:
    """Run trials of the shared study until it holds ``setup.trials`` finished trials."""
    import torch

    torch.set_num_threads(max(setup.torch_threads, 1))
    study = open_study(setup, create=False)
    dataset = load_data(setup.recipe)
    crash_after = int(setup.extra.get("crash_after", 0))  # tests: simulate a crash
    done = 0
    while _claim(study, setup.trials):
        frozen = run_trial(study, setup, dataset)
        done += 1
        _check_failures(study, setup.trials, frozen)
        if on_trial is not None:
            on_trial(frozen)
        if crash_after and done >= crash_after:
            raise RuntimeError(f"simulated crash after {done} trials (extra.crash_after)")
    return done


def _check_failures(study: optuna.Study, trials: int, last: Any) -> None:
    """Failed candidates do not count as finished; stop a study where nothing can succeed."""
    failed = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if t.user_attrs.get("status") == "failed"
    ]
    if len(failed) >= max(trials, 5):
        reason = failed[-1].user_attrs.get("reason", "")
        raise EdgeslimError(
            f"study {study.study_name!r}: {len(failed)} trials failed (last: {reason}); check "
            "the search space (every candidate must lower to C and train)"
        )


def _worker_entry(setup: SearchSetup) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        return worker(setup)
    return 0


def run_workers(
    setup: SearchSetup, workers: int, on_poll: Callable[[dict[str, int]], None] | None = None
) -> int:
    """``workers`` processes (spawned) share the study through its database."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    study = open_study(setup, create=False)
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = [pool.submit(_worker_entry, setup) for _ in range(workers)]
        while True:
            _, pending = wait(futures, timeout=1.0)
            if on_poll is not None:
                on_poll(counts(study))
            if not pending:
                break
    return sum(f.result() for f in futures)


def run_ray(setup: SearchSetup, workers: int) -> int:
    """The same workers as Ray tasks sharing the study through its database: on the cluster at
    ``RAY_ADDRESS`` (every node must reach the store's URL, e.g. PostgreSQL) or, without it, on
    a local Ray instance with ``workers`` CPUs started for this call."""
    try:
        import ray
    except ImportError:
        raise RecipeError("--ray needs the ray package (pip install 'ray[default]')") from None
    started = not ray.is_initialized()
    if started:
        address = os.environ.get("RAY_ADDRESS")
        ray.init(
            address=address,
            num_cpus=None if address else workers,
            log_to_driver=False,
            include_dashboard=False,
        )
    try:
        task = ray.remote(num_cpus=1)(_worker_entry)
        return int(sum(ray.get([task.remote(setup) for _ in range(workers)])))
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="edgeslim-search-") as tmp:
        yield Path(tmp)


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial as a JSON-able row (number, state, status, reason, values, costs)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        a = t.user_attrs
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "status": a.get("status", t.state.name.lower()),
                "reason": a.get("reason", ""),
                "values": list(t.values) if t.values else None,
                "candidate": a.get("candidate"),
                "predicted": a.get("predicted"),
                "cost": a.get("cost"),
                "val": a.get("val"),
                "test": a.get("test"),
                "onnx": a.get("onnx"),
                "seconds": a.get("seconds"),
                "feasible": all(v <= 0 for v in a.get("constraint", [0.0])),
                "bits": int((a.get("candidate") or {}).get("policy", {}).get("bits", 32)),
                "distilled": bool(a.get("distilled", False)),
                "params": dict(t.params),
                "retry_of": a.get("retry_of"),
            }
        )
    return rows


def pareto_front(rows: list[dict[str, Any]], directions: list[str]) -> list[dict[str, Any]]:
    """Non-dominated feasible trained trials (``directions``: max/min per objective)."""
    pts = [r for r in rows if r["status"] == "trained" and r["feasible"] and r["values"]]
    sign = [1.0 if d == "max" else -1.0 for d in directions]

    def dominates(a: list[float], b: list[float]) -> bool:
        sa = [s * v for s, v in zip(sign, a, strict=True)]
        sb = [s * v for s, v in zip(sign, b, strict=True)]
        return all(x >= y for x, y in zip(sa, sb, strict=True)) and sa != sb

    front = [r for r in pts if not any(dominates(o["values"], r["values"]) for o in pts)]
    return sorted(front, key=lambda r: [-s * v for s, v in zip(sign, r["values"], strict=True)])


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=float, sort_keys=True)


def run_baseline(name: str, config: dict[str, Any], setup: SearchSetup, dataset: Any) -> dict:
    """Train a hand-designed zoo model with the recipe's training settings; cost it alike."""
    from edgeslim.models import build_model, config_from_dict
    from edgeslim.models.train import fit

    recipe = setup.recipe
    seed_everything(recipe.seed)
    module = build_model(config_from_dict(dict(config)), dataset.spec)
    model = InstructionModel.from_dict(setup.calibration)
    start = time.perf_counter()
    fit(
        module,
        dataset,
        _train_config(recipe, {"lr": recipe.train.lr, "epochs": recipe.train.epochs}),
    )
    cost = candidate_cost(module, dataset, setup.target, model)
    val, test = _quality(module, dataset, "val"), _quality(module, dataset, "test")
    return {
        "name": name,
        "config": dict(config),
        "cost": cost.to_dict(),
        "val": val,
        "test": test,
        "values": objective_values(recipe, val, cost),
        "feasible": all(v <= 0 for v in cost.violations(setup.budget).values()),
        "onnx": _save_onnx(module, dataset, setup, f"baseline-{name}"),
        "seconds": time.perf_counter() - start,
    }


def load_study(url: str, name: str) -> optuna.Study | None:
    """The stored study ``name``, or None."""
    try:
        return optuna.load_study(study_name=name, storage=storage(url))
    except KeyError:
        return None


def delete_study(url: str, name: str) -> None:
    optuna.delete_study(study_name=name, storage=storage(url))


def random_trials(seed: int) -> Iterator[Any]:
    """Endless trials of an in-memory random-sampler study (calibration candidates)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    while True:
        yield study.ask()
