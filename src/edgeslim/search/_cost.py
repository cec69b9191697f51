"""Hardware cost of a candidate before any training, from its exported and lowered graph.

::

    model = InstructionModel.fit(rows)                 # rows from emulator runs (per layer)
    cost = candidate_cost(module, dataset, "cortex-m4", model, workdir)
    cost.flash_bytes, cost.arena_bytes, cost.instructions, cost.latency_s

* **arena** is the memory planner's arena of the generated C (exact: the arena the code asks for);
* **flash** is the size of the generated model object cross-compiled for the target
  (``arm-none-eabi-size``; exact for the model code and weights, the harness excluded); without
  the cross compiler it falls back to constant bytes plus a per-step code estimate;
* **instructions** come from an :class:`InstructionModel`: per C kernel,
  ``a * MACs + b * output elements + c``, least squares over per-layer instruction counts
  measured once in QEMU (``edgeslim search calibrate``); its held-out error is stored with it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeslim._core.errors import ExportError, RecipeError
from edgeslim._core.records import Metric, Provenance

CODE_BYTES_PER_STEP = 160  # fallback flash estimate per kernel call, without a cross compiler
_UNITS = {"b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2}
_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
BUDGET_KEYS = {"flash": "flash_bytes", "ram": "ram_bytes", "latency": "latency_s"}


def parse_budget(text: str) -> dict[str, float]:
    """``flash=64KB,ram=16KB,latency=50ms`` -> ``{flash_bytes: 65536, ram_bytes: 16384, ...}``.

    KB means KiB (1024 bytes), as device data sheets count flash and RAM.
    """
    out: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = item.partition("=")
        key, v = key.strip().lower(), value.strip().lower().replace(" ", "")
        if not sep or key not in BUDGET_KEYS:
            raise RecipeError(
                f"option --budget takes flash=SIZE,ram=SIZE,latency=TIME; got {item!r}"
            )
        units = _TIME if key == "latency" else _UNITS
        unit = next((u for u in sorted(units, key=len, reverse=True) if v.endswith(u)), "")
        try:
            number = float(v[: len(v) - len(unit)] if unit else v)
        except ValueError:
            raise RecipeError(f"option --budget: cannot read {key} value {value!r}") from None
        out[BUDGET_KEYS[key]] = number * units.get(unit, 1)  # no unit: bytes, seconds
    return out


@dataclass(frozen=True)
class InstructionModel:
    """Per-kernel ``instructions = a * macs + b * out_elems + c`` for one target."""

    target: str
    coef: dict[str, tuple[float, float, float]]
    fallback: tuple[float, float, float] = (10.0, 5.0, 200.0)
    error: dict[str, float] = field(default_factory=dict)  # held-out error of the fit

    @staticmethod
    def fit(target: str, rows: Iterable[dict[str, Any]]) -> InstructionModel:
        """Least squares per kernel over rows ``{kernel, macs, out_elems, instructions}``."""
        by: dict[str, list[tuple[float, float, float]]] = {}
        for r in rows:
            by.setdefault(str(r["kernel"]), []).append(
                (float(r["macs"]), float(r["out_elems"]), float(r["instructions"]))
            )
        coef: dict[str, tuple[float, float, float]] = {}
        for kernel, pts in by.items():
            a = np.array([[m, o, 1.0] for m, o, _ in pts])
            y = np.array([i for _, _, i in pts])
            coef[kernel] = _nonnegative_fit(a, y)
        flat = [v for pts in by.values() for v in pts]
        macs = sum(m for m, _, _ in flat)
        fallback = (sum(i for _, _, i in flat) / macs if macs else 10.0, 5.0, 200.0)
        return InstructionModel(target, coef, fallback)

    def predict_step(self, kernel: str, macs: float, out_elems: float) -> float:
        a, b, c = self.coef.get(kernel, self.fallback)
        return max(a * macs + b * out_elems + c, 0.0)

    def predict(self, program: Any) -> float:
        return float(sum(self.predict_step(*step_features(program, s)) for s in program.steps))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "coef": {k: list(v) for k, v in self.coef.items()},
            "fallback": list(self.fallback),
            "error": self.error,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> InstructionModel:
        coef = {k: (float(v[0]), float(v[1]), float(v[2])) for k, v in d["coef"].items()}
        fb = tuple(float(v) for v in d.get("fallback", (10.0, 5.0, 200.0)))
        return InstructionModel(
            str(d["target"]), coef, (fb[0], fb[1], fb[2]), dict(d.get("error", {}))
        )


def _nonnegative_fit(a: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares with every coefficient >= 0 (drop the most negative column and refit), so
    the model never predicts fewer instructions for a bigger layer or extrapolates below 0.

    With fewer distinct rows than columns the minimum-norm solution is taken, which puts the
    weight on the large features (MACs, elements): a kernel seen in one model only is then
    predicted in proportion to its size instead of as a constant."""
    cols = [j for j in range(a.shape[1]) if np.any(a[:, j] != 0)]
    full = [0.0] * a.shape[1]
    while cols:
        sol, *_ = np.linalg.lstsq(a[:, cols], y, rcond=None)
        if (sol >= 0).all():
            for j, v in zip(cols, sol, strict=True):
                full[j] = float(v)
            break
        cols.pop(int(np.argmin(sol)))
    return full[0], full[1], full[2]


