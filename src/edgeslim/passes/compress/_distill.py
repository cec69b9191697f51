"""Knowledge distillation (``compress.distill``): logit KD with temperature and a hard-label
mix, plus feature (hint) distillation between named layers.

Loss per batch: ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)
+ sum_h weight_h * MSE(adapter_h(student feature), teacher feature)``. When the widths of a
hinted pair differ, a learned linear adapter (a 1x1 convolution on the channel axis) maps the
student's feature to the teacher's width; adapters train with the student and are dropped after.

Who teaches whom:

* ``student: {kind: cnn, channels: [4, 8]}`` (a zoo config): the incoming model is the teacher
  and the new zoo student is trained (from scratch) against it;
* ``teacher: {kind: cnn, channels: [32, 64], epochs: 20}``: a zoo teacher trained in the run;
  ``teacher: {path: big.pt}``: a checkpoint; ``teacher: {path: big.onnx}``: an imported model
  (run on onnxruntime; logits only, no hints); the incoming model is the student;
* ``teacher: original``: inside ``compress.chain``, the model the chain started from (e.g. the
  dense model before pruning or factorizing). This is the default inside a chain.

``baseline: true`` also fine-tunes a copy of the student with the plain task loss for the same
epochs and records its accuracy, so the record shows what distillation added.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgeslim._core.errors import ModelError, RecipeError
from edgeslim.passes._base import PassContext, PassResult
from edgeslim.passes.compress._common import (
    CompressPass,
    Param,
    counts,
    float_in,
    hooks,
    int_in,
    optional_dict,
    score,
    train,
)


def _hints_ok(v: Any) -> bool:
    return isinstance(v, list) and all(
        isinstance(h, dict)
        and isinstance(h.get("student"), str)
        and isinstance(h.get("teacher"), str)
        for h in v
    )


class _OnnxTeacher(nn.Module):
    """An imported ONNX model (raw inputs) used as a teacher on normalized inputs."""

    def __init__(self, path: Path, normalization: Any, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        import onnxruntime as ort

        self.sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input = self.sess.get_inputs()[0].name
        shape = [1] * len(input_shape)
        shape[normalization.axis] = len(normalization.mean)
        self.mean = np.asarray(normalization.mean, np.float32).reshape([1, *shape])
        self.std = np.asarray(normalization.std, np.float32).reshape([1, *shape])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = (x.detach().cpu().numpy() * self.std + self.mean).astype(np.float32)
        return torch.from_numpy(np.asarray(self.sess.run(None, {self.input: raw})[0]))


class _Renormalized(nn.Module):
    """A checkpoint teacher trained with other normalization statistics than the run's."""

    def __init__(self, model: nn.Module, run_norm: Any, own_norm: Any, ndim: int) -> None:
        super().__init__()
        self.model = model
        shape = [1] * ndim
        shape[run_norm.axis] = len(run_norm.mean)

        def t(v: Any) -> torch.Tensor:
            return torch.tensor(np.asarray(v, np.float32).reshape([1, *shape]))

        self.a, self.b = t(run_norm.std), t(run_norm.mean)
        self.c, self.d = t(own_norm.mean), t(own_norm.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(((x * self.a + self.b) - self.c) / self.d)  # type: ignore[no-any-return]


def build_zoo(spec: dict[str, Any], ctx: PassContext, where: str) -> nn.Module:
    from edgeslim.models import build_model, config_from_dict

    params = {k: v for k, v in spec.items() if k != "epochs"}
    try:
        config = config_from_dict(params)
    except Exception as exc:
        raise RecipeError(f"{where}: {exc}") from None
    model: nn.Module = build_model(config, ctx.dataset.spec)
    return model


def load_teacher(
    spec: Any, incoming: nn.Module, ctx: PassContext, default_epochs: int
) -> tuple[nn.Module, str]:
    """The teacher module (normalized inputs) and a description for the record."""
    if spec == "original" or spec is None:
        original = ctx.extras.get("chain_input")
        if original is None:
            raise RecipeError(
                "parameter teacher of pass 'compress.distill' is 'original', which only exists "
                "inside compress.chain; give a zoo config, {path: ...} or a student"
            )
        return copy.deepcopy(original).eval(), "original"
    if isinstance(spec, str):
        spec = {"path": spec}
    if "path" in spec:
        path = Path(str(spec["path"]))
        if not path.exists():
            raise ModelError(f"teacher model file {path} does not exist")
        if path.suffix == ".onnx":
            norm = ctx.dataset.normalization
            return _OnnxTeacher(path, norm, ctx.dataset.spec.input_shape), f"onnx:{path}"
        from edgeslim.models.checkpoint import load_checkpoint

        ckpt = load_checkpoint(path)
        model = ckpt.model.eval()
        if ckpt.normalization != ctx.dataset.normalization:
            ndim = len(ctx.dataset.spec.input_shape)
            model = _Renormalized(model, ctx.dataset.normalization, ckpt.normalization, ndim)
        return model, f"checkpoint:{path}"
    if "kind" not in spec:
        raise RecipeError(
            "parameter teacher of pass 'compress.distill' needs 'kind' (zoo), 'path' or "
            f"'original'; got {spec!r}"
        )
    teacher = build_zoo(spec, ctx, "parameter teacher of pass 'compress.distill'")
    train(teacher, ctx, int(spec.get("epochs", default_epochs)), keep_zeros=False)
    return teacher, f"zoo:{spec['kind']}"


def _feature(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


class _Adapter(nn.Module):
    """Linear map on the feature axis (1x1 convolution for conv features)."""

    def __init__(self, cin: int, cout: int, axis: int) -> None:
        super().__init__()
        self.axis = axis
        self.map = nn.Linear(cin, cout, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.map(x.movedim(self.axis, -1)).movedim(-1, self.axis)  # type: ignore[no-any-return]


def _axis(module: nn.Module) -> int:
    return -1 if isinstance(module, nn.RNNBase | nn.Linear) else 1


def kd_loss(
    teacher: nn.Module,
    *,
    temperature: float,
    alpha: float,
    hints: list[dict[str, Any]] | None = None,
    student: nn.Module | None = None,
    example: torch.Tensor | None = None,
) -> tuple[Any, nn.ModuleDict, list[Any]]:
    """A ``loss_fn`` for :func:`fit`, the hint adapters (to attach to the student so they
    train with it) and the hook handles (remove them after training)."""
    hints = hints or []
    t_feats: dict[str, torch.Tensor] = {}
    s_feats: dict[str, torch.Tensor] = {}
    handles: list[Any] = []
    adapters = nn.ModuleDict()
    if hints:
        if student is None or example is None:
            raise RecipeError("hint distillation needs the student and an example input")
        t_mods, s_mods = dict(teacher.named_modules()), dict(student.named_modules())
        for i, h in enumerate(hints):
            for side, mods in (("teacher", t_mods), ("student", s_mods)):
                if h[side] not in mods:
                    known = ", ".join(n for n in mods if n)
                    raise RecipeError(
                        f"hint {i} of pass 'compress.distill': no {side} layer {h[side]!r}; "
                        f"layers: {known}"
                    )
            key = f"h{i}"

            def keep(store: dict[str, torch.Tensor], k: str) -> Any:
                def fn(m: nn.Module, a: Any, out: Any) -> None:
                    store[k] = _feature(out)

                return fn

            handles.append(t_mods[h["teacher"]].register_forward_hook(keep(t_feats, key)))
            handles.append(s_mods[h["student"]].register_forward_hook(keep(s_feats, key)))
        with torch.no_grad():
            was = student.training
            student.eval()
            teacher(example)
            student(example)
            student.train(was)
        for i, h in enumerate(hints):
            key = f"h{i}"
            sf, tf = s_feats[key], t_feats[key]
            axis = _axis(s_mods[h["student"]])
            if sf.dim() != tf.dim() or [
                d for j, d in enumerate(sf.shape) if j not in (0, axis % sf.dim())
            ] != [d for j, d in enumerate(tf.shape) if j not in (0, axis % tf.dim())]:
                raise RecipeError(
                    f"hint {i} of pass 'compress.distill': features of student "
                    f"{h['student']!r} {tuple(sf.shape)} and teacher {h['teacher']!r} "
                    f"{tuple(tf.shape)} differ in more than the feature axis"
                )
            cs, ct = sf.shape[axis], tf.shape[axis]
            adapters[key] = (
                _Adapter(cs, ct, axis) if cs != ct or h.get("adapter", False) else nn.Identity()
            )
    teacher.eval()
    weights = [float(h.get("weight", 1.0)) for h in hints]

    def loss_fn(
        model: Any, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor
    ) -> torch.Tensor:
        with torch.no_grad():
            t_logits = teacher(x)
        soft = F.softmax(t_logits / temperature, dim=1)
        kd = F.kl_div(F.log_softmax(logits / temperature, dim=1), soft, reduction="batchmean")
        loss = alpha * kd * temperature**2 + (1.0 - alpha) * F.cross_entropy(logits, y)
        for i, w in enumerate(weights):
            key = f"h{i}"
            loss = loss + w * F.mse_loss(adapters[key](s_feats[key]), t_feats[key].detach())
        return loss

    return loss_fn, adapters, handles


def distill_into(
    student: nn.Module,
    teacher: nn.Module,
    ctx: PassContext,
    epochs: int,
    *,
    temperature: float,
    alpha: float,
    hints: list[dict[str, Any]] | None = None,
    keep_zeros: bool = True,
    callbacks: Sequence[Any] = (),
) -> nn.Module:
    """Train ``student`` in place against ``teacher`` for ``epochs`` (see module docstring)."""
    from edgeslim.data.spec import Task
    from edgeslim.passes.compress._common import example

    if ctx.dataset is not None and ctx.dataset.spec.task is not Task.CLASSIFICATION:
        raise RecipeError("pass 'compress.distill' supports classification datasets only")
    x0 = torch.from_numpy(ctx.dataset.normalization.apply(np.asarray(ctx.dataset.x_train[:2])))
    loss_fn, adapters, handles = kd_loss(
        teacher,
        temperature=temperature,
        alpha=alpha,
        hints=hints,
        student=student,
        example=x0 if hints else example(ctx),
    )
    with hooks(handles):
        if len(adapters):
            student.add_module("kd_adapters", adapters)
        try:
            train(
                student, ctx, epochs, loss_fn=loss_fn, keep_zeros=keep_zeros, callbacks=callbacks
            )
        finally:
            if len(adapters):
                del student._modules["kd_adapters"]
    return student


class Distill(CompressPass):
    """Knowledge distillation (see module docstring)."""

    name = "compress.distill"
    PARAMS = MappingProxyType(
        {
            "teacher": optional_dict("a zoo config {kind: ...}, {path: ...} or 'original'"),
            "student": optional_dict("a zoo config {kind: ...}"),
            "temperature": float_in(4.0, 0.05, 100.0),
            "alpha": float_in(0.7, 0.0, 1.0),
            "epochs": int_in(10, 0, 100_000),
            "teacher_epochs": int_in(20, 0, 100_000),
            "hints": Param([], _hints_ok, "a list of {student: layer, teacher: layer, weight}"),
            "baseline": Param(False, lambda v: isinstance(v, bool), "true or false"),
        }
    )

    def validate(self) -> None:
        super().validate()
        student = self.p("student")
        if student is not None and not (isinstance(student, dict) and "kind" in student):
            raise self.fail("student", "a zoo config with 'kind'", student)

    def apply(self, model: Any, ctx: PassContext) -> PassResult:
        from edgeslim.passes.quantize._model import float_module

        incoming = float_module(model)
        student_spec, teacher_spec = self.p("student"), self.p("teacher")
        if student_spec is not None and teacher_spec is None:
            teacher, described = copy.deepcopy(incoming).eval(), "input"
            student = build_zoo(student_spec, ctx, "parameter student of 'compress.distill'")
        else:
            teacher, described = load_teacher(
                teacher_spec, incoming, ctx, self.p("teacher_epochs")
            )
            student = (
                build_zoo(student_spec, ctx, "parameter student of 'compress.distill'")
                if student_spec is not None
                else copy.deepcopy(incoming)
            )
        before = score(student, ctx)
        baseline = None
        if self.p("baseline"):
            plain = train(copy.deepcopy(student), ctx, self.p("epochs"))
            baseline = score(plain, ctx)
        student = distill_into(
            student,
            teacher,
            ctx,
            self.p("epochs"),
            temperature=self.p("temperature"),
            alpha=self.p("alpha"),
            hints=list(self.p("hints")),
        )
        record = {
            "method": self.name,
            "params": self.resolved(),
            "teacher": described,
            "accuracy_teacher": score(teacher, ctx) if isinstance(teacher, nn.Module) else None,
            "accuracy_before": before,
            "accuracy_baseline": baseline,
            "accuracy_after": score(student, ctx),
            "claim": counts(student, ctx),
        }
        return PassResult(student.eval(), record)
