"""Several writers on one store: processes (the search's workers) and threads."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from edgeslim._core import Metric, Provenance
from edgeslim.store import Store, open_store

_WORKER = """
import sys, time
from pathlib import Path
from edgeslim._core import Metric
from edgeslim.store import open_store

url, tag, count, gate = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
with open_store(url) as store:
    (gate / f"ready-{tag}").touch()
    deadline = time.monotonic() + 120
    while not (gate / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(count):
        run = store.create_run("trial", recipe={"worker": tag, "i": i})
        step = store.add_step(run.id, "measure", "eval")
        store.add_metrics(run.id, [Metric("accuracy", i / count, "1", "measured")], step=step)
        store.add_metrics(run.id, [Metric("latency_p50", 1e-3, "s", "measured", tag)])
        store.finish_run(run.id)
"""


def _start_together(store_url: str, count: int, gate: Path) -> list[subprocess.Popen[bytes]]:
    """Start two workers and let them write once both have imported and opened the store."""
    args = [store_url, "", str(count), str(gate)]
    workers = []
    for tag in ("a", "b"):
        args[1] = tag
        workers.append(subprocess.Popen([sys.executable, "-c", _WORKER, *args]))
    deadline = time.monotonic() + 120
    while not all((gate / f"ready-{t}").exists() for t in "ab"):
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers)
        time.sleep(0.01)
    (gate / "go").touch()
    return workers


def test_two_processes_write_to_one_store(store_url: str, tmp_path: Path) -> None:
    count = 25
    workers = _start_together(store_url, count, tmp_path)
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    with open_store(store_url) as store:
        runs = store.list_runs()
        assert len(runs) == 2 * count
        assert {r.name for r in runs} == {"trial"} | {
            f"trial-{k}" for k in range(2, 2 * count + 1)
        }
        assert all(r.n_steps == 1 and r.n_metrics == 2 and r.status == "finished" for r in runs)
        tags = [store.get_run(r.id).recipe["worker"] for r in runs]  # type: ignore[index]
        assert sorted(tags) == ["a"] * count + ["b"] * count


def test_threads_share_one_store(store: Store) -> None:
    run = store.create_run("threads")
    errors: list[BaseException] = []

    def write(tag: int) -> None:
        try:
            for i in range(10):
                step = store.add_step(run.id, "pass", f"t{tag}-{i}")
                metric = Metric("sparsity", i / 10, "1", Provenance.COMPUTED, f"t{tag}")
                store.add_metrics(run.id, [metric], step=step)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = store.get_run(run.id)
    assert [s.index for s in got.steps] == list(range(40))
    assert len(got.metrics) == 40