def step_features(program: Any, step: Any) -> tuple[str, float, float]:
    """(kernel, MACs, output elements) of one lowered step: the instruction model's inputs."""
    out = sum(program.value(o).size for o in step.outputs if o in program.values)
    return str(step.kernel), float(step.macs), float(out)


@dataclass(frozen=True)
class Cost:
    """Predicted device cost of one candidate (bytes, instructions, seconds)."""

    flash_bytes: float
    arena_bytes: float
    ram_bytes: float
    instructions: float
    latency_s: float
    macs: float
    params: float
    flash_exact: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def violations(self, budget: dict[str, float]) -> dict[str, float]:
        """Relative excess per budget key (> 0: over budget)."""
        return {k: getattr(self, k) / v - 1.0 for k, v in budget.items() if v > 0}

    def metrics(self, context: str) -> list[Metric]:
        comp, est = Provenance.COMPUTED, Provenance.ESTIMATED
        flash_prov = comp if self.flash_exact else est
        return [
            Metric("predicted_flash_bytes", self.flash_bytes, "B", flash_prov, context),
            Metric("predicted_arena_bytes", self.arena_bytes, "B", comp, context),
            Metric("predicted_instructions", self.instructions, "instr", est, context),
            Metric("predicted_latency", self.latency_s, "s", est, context),
            Metric("macs", self.macs, "MAC", comp, context),
            Metric("params", self.params, "1", comp, context),
        ]


def int8_options(target: str) -> Any:
    """int8 code generation options for ``target`` as deployment uses them (``api.deploy``):
    single rounding, the SIMD variant where the core has the DSP extension."""
    from edgeslim.codegen.nn import QOptions
    from edgeslim.targets import load_target

    return QOptions(rounding="single", simd=bool(load_target(target).dsp))


def export_onnx(module: Any, dataset: Any, path: Path) -> Path:
    """Write ``module`` as the deployed ONNX (raw inputs, normalization inside): the QDQ graph
    of a quantized module (``edgeslim_export``), else the float export."""
    from edgeslim import ir
    from edgeslim.models import with_normalization

    shape = dataset.spec.input_shape
    hook = getattr(module, "edgeslim_export", None)
    if hook is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return Path(hook(path, shape, dataset.normalization, force=True))
    ir.export_torch(with_normalization(module, dataset.normalization, shape), shape, path,
                    force=True)  # fmt: skip
    return path


def lower_module(
    module: Any, dataset: Any, workdir: Path, target: str = "host"
) -> tuple[Any, Path]:
    """Export ``module`` (normalization inside) to ONNX in ``workdir`` and lower it to C steps.

    A quantized module (``quantize.ptq``: QDQ ONNX) lowers to the int8 kernels with the
    target's int8 options (:func:`int8_options`), as ``edgeslim deploy`` does."""
    from edgeslim import ir
    from edgeslim.codegen.nn import lower

    path = export_onnx(module, dataset, workdir / "candidate.onnx")
    graph = ir.from_onnx(path)
    qopts = int8_options(target) if hasattr(module, "edgeslim_export") else None
    try:
        program = lower(graph, qopts=qopts)
    except Exception as exc:  # an op the C generator cannot lower: the candidate cannot deploy
        raise ExportError(f"candidate does not lower to C: {str(exc).splitlines()[0]}") from None
    return program, path


def _flash(program: Any, target: Any, workdir: Path) -> tuple[float, bool]:
    from edgeslim.backends.qemu import CortexMRunner, mcu_toolchain_available
    from edgeslim.codegen._c import CWriter
    from edgeslim.codegen.nn import RenderOptions, render

    consts = float(sum(np.asarray(v).nbytes for v in program.constants.values()))
    if not (target.is_mcu and mcu_toolchain_available(target)):
        return consts + CODE_BYTES_PER_STEP * len(program.steps), False
    CWriter().write(render(program, RenderOptions(prefix="model", target=target.name)), workdir)
    sizes = CortexMRunner(target, workdir).object_size(workdir / "model.c", [workdir])
    return float(sizes.flash), True


def candidate_cost(
    module: Any,
    dataset: Any,
    target: str,
    instructions: InstructionModel,
    workdir: Path | None = None,
) -> Cost:
    """Predicted flash, arena, RAM, instructions and latency of ``module`` on ``target``."""
    from edgeslim.targets import load_target

    prof = load_target(target)
    with tempfile.TemporaryDirectory(prefix="edgeslim-cost-") as tmp:
        work = Path(workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        program, _ = lower_module(module, dataset, work, target)
        flash, exact = _flash(program, prof, work)
    instr = instructions.predict(program)
    params = float(sum(p.numel() for p in getattr(module, "float_module", module).parameters()))
    arena = float(program.arena_bytes)
    return Cost(
        flash_bytes=flash,
        arena_bytes=arena,
        ram_bytes=arena,
        instructions=instr,
        latency_s=instr / prof.clock_hz if prof.clock_hz else 0.0,
        macs=float(program.macs),
        params=params,
        flash_exact=exact,
    )


def calibration_error(
    model: InstructionModel, samples: Sequence[tuple[Any, float]]
) -> dict[str, float]:
    """Mean and max relative error of predicted vs measured total instructions."""
    errs = [abs(model.predict(p) - m) / max(m, 1.0) for p, m in samples]
    if not errs:
        return {}
    return {"mean_rel_error": float(np.mean(errs)), "max_rel_error": float(np.max(errs))}


def dumps(model: InstructionModel) -> str:
    return json.dumps(model.to_dict(), sort_keys=True)
