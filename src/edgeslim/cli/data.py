"""``edgeslim data``: generate datasets that are built on this machine (``keywords``)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from edgeslim._core.errors import DataError
from edgeslim.cli import _ui
from edgeslim.cli._options import Format, FormatOpt

app = typer.Typer(
    help="Generate datasets built on this machine (cached, never committed).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_PREPARABLE = ("keywords",)


@app.command()
def prepare(
    name: Annotated[str, typer.Argument(help="Dataset to generate: keywords.")],
    seed: Annotated[int, typer.Option("--seed", help="Generation seed.")] = 0,
    words: Annotated[
        str, typer.Option("--words", help="Comma-separated keywords.")
    ] = "yes,no,up,down,left,right,on,off,stop,go",
    n_per_class: Annotated[int, typer.Option("--n-per-class", help="Clips per class.")] = 160,
    n_mels: Annotated[int, typer.Option("--n-mels", help="Mel bands (channels).")] = 16,
    frames: Annotated[int, typer.Option("--frames", help="Frames per clip (steps).")] = 40,
    noise: Annotated[float, typer.Option("--noise", help="Background noise std.")] = 0.05,
    force: Annotated[bool, typer.Option("--force", help="Regenerate even if cached.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Generate a dataset's features into the cache ($EDGESLIM_CACHE or ~/.cache/edgeslim).

    Example: edgeslim data prepare keywords --n-per-class 160
    """
    if name not in _PREPARABLE:
        raise DataError(
            f"dataset {name!r} needs no preparation; preparable: {', '.join(_PREPARABLE)}"
        )
    from edgeslim.data._keywords import prepare as prepare_keywords

    start = time.perf_counter()
    with _ui.progress_sink(fmt is Format.table) as sink:
        task = sink.task(f"speaking {name}", None)
        last = [0]

        def step(done: int, total: int) -> None:
            task.advance(done - last[0])
            last[0] = done

        path = prepare_keywords(
            seed,
            words=words,
            n_per_class=n_per_class,
            n_mels=n_mels,
            frames=frames,
            noise=noise,
            force=force,
            progress=step,
        )
        task.done()
    seconds = time.perf_counter() - start
    import numpy as np

    with np.load(path, allow_pickle=False) as d:
        shape = tuple(int(s) for s in d["x"].shape)
        classes = sorted(set(d["y"].astype(str).tolist()))
    info: dict[str, Any] = {
        "dataset": name,
        "path": str(path),
        "shape": list(shape),
        "classes": classes,
        "seconds": round(seconds, 2),
    }
    if fmt is Format.json:
        _ui.print_json(info)
        return
    _ui.out.print(
        f"{name}: {shape[0]} clips of {shape[1]}x{shape[2]} log-mel, {len(classes)} classes, "
        f"{seconds:.1f} s -> {path}"
    )
