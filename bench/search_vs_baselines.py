"""Hardware-aware search vs hand-designed baselines and random search, on basic-motions.

Runs ``recipes/search-motions.yaml`` (GRU / LSTM / plain RNN / TCN space, structured pruning
policy; ``--recipe recipes/search-motions-policy.yaml`` adds int8 and distillation, results in
``search_vs_baselines-search-motions-policy.*``) with NSGA-II under a Cortex-M4 budget, the
same trial budget with random search, and a small 1-worker vs 2-worker timing; the front and
the baselines (GRU-32, LSTM-32, a 1-D CNN) are exported to C and measured in QEMU. Writes
``bench/results/search_vs_baselines.{json,md}``.

    python bench/search_vs_baselines.py --trials 60 [--speedup-trials 8] [--store /tmp/s.db]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from edgeslim.api import open_store
from edgeslim.api import search as s
from edgeslim.report.search import describe

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "search-motions.yaml"
RESULTS = ROOT / "bench" / "results"
BUDGET = "flash=64KB,ram=16KB,latency=50ms"


def _variant(tmp: Path, recipe: Path = RECIPE, **changes: Any) -> Path:
    doc = yaml.safe_load(recipe.read_text())
    teacher = doc["space"].get("compression", {}).get("teacher", [])
    teachers = teacher if isinstance(teacher, list) else [teacher]
    kept = {k: v for k, v in doc.get("baselines", {}).items() if k in teachers}
    doc.update(changes)
    if "baselines" in changes:  # the distillation teachers stay: the same space is searched
        doc["baselines"] = {**kept, **changes["baselines"]}
    path = tmp / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _timed(recipe: Path, store: Any, trials: int, workers: int, out: Path, top: int) -> tuple:
    t0 = time.perf_counter()
    info = s.search(
        recipe, target="cortex-m4", store=store, budget=BUDGET, trials=trials, workers=workers,
        out_dir=out, force=True, export_top=top,
    )  # fmt: skip
    return info, time.perf_counter() - t0


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """a dominates b in test accuracy and measured instructions (both at least as good, one
    better)."""
    aa, ba = a["test_accuracy"], b["test_accuracy"]
    ai, bi = a["measured"]["instructions"], b["measured"]["instructions"]
    return aa >= ba and ai <= bi and (aa > ba or ai < bi)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--speedup-trials", type=int, default=8)
    ap.add_argument("--store", default="")
    ap.add_argument("--top", type=int, default=4)
    ap.add_argument(
        "--recipe", default=str(RECIPE), help="e.g. recipes/search-motions-policy.yaml (int8, KD)"
    )
    args = ap.parse_args()
    recipe = Path(args.recipe)
    stem = "search_vs_baselines" + ("" if recipe == RECIPE else f"-{recipe.stem}")
    with tempfile.TemporaryDirectory(prefix="edgeslim-bench-search-") as tmp_s:
        tmp = Path(tmp_s)
        store = open_store(args.store or str(tmp / "bench.db"))
        out = tmp / "out"
        nsga, t_nsga = _timed(recipe, store, args.trials, 1, out, args.top)
        rnd_recipe = _variant(tmp, recipe, name="motions-random", sampler="random", baselines={})
        rnd, t_rnd = _timed(rnd_recipe, store, args.trials, 1, out, args.top)
        speed = {}
        for w in (1, 2):
            r = _variant(tmp, recipe, name=f"motions-speed-w{w}", baselines={}, export_top=0)
            _, t = _timed(r, store, args.speedup_trials, w, out, 0)
            speed[w] = t
    result = _summarize(nsga, t_nsga, rnd, t_rnd, speed, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2, default=float))
    md = _markdown(result)
    (RESULTS / f"{stem}.md").write_text(md)
    print(md)


def _summarize(nsga: dict, t_nsga: float, rnd: dict, t_rnd: float, speed: dict, args: Any) -> dict:
    exports = nsga["exports"]
    trials = [e for e in exports if e["kind"] == "trial"]
    base = [e for e in exports if e["kind"] == "baseline"]
    dominated = {b["label"]: [t["label"] for t in trials if _dominates(t, b)] for b in base}
    return {
        "trials": args.trials,
        "budget": BUDGET,
        "nsga2": {"counts": nsga["counts"], "status": nsga["status"], "seconds": t_nsga,
                  "front": len(nsga["front"]), "exports": exports,
                  "calibration": nsga["calibration"]},
        "random": {"counts": rnd["counts"], "status": rnd["status"], "seconds": t_rnd,
                   "front": len(rnd["front"]), "exports": rnd["exports"]},
        "dominated_by": dominated,
        "speedup": {"trials": args.speedup_trials, "seconds": speed,
                    "ratio": speed[1] / speed[2] if speed.get(2) else None},
    }  # fmt: skip


def _row(e: dict[str, Any]) -> str:
    m, p = e["measured"], e["predicted"]
    return (
        f"| {e['label']} | {describe(e['candidate'])}{' int8' if e.get('int8') else ''}"
        f"{' kd' if e.get('distilled') else ''} | {e['test_accuracy']:.3f} | "
        f"{m['flash_bytes'] / 1024:.1f} | {p['flash_bytes'] / 1024:.1f} | "
        f"{m['arena_bytes'] / 1024:.1f} | {m['instructions'] / 1e3:.0f}k | "
        f"{p['instructions'] / 1e3:.0f}k | {e['instructions_error']:+.1%} | "
        f"{m.get('latency', 0) * 1e3:.2f} |"
    )


def _markdown(r: dict[str, Any]) -> str:
    head = (
        "| model | config | test acc | flash KiB (QEMU) | flash KiB (pred) | arena KiB | "
        "instr (QEMU) | instr (pred) | instr error | latency ms @80MHz |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    n, rd, sp = r["nsga2"], r["random"], r["speedup"]
    cal = n["calibration"]
    lines = [
        f"# Search vs baselines: basic-motions, cortex-m4, budget {r['budget']}",
        "",
        f"NSGA-II, {r['trials']} trials: {n['counts']} status {n['status']}, "
        f"{n['seconds']:.0f} s ({3600 * r['trials'] / n['seconds']:.0f} trials/h), "
        f"front size {n['front']}.",
        "",
        head + "\n".join(_row(e) for e in n["exports"]),
        "",
        f"Random search, {r['trials']} trials: status {rd['status']}, {rd['seconds']:.0f} s, "
        f"front size {rd['front']}.",
        "",
        head + "\n".join(_row(e) for e in rd["exports"]),
        "",
        "Baselines dominated (test accuracy and measured instructions) by NSGA-II front members: "
        + "; ".join(f"{b}: {', '.join(v) or 'none'}" for b, v in r["dominated_by"].items()),
        "",
        f"Instruction model leave-one-out error: mean {cal.get('mean_rel_error', 0):.1%}, "
        f"max {cal.get('max_rel_error', 0):.1%}.",
        "",
        f"Workers ({sp['trials']} trials): 1 worker {sp['seconds'][1]:.0f} s, 2 workers "
        f"{sp['seconds'][2]:.0f} s, speed-up {sp['ratio']:.2f}x.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
