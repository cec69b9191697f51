"""The backend contract: a :class:`Backend` loads an artifact into a :class:`Runner`.

A backend is a small configured object (its ``__init__`` only stores keyword options, checked in
:meth:`Backend.check_options`); :meth:`Backend.load` does the work and returns a runner. A runner
runs one input array at a time and holds whatever the backend needs (a session, a compiled
library, an emulator). Runners are not thread-safe: use one runner from one thread at a time.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from edgeslim._core.errors import EdgeslimError
from edgeslim._core.records import Metric
from edgeslim._core.registry import Registry


class Capability(enum.StrEnum):
    """What a backend can do; callers branch on these flags, never on a backend's name."""

    FLOAT32 = "float32"  # runs float32 graphs
    INT8 = "int8"  # runs int8 (QDQ or integer) graphs natively
    THREADS = "threads"  # honours the ``threads`` option
    BATCH = "batch"  # runs a batch of samples in one call (dynamic leading dimension)
    SELF_METRICS = "self_metrics"  # its runners report their own metrics (``Runner.metrics``)


class ArtifactKind(enum.StrEnum):
    """What :meth:`Backend.load` takes."""

    TORCH_MODULE = "torch_module"  # a ``torch.nn.Module`` in eval mode
    ONNX = "onnx"  # a path to an ONNX file


@runtime_checkable
class Runner(Protocol):
    """A loaded artifact. ``run`` maps one input array to the first output array.

    ``run`` does not modify ``x``; it returns a fresh array the caller owns. ``close`` releases
    resources and restores any process state the runner changed; calling it twice is harmless.
    A runner may also offer ``metrics() -> tuple[Metric, ...]`` (see :func:`runner_metrics`) for
    numbers only it can know (instruction counts under an emulator, device time on a GPU).
    """

    def run(self, x: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


class RunnerBase(abc.ABC):
    """Convenience base for runners: context-manager support and an empty ``metrics``."""

    @abc.abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one input (leading dimension = batch); return the first output."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release resources; idempotent."""

    def metrics(self) -> tuple[Metric, ...]:
        return ()

    def __enter__(self) -> RunnerBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def runner_metrics(runner: Runner) -> tuple[Metric, ...]:
    """The metrics a runner reports about itself, or ``()`` if it reports none."""
    fn: Callable[[], tuple[Metric, ...]] | None = getattr(runner, "metrics", None)
    return tuple(fn()) if fn is not None else ()


class Backend(abc.ABC):
    """Runs an artifact of kind ``artifact_kind``.

    Contract for implementations:

    * class attributes ``name`` (registry key), ``capabilities`` and ``artifact_kind``;
    * ``__init__`` takes keyword options only and stores them unchanged; ``check_options``
      validates them and raises :class:`EdgeslimError` naming the option and the backend;
    * ``load(artifact)`` never changes the artifact's values (a torch module is put in eval
      mode, nothing else) and returns a new :class:`Runner`;
      it raises :class:`EdgeslimError` (or a subclass) for an artifact it cannot run.
    * ``threads``: ``None`` (or 0) means the backend's default, usually all cores.
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    artifact_kind: ClassVar[ArtifactKind]

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads

    def check_options(self) -> None:
        t = self.threads
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 0):
            raise EdgeslimError(
                f"parameter threads of {type(self).__name__} must be None or an int >= 0 "
                f"(0 = all cores); got {t!r}"
            )

    @property
    def resolved_threads(self) -> int | None:
        """``threads`` with 0 mapped to None (the backend's default)."""
        return self.threads or None

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @abc.abstractmethod
    def load(self, artifact: Any) -> Runner:
        """Load ``artifact`` and return a runner for it."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threads={self.threads!r})"


BACKENDS: Registry[type[Backend]] = Registry("backend")


def get_backend(name: str, **options: Any) -> Backend:
    """A configured backend by registry name (``"torch"``, ``"onnxruntime"``).

    Unknown names and unknown or invalid options raise :class:`EdgeslimError` naming them.
    """
    cls = BACKENDS.get(name)
    try:
        backend = cls(**options)
    except TypeError:
        raise EdgeslimError(
            f"backend {name!r} got unknown options {sorted(options)}; see {cls.__name__}"
        ) from None
    backend.check_options()
    return backend


def backend_names() -> list[str]:
    return BACKENDS.names()
