"""Model checkpoints: one ``.pt`` file with the config, data spec, normalization and weights.

The file is a plain dict of tensors, lists, strings and numbers, saved with ``torch.save`` and
read back with ``torch.load(weights_only=True)``, so loading a checkpoint never runs pickled
code. The model is rebuilt from its config with :func:`edgeslim.models.build_model`.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeslim._core.errors import EdgeslimError, ModelError
from edgeslim._core.io import atomic_write, ensure_writable
from edgeslim.data.spec import DataSpec, Normalization
from edgeslim.models.zoo import ModelConfig, build_model, config_from_dict, config_to_dict

FORMAT = "edgeslim-model/1"
_KEYS = ("config", "spec", "normalization", "state_dict", "meta")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint; ``model`` is rebuilt, holds the saved weights and is in eval mode."""

    model: Any
    config: ModelConfig
    spec: DataSpec
    normalization: Normalization
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    config: ModelConfig,
    spec: DataSpec,
    normalization: Normalization,
    meta: dict[str, Any] | None = None,
    force: bool = False,
) -> Path:
    """Write ``model``'s weights with everything needed to rebuild it; return the path.

    ``model`` is the zoo module built from ``config`` (a ``with_normalization`` wrapper is
    unwrapped: the normalization is stored separately). ``meta`` must hold JSON values only.
    Refuses to overwrite an existing file unless ``force``; the write is atomic.
    """
    target = ensure_writable(path, force)
    inner = _unwrap(model)
    payload = {
        "format": FORMAT,
        "config": config_to_dict(config),
        "spec": spec.to_dict(),
        "normalization": normalization.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in inner.state_dict().items()},
        "meta": _plain_meta(meta or {}, target),
    }
    import torch

    with atomic_write(target) as tmp:
        torch.save(payload, tmp)
    return target


def _unwrap(model: Any) -> Any:
    from edgeslim.models._nets import Normalized

    return model.model if isinstance(model, Normalized) else model


def _plain_meta(meta: dict[str, Any], target: Path) -> dict[str, Any]:
    """``meta`` as plain JSON values (tuples become lists); ModelError naming a bad key."""
    for key, value in meta.items():
        if not isinstance(key, str):
            raise ModelError(f"checkpoint {target}: meta keys must be strings; got {key!r}")
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError):
            raise ModelError(
                f"checkpoint {target}: meta[{key!r}] is not a JSON value (got "
                f"{type(value).__name__}); use str, int, float, bool, None, lists or dicts"
            ) from None
    return json.loads(json.dumps(meta))  # type: ignore[no-any-return]


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` and rebuild its model.

    Raises ModelError naming the file for a missing file, a file that is not a torch archive or
    is corrupt, a torch file that is not an edgeslim checkpoint, and weights that do not fit the
    stored config.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"checkpoint {p} does not exist")
    payload = _read(p)
    try:
        config = config_from_dict(dict(payload["config"]))
        spec = DataSpec.from_dict(payload["spec"])
        norm = Normalization.from_dict(payload["normalization"])
    except EdgeslimError as exc:
        raise ModelError(f"checkpoint {p}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"checkpoint {p} has a malformed header ({exc!r})") from None
    model = build_model(config, spec)
    _load_state(model, payload["state_dict"], p, config.kind)
    model.eval()
    meta = payload["meta"] if isinstance(payload["meta"], dict) else {}
    return Checkpoint(model=model, config=config, spec=spec, normalization=norm, meta=meta, path=p)


def _read(p: Path) -> dict[str, Any]:
    import torch

    if _is_torchscript(p):
        raise ModelError(f"{p} is a TorchScript archive, not an edgeslim checkpoint")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):
            raise ModelError(f"checkpoint {p} is corrupt or not a torch file") from None
        raise ModelError(
            f"{p} is not an edgeslim checkpoint: it holds pickled Python objects, and "
            "checkpoints are only read as plain data (weights_only=True)"
        ) from None
    except Exception as exc:  # torch raises many types for damaged files
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise ModelError(
            f"checkpoint {p} is corrupt or not a torch file ({type(exc).__name__}"
            f"{': ' + reason if reason else ''})"
        ) from None
    if not isinstance(payload, dict) or "format" not in payload:
        raise ModelError(f"{p} is not an edgeslim checkpoint (no 'format' tag)")
    tag = payload["format"]
    if tag != FORMAT:
        raise ModelError(f"checkpoint {p} has format {tag!r}; this edgeslim reads {FORMAT!r}")
    for key in _KEYS:
        if key not in payload:
            raise ModelError(f"checkpoint {p} lacks the key {key!r}")
    return payload


def _is_torchscript(p: Path) -> bool:
    try:
        with zipfile.ZipFile(p) as z:
            return any(n.endswith("constants.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _load_state(model: Any, state: Any, p: Path, kind: str) -> None:
    import torch

    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"checkpoint {p}: 'state_dict' must map names to tensors")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:5])}")
        if shapes:
            parts.append(f"shape mismatch {'; '.join(shapes[:5])}")
        raise ModelError(
            f"checkpoint {p}: weights do not fit a {kind} model built from its config "
            f"({'; '.join(parts)})"
        )
    model.load_state_dict(state, strict=True)
