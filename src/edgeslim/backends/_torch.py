"""Eager PyTorch backend: runs a ``torch.nn.Module`` (torch imported lazily)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from edgeslim._core.errors import EdgeslimError
from edgeslim.backends._base import (
    BACKENDS,
    ArtifactKind,
    Backend,
    Capability,
    RunnerBase,
)


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the install
        raise EdgeslimError(
            "the torch backend needs PyTorch; install the extra: pip install 'edgeslim[torch]'"
        ) from None
    return torch


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Set ``torch.set_num_threads(threads)`` for the block and restore the previous value.

    ``None`` leaves the setting alone. Torch's thread count is process-wide, so the scope is as
    narrow as one call; switching costs well under a microsecond.
    """
    if threads is None:
        yield
        return
    torch = _torch()
    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if previous != threads:
            torch.set_num_threads(previous)


class TorchRunner(RunnerBase):
    """Runs a module in ``inference_mode``; float32 numpy in, first output as numpy out."""

    def __init__(self, module: Any, threads: int | None) -> None:
        self._module: Any | None = module
        self._threads = threads
        self._torch = _torch()

    def run(self, x: np.ndarray) -> np.ndarray:
        if self._module is None:
            raise EdgeslimError("TorchRunner.run called after close()")
        torch = self._torch
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        with torch_threads(self._threads), torch.inference_mode():
            out = self._module(t)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return np.array(out.detach().cpu().numpy(), copy=True)

    def close(self) -> None:
        self._module = None


class TorchBackend(Backend):
    """Eager PyTorch on the CPU. Artifact: a ``torch.nn.Module`` (put in eval mode on load).

    Option ``threads``: ``torch.set_num_threads`` for the duration of each ``run`` call, then
    restored, so nothing leaks into the rest of the process.
    """

    name: ClassVar[str] = "torch"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.FLOAT32, Capability.THREADS, Capability.BATCH}
    )
    artifact_kind: ClassVar[ArtifactKind] = ArtifactKind.TORCH_MODULE

    def load(self, artifact: Any) -> TorchRunner:
        self.check_options()
        torch = _torch()
        if not isinstance(artifact, torch.nn.Module):
            raise EdgeslimError(
                f"TorchBackend.load needs a torch.nn.Module; got {type(artifact).__name__}"
            )
        if artifact.training:
            artifact.eval()
        return TorchRunner(artifact, self.resolved_threads)


BACKENDS.add(TorchBackend.name, TorchBackend)
